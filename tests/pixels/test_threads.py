"""preprocess's threading policy (anyres.pixels.threads): num_threads and
ANYRES_NUM_THREADS, scoped to the call."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from anyres import preprocess
from anyres.errors import SpecError
from anyres.pixels import fast, resample, threads


def _image() -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, size=(300, 400, 3), dtype=np.uint8))


class _Spy:
    """Records torch's thread count whenever the fast path runs one of torch's resizes
    (one call an axis)."""

    def __init__(self, monkeypatch):
        self.seen: list[int] = []
        real = fast._resize_axis

        def spy(*args, **kwargs):
            self.seen.append(torch.get_num_threads())
            return real(*args, **kwargs)

        monkeypatch.setattr(fast, "_resize_axis", spy)


@pytest.mark.parametrize("exact", [True, False])
def test_one_thread_by_default_and_restored_after(monkeypatch, exact):
    monkeypatch.delenv(threads.ENV_THREADS, raising=False)
    spy = _Spy(monkeypatch)
    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        seen_resample = []
        real = resample.set_threads
        monkeypatch.setattr(resample, "set_threads", lambda n: (seen_resample.append(n), real(n)))
        preprocess([_image()], "llava-next", exact=exact, return_tensors="pt")
        assert torch.get_num_threads() == 2, "the call's thread count leaked out of it"
        assert seen_resample[0] == 1 and resample._threads == seen_resample[-1]
        if not exact:
            assert spy.seen and set(spy.seen) == {1}
    finally:
        torch.set_num_threads(saved)


def test_env_and_argument(monkeypatch):
    monkeypatch.setenv(threads.ENV_THREADS, "2")
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 8)
    assert threads.resolve_threads() == 2
    assert threads.resolve_threads(3) == 3  # the argument wins over the environment
    monkeypatch.setenv(threads.ENV_THREADS, "two")
    with pytest.raises(SpecError, match="ANYRES_NUM_THREADS"):
        threads.resolve_threads()
    for bad in (0, -1, 9, 1.5, True, "2"):
        with pytest.raises(SpecError, match="num_threads"):
            threads.resolve_threads(bad)


def test_views_stay_single_threaded_when_more_are_allowed(monkeypatch):
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 4)
    spy = _Spy(monkeypatch)
    saved = torch.get_num_threads()
    try:
        big = Image.fromarray(np.zeros((1500, 2000, 3), np.uint8))
        preprocess([big], "qwen2-vl", exact=False, num_threads=2, max_pixels=4_000_000)  # one ~3 MP resize
        assert torch.get_num_threads() == saved
        assert spy.seen == [2, 2]  # its two axes
        spy.seen.clear()
        preprocess([big], "llava-next", exact=False, num_threads=2)  # view-sized resizes only
        assert spy.seen and set(spy.seen) == {1}
    finally:
        torch.set_num_threads(saved)


def test_bad_num_threads_is_the_callers_error():
    with pytest.raises(SpecError, match="num_threads"):
        preprocess([_image()], "llava-next", num_threads=0)

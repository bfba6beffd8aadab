"""Worker views through shared memory: the same arrays, no segment left behind."""

from __future__ import annotations

import os

import numpy as np
import pytest

from anyres.pixels import shared_views
from anyres.pixels.shared_views import SharedViews, attach, share

pytestmark = pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="POSIX shared memory at /dev/shm")


def _segments() -> set[str]:
    return set(os.listdir("/dev/shm"))


def test_large_views_round_trip_through_one_segment_that_is_then_gone():
    rng = np.random.default_rng(0)
    hwc = rng.integers(0, 256, size=(700, 600, 4), dtype=np.uint8)
    views = [hwc[:, :, :3].transpose(2, 0, 1), rng.integers(0, 256, size=(3, 448, 448), dtype=np.uint8)]
    before = _segments()
    shared = share(views)
    assert isinstance(shared, SharedViews) and shared.size == sum(v.nbytes for v in views)
    assert len(_segments() - before) == 1  # the worker's segment waits for the caller
    got = attach(shared)
    assert _segments() == before  # unlinked at once; the mapping lives with the arrays
    for g, v in zip(got, views):
        assert g.shape == v.shape and g.flags.c_contiguous and not g.flags.writeable
        assert np.array_equal(g, v)
    del got


def test_small_views_keep_the_pipe(monkeypatch):
    views = [np.zeros((3, 8, 8), dtype=np.uint8)]
    assert share(views) is views
    monkeypatch.setattr(shared_views, "MIN_BYTES", 1)
    shared = share(views)
    assert isinstance(shared, SharedViews)
    shared_views.release(shared)
    shared_views.release(shared)  # twice: nothing left, no error


def test_two_workers_leave_no_segment(tmp_path):
    from PIL import Image

    from anyres.pixels import preprocess

    rng = np.random.default_rng(1)
    paths = []
    for i, (w, h) in enumerate([(1800, 1200), (900, 1500), (640, 480)]):
        p = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)).save(p)
        paths.append(str(p))
    before = _segments()
    one = preprocess(paths, "internvl", output="hf")
    two = preprocess(paths, "internvl", output="hf", num_workers=2)
    assert np.array_equal(np.asarray(one["pixel_values"]), np.asarray(two["pixel_values"]))
    assert _segments() == before


def test_a_caller_that_stops_early_leaves_no_segment(tmp_path):
    from PIL import Image

    from anyres.pixels.render import Job, render_iter

    paths = []
    for i in range(6):  # 12 tiles + a thumbnail of 448^2 each: ~7.8 MB of views, through shared memory
        p = tmp_path / f"{i}.png"
        Image.new("RGB", (2000 + i, 1500)).save(p)
        paths.append(str(p))
    before = _segments()
    results = render_iter([Job(p, "internvl", {}, True, 10**8) for p in paths], 2)
    first = next(results)
    assert sum(v.nbytes for v in first[1]) > shared_views.MIN_BYTES and not first[1][0].flags.writeable
    results.close()  # the rest are rendered, then their segments freed
    assert _segments() == before

"""anyres.pixels.resample equals Pillow's Image.resize bit for bit (Pillow is the oracle)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

pytest.importorskip("numba")

from anyres.pixels import resample  # noqa: E402

FILTERS = [Image.BOX, Image.BILINEAR, Image.HAMMING, Image.BICUBIC, Image.LANCZOS]
CHANNELS = {"L": 1, "RGB": 3, "RGBX": 4, "RGBA": 4}


def pillow(a: np.ndarray, mode: str, size, flt, box=None, gap=None) -> np.ndarray:
    h, w, _ = a.shape
    im = Image.frombytes(mode, (w, h), np.ascontiguousarray(a).tobytes())
    out = np.asarray(im.resize(size, flt, box=box, reducing_gap=gap))
    return out.reshape(out.shape[0], out.shape[1], -1)


def photo_like(rng, h: int, w: int, c: int) -> np.ndarray:
    """Noise over smooth fields, and some flat 0 and 255 areas: ringing filters then
    overshoot both ends (the clip), and alpha 0 and 255 take their own branches."""
    a = rng.integers(0, 256, size=(h, w, c), dtype=np.uint8)
    if h > 4 and w > 4:
        a[: h // 3, : w // 3] = 0
        a[-h // 4 :, -w // 4 :] = 255
    return a


@st.composite
def cases(draw):
    mode = draw(st.sampled_from(["L", "RGB", "RGBX", "RGBA"]))
    w = draw(st.integers(1, 300))
    h = draw(st.integers(1, 300))
    # up- and down-scaling, extreme ratios included
    ow = draw(st.one_of(st.integers(1, 40), st.integers(1, 400)))
    oh = draw(st.one_of(st.integers(1, 40), st.integers(1, 400)))
    flt = draw(st.sampled_from(FILTERS))
    box = None
    if draw(st.booleans()):
        left = draw(st.floats(0, w, allow_nan=False))
        top = draw(st.floats(0, h, allow_nan=False))
        right = draw(st.floats(left, w, allow_nan=False))
        bottom = draw(st.floats(top, h, allow_nan=False))
        if draw(st.booleans()):  # integral corners: Pillow's crop shortcut when the size matches
            left, top, right, bottom = (float(int(v)) for v in (left, top, right, bottom))
        box = (left, top, right, bottom)
    gap = draw(st.one_of(st.none(), st.floats(1.0, 4.0), st.sampled_from([1.0, 2.0, 3.0])))
    layout = draw(st.sampled_from(["contiguous", "crop", "rgb-of-rgbx"]))
    seed = draw(st.integers(0, 2**32 - 1))
    return mode, (w, h), (ow, oh), flt, box, gap, layout, seed


def source(mode: str, size, layout: str, seed: int) -> np.ndarray:
    """The input array in the layout under test: contiguous, a crop of a larger array
    (row stride longer than a row), or RGB read from an RGBX buffer (pixel stride 4)."""
    rng = np.random.default_rng(seed)
    w, h = size
    c = CHANNELS[mode]
    if layout == "crop":
        return photo_like(rng, h + 3, w + 5, c)[2 : 2 + h, 1 : 1 + w]
    if layout == "rgb-of-rgbx" and mode == "RGB":
        return photo_like(rng, h, w, 4)[:, :, :3]
    return photo_like(rng, h, w, c)


@pytest.mark.parametrize("threads", [1, 2])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_equals_pillow(threads, case, monkeypatch_module):
    mode, size, out_size, flt, box, gap, layout, seed = case
    a = source(mode, size, layout, seed)
    try:
        want = pillow(a, mode, out_size, flt, box, gap)
    except ValueError as exc:  # Pillow refuses this box: so must we
        with pytest.raises(ValueError):
            resample.resize(a, out_size, flt, box, gap, mode=mode)
        assert "box" in str(exc) or "reduc" in str(exc)
        return
    resample.set_threads(threads)
    got = resample.resize(a, out_size, flt, box, gap, mode=mode)
    assert got.shape == want.shape and got.dtype == np.uint8
    assert np.array_equal(got, want), f"max difference {np.abs(got.astype(int) - want).max()}"


@pytest.fixture(scope="module")
def monkeypatch_module():
    """Every size runs the parallel kernels when two threads are asked for (the work
    threshold would keep small images on the serial ones)."""
    saved = resample.PARALLEL_MIN_WORK
    resample.PARALLEL_MIN_WORK = 0
    yield
    resample.PARALLEL_MIN_WORK = saved
    resample.set_threads(None)


@pytest.mark.parametrize("flt", [Image.BICUBIC, Image.LANCZOS])
@pytest.mark.parametrize("threads", [1, 2])
def test_large_photo_to_preset_size(flt, threads):
    rng = np.random.default_rng(7)
    small = rng.integers(0, 256, size=(34, 49, 3), dtype=np.uint8)
    im = Image.fromarray(small).resize((3000, 2000), Image.BICUBIC)
    resample.set_threads(threads)
    try:
        got = resample.resize_image(im, (1008, 672), flt)
        box = (10.5, 20.25, 2990.0, 1999.5)
        got_box = resample.resize_image(im, (336, 336), flt, box=box, reducing_gap=2.0)
    finally:
        resample.set_threads(None)
    assert got.mode == "RGB" and np.array_equal(np.asarray(got), np.asarray(im.resize((1008, 672), flt)))
    assert np.array_equal(np.asarray(got_box), np.asarray(im.resize((336, 336), flt, box=box, reducing_gap=2.0)))


def test_same_size_and_unsupported_filters_go_through_pillow():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, size=(20, 30, 3), dtype=np.uint8)
    same = resample.resize(a, (30, 20), Image.BICUBIC)
    assert np.array_equal(same, a) and same is not a
    assert np.array_equal(resample.resize(a, (7, 9), Image.NEAREST), pillow(a, "RGB", (7, 9), Image.NEAREST))
    im = Image.fromarray(a[:, :, 0], "L").convert("P")
    assert resample.resize_image(im, (7, 9), Image.BICUBIC).mode == "P"  # Pillow's own path


def test_bad_arguments_are_refused():
    a = np.zeros((4, 4, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="uint8"):
        resample.resize(a.astype(np.float32), (2, 2))
    with pytest.raises(ValueError, match="channels"):
        resample.resize(a, (2, 2), mode="RGBA")
    with pytest.raises(ValueError, match="reducing_gap"):
        resample.resize(a, (2, 2), reducing_gap=0.5)
    with pytest.raises(ValueError, match="must be > 0"):
        resample.resize(a, (0, 2))


@pytest.mark.parametrize("preset", ["llava-next", "internvl", "idefics3", "s2"])
def test_exact_path_views_are_the_same_with_either_resampler(preset, monkeypatch):
    """The switch in pixels.execute: ANYRES_RESAMPLER=auto (ours) and =pillow render the
    same views, fractional boxes (s2) and Lanczos (idefics3) included, and the fast
    path's Lanczos reduction (reducing_gap=3) too."""
    import anyres
    from anyres.pixels import execute

    rng = np.random.default_rng(3)
    small = rng.integers(0, 256, size=(13, 17, 3), dtype=np.uint8)
    im = Image.fromarray(small).resize((1203, 907), Image.BICUBIC)
    p = anyres.plan(im, preset)
    views = {}
    for name in ("pillow", "auto"):
        monkeypatch.setattr(execute, "RESAMPLER", name)
        views[name] = [np.asarray(v) for v in execute.render_views(im, p)]
        views[name] += [np.asarray(v) for v in execute.render_views(im, p, reducing_gap=3.0)]
    assert len(views["auto"]) == len(views["pillow"])
    for a, b in zip(views["auto"], views["pillow"]):
        assert a.shape == b.shape and np.array_equal(a, b)


def test_unknown_resampler_is_refused(monkeypatch):
    from anyres.errors import SpecError
    from anyres.pixels import execute

    monkeypatch.setattr(execute, "RESAMPLER", "fast")
    with pytest.raises(SpecError, match="ANYRES_RESAMPLER"):
        execute.resize(Image.new("RGB", (4, 4)), (2, 2), Image.BICUBIC)

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
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
    if mode == "RGB":  # the kernels' own RGBX output (3-byte pixels read as they are), when they write one
        wide = resample.resize(a, out_size, flt, box, gap, mode=mode, rgbx=True)
        assert wide.shape[:2] == want.shape[:2] and wide.shape[2] in (3, 4)
        assert np.array_equal(wide[:, :, :3], want)


@pytest.fixture(scope="module")
def monkeypatch_module():
    """Every size runs the parallel kernels when two threads are asked for (the work
    threshold would keep small images on the serial ones)."""
    saved = resample.PARALLEL_MIN_WORK
    resample.PARALLEL_MIN_WORK = 0
    saved_threads = resample._threads
    yield
    resample.PARALLEL_MIN_WORK = saved
    resample.set_threads(saved_threads)


@pytest.mark.parametrize("flt", [Image.BICUBIC, Image.LANCZOS])
@pytest.mark.parametrize("threads", [1, 2])
def test_large_photo_to_preset_size(flt, threads):
    rng = np.random.default_rng(7)
    small = rng.integers(0, 256, size=(34, 49, 3), dtype=np.uint8)
    im = Image.fromarray(small).resize((3000, 2000), Image.BICUBIC)
    resample.set_threads(threads)
    saved = resample._threads
    try:
        got = resample.resize_image(im, (1008, 672), flt)
        box = (10.5, 20.25, 2990.0, 1999.5)
        got_box = resample.resize_image(im, (336, 336), flt, box=box, reducing_gap=2.0)
    finally:
        resample.set_threads(saved)
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


def _child_resize(args):
    a, size = args
    resample.set_threads(2)
    return resample.resize(a, size, Image.LANCZOS)


def test_forked_child_of_a_parallel_parent_resizes(monkeypatch_module):
    """GNU OpenMP aborts a forked child that enters a parallel region of its parent's
    thread pool: after the parent ran the parallel kernels, a child (a DataLoader or
    ProcessPool worker) must run the serial ones and give the same pixels."""
    import multiprocessing as mp

    if "fork" not in mp.get_all_start_methods():
        pytest.skip("no fork on this platform")
    a = photo_like(np.random.default_rng(5), 120, 160, 3)
    saved = resample._threads
    resample.set_threads(2)
    try:
        parent = resample.resize(a, (50, 40), Image.LANCZOS)
    finally:
        resample.set_threads(saved)
    with mp.get_context("fork").Pool(1) as pool:
        child = pool.map_async(_child_resize, [(a, (50, 40))]).get(timeout=60)[0]  # a hang fails
    assert np.array_equal(child, parent)
    assert np.array_equal(parent, pillow(a, "RGB", (50, 40), Image.LANCZOS))


@pytest.mark.parametrize("flt", [Image.BILINEAR, Image.LANCZOS])
def test_unaligned_rgbx_buffer_takes_the_bytewise_kernel(flt):
    """A 4-channel buffer that does not start on a 4-byte boundary cannot be read as
    uint32 words: the horizontal pass then runs the byte-wise 8-lane kernel."""
    rng = np.random.default_rng(11)
    h, w = 37, 91
    raw = rng.integers(0, 256, size=1 + h * w * 4, dtype=np.uint8).tobytes()
    a = np.frombuffer(raw, dtype=np.uint8, offset=1).reshape(h, w, 4)
    assert a.ctypes.data % 4 != 0
    for size in [(30, 20), (150, 11)]:
        assert np.array_equal(resample.resize(a, size, flt, mode="RGBX"), pillow(a, "RGBX", size, flt))


@pytest.fixture
def small_pillow_blocks():
    """Pillow allocates new images in 8 KB blocks: every image of a few hundred pixels
    a side is held in several blocks, as a user's 12 MP photo is in 16 MB ones."""
    old = Image.core.get_block_size()
    Image.core.set_block_size(8192)
    yield
    Image.core.set_block_size(old)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    w=st.integers(1, 300),
    h=st.integers(1, 300),
    ow=st.integers(1, 400),
    oh=st.integers(1, 400),
    flt=st.sampled_from(FILTERS),
    keep=st.sampled_from(["none", "width", "height"]),
    boxed=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_images_in_several_blocks_are_read_in_place(small_pillow_blocks, monkeypatch, w, h, ow, oh, flt, keep, boxed, seed):
    """A PIL image held in several blocks is resized from its blocks (``row_runs``),
    never copied into one first, and gives Pillow's pixels: both pass orders, a pass
    alone, windows straddling two blocks, fractional boxes."""
    from anyres.image import memory

    rng = np.random.default_rng(seed)
    im = Image.fromarray(photo_like(rng, h, w, 3))
    runs = memory.row_runs(im)
    assert runs is not None and sum(a.shape[0] for _, a in runs) == h
    assert [r0 for r0, _ in runs] == sorted(r0 for r0, _ in runs)
    if w * 4 * 3 > 8192:
        assert len(runs) > 1 and not memory.exportable(im)
    size = (w if keep == "width" else ow, h if keep == "height" else oh)
    box = None
    if boxed:
        x0, y0 = rng.uniform(0, w / 2), rng.uniform(0, h / 2)
        box = (x0, y0, rng.uniform(x0, w), rng.uniform(y0, h))

    def no_copy(image):
        raise AssertionError("the image was copied into one block")

    if len(runs) > 1:
        monkeypatch.setattr(memory, "one_block", no_copy)
    got = np.asarray(resample.resize_image(im, size, flt, box=box))
    assert np.array_equal(got, np.asarray(im.resize(size, flt, box=box)))


def test_row_runs_refuses_what_it_cannot_verify(small_pillow_blocks):
    from anyres.image import memory

    assert memory.row_runs(Image.new("P", (50, 50))) is None  # a palette: not plain pixels
    im = Image.fromarray(np.arange(300 * 200 * 3, dtype=np.uint32).astype(np.uint8).reshape(200, 300, 3))
    runs = memory.row_runs(im)
    whole = np.concatenate([a for _, a in runs])[:, :, :3]
    assert np.array_equal(whole, np.asarray(im))
    assert memory._same_pixels(im, runs)
    runs[0][1].flags.writeable = True  # a deliberately wrong reading is caught by the pixel check
    wrong = [(r0, a[::-1]) for r0, a in runs]
    assert not memory._same_pixels(im, wrong)

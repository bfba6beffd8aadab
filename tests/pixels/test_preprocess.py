"""preprocess: the shape-grouped batch, packing, the fast path."""

from __future__ import annotations

import io

import numpy as np
import pytest

import anyres
from anyres import SpecError
from anyres.pixels import preprocess, render_views
from anyres.image.memory import planar
from anyres.pixels.fast import render_views_fast
from anyres.pixels.render import Job, render_one

from .test_hf_parity import make_image
from ..tolerance import assert_close_rel


def test_anyres_batch_groups_views_by_shape():
    images = [make_image(1000, 600, 0), make_image(300, 900, 1), make_image(50, 40, 2)]
    batch = preprocess(images, "minicpm-v")
    assert [len(v) for v in batch.views] == [len(p.views) for p in batch.plans]
    seen = set()
    for (h, w), group in batch.groups.items():
        assert group.pixel_values.shape[1:] == (3, h, w)
        assert group.pixel_values.shape[0] == len(group.index)
        for row, (i, j) in enumerate(group.index):
            assert batch.plans[i].views[j].size == anyres.Size(w, h)
            assert np.array_equal(group.pixel_values[row], batch.views[i][j])
            seen.add((i, j))
    assert len(seen) == sum(len(p.views) for p in batch.plans)


def test_views_follow_the_plan_and_normalisation():
    im = make_image(777, 333, 3)
    batch = preprocess([im], "internvl")
    p = batch.plans[0]
    raw = render_views(im, p)
    mean, std = np.array(anyres.get_preset("internvl").pixels.mean), np.array(anyres.get_preset("internvl").pixels.std)
    for v, pil, arr in zip(p.views, raw, batch.views[0]):
        assert pil.size == (v.size.width, v.size.height)
        expect = (np.asarray(pil).astype(np.float64) / 255 - mean) / std
        # float32 normalisation vs the float64 formula: a few roundings of values up to ~2.7
        assert_close_rel(arr.transpose(1, 2, 0), expect, ulps=8, what="normalised view")


def test_padding_uses_the_reference_fill():
    im = make_image(1000, 200, 4)
    (view,) = render_views(im, anyres.plan(im, "fixed-pad"))
    assert view.getpixel((168, 2)) == (122, 116, 104)  # int(CLIP mean * 255), LLaVA-1.5
    views = render_views(im, anyres.plan(im, "llava-next"))
    tiles = [np.asarray(v) for v in views[1:]]
    assert any((t[:3] == 0).all() for t in tiles)  # LLaVA-NeXT pads with black


def test_packed_qwen2_vl_matches_hf_layout():
    images = [make_image(640, 480, 5), make_image(300, 1000, 6)]
    packed = preprocess(images, "qwen2-vl", output="packed")
    hf = preprocess(images, "qwen2-vl", output="hf")
    assert np.array_equal(packed.patches, hf["pixel_values"])
    assert np.array_equal(packed.grid_thw, hf["image_grid_thw"])
    lengths = (hf["image_grid_thw"][:, 1] * hf["image_grid_thw"][:, 2]).tolist()
    assert packed.cu_seqlens.tolist() == [0, lengths[0], lengths[0] + lengths[1]]
    # positions: image index, then (row, col) with every 2x2 merge group contiguous
    assert packed.positions.shape == (sum(lengths), 4)
    assert packed.positions[:4, 2:].tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert set(packed.positions[: lengths[0], 0].tolist()) == {0}
    gh, gw = hf["image_grid_thw"][1, 1:]
    assert packed.positions[lengths[0]:, 2].max() == gh - 1 and packed.positions[lengths[0]:, 3].max() == gw - 1


def test_packed_any_preset_with_whole_patches():
    packed = preprocess([make_image(900, 500, 7)], "internvl", output="packed", return_tensors="pt")
    p = packed.plans[0]
    assert packed.grid_thw.shape[0] == len(p.views)
    assert int(packed.cu_seqlens[-1]) == len(p.views) * 32 * 32
    with pytest.raises(SpecError, match="cannot pack"):
        preprocess([make_image(900, 500, 7)], "gpt4v", output="packed")


def test_fast_path_is_within_one_level():
    rng = np.random.default_rng(0)
    from PIL import Image

    small = rng.integers(0, 255, size=(40, 50, 3)).astype(np.uint8)
    natural = Image.fromarray(small).resize((2000, 1600), Image.BICUBIC)
    for preset in ["llava-next", "qwen2-vl", "internvl", "fixed-pad"]:
        p = anyres.plan(natural, preset)
        for a, b in zip(render_views(natural, p), render_views_fast(natural, p)):
            d = np.abs(planar(a).astype(int) - b.astype(int))
            assert d.max() <= 2 and (d > 1).mean() < 1e-3, (preset, d.max())


@pytest.mark.parametrize("blocks", [1, 4])
def test_fast_path_on_tall_images_keeps_pillows_pass_order(blocks):
    """Canvases whose height shrinks much more than their width (a 700 x 5000 strip to a
    wide Ovis2 grid, Gemma 3's pan-and-scan crops, an InternVL column) are resized height
    first as Pillow does, in one block or read from several in place; within the fast
    path's bound of the exact views."""
    from PIL import Image

    from anyres.image import memory
    from anyres.pixels.resample import horizontal_first

    rng = np.random.default_rng(1)
    small = rng.integers(0, 255, size=(100, 14, 3)).astype(np.uint8)
    tall = Image.fromarray(small).resize((700, 5000), Image.BICUBIC)
    if blocks > 1:
        old = Image.core.get_block_size()
        Image.core.set_block_size(4096 * 900)  # 1316 rows a block
        try:
            tall = tall.copy()
        finally:
            Image.core.set_block_size(old)
        assert len(memory.row_runs(tall)) == blocks and not memory.exportable(tall)
    for preset in ["ovis2(crop_to_patches=True)", "gemma3(do_pan_and_scan=True)", "internvl"]:
        p = anyres.plan(tall, preset)
        assert any(not horizontal_first(c.source.width, c.source.height, *c.steps[0]) for c in p.canvases), preset
        for a, b in zip(render_views(tall, p), render_views_fast(tall, p)):
            d = np.abs(planar(a).astype(int) - b.astype(int))
            assert d.max() <= 2 and (d > 1).mean() < 1e-3, (preset, d.max())


def test_fast_path_reads_blocks_in_place_only_for_a_strong_height_shrink(monkeypatch):
    """A multi-block tall image: a canvas whose height shrinks IN_PLACE_MIN_SHRINK times
    or more (height first) is resized from the blocks in place by the exact resampler;
    a milder shrink joins the image once and resizes with torch (faster there:
    bench_pixel_choices.py, 3.)."""
    from PIL import Image

    from anyres.image import memory
    from anyres.pixels import fast

    rng = np.random.default_rng(2)
    tall = Image.fromarray(rng.integers(0, 255, size=(100, 14, 3)).astype(np.uint8)).resize((700, 5000))
    old = Image.core.get_block_size()
    Image.core.set_block_size(4096 * 900)
    try:
        tall = tall.copy()
    finally:
        Image.core.set_block_size(old)
    assert len(memory.row_runs(tall)) > 1
    in_place, blockwise = [], []
    real, real_width = fast._from_runs, fast._width_from_runs
    monkeypatch.setattr(fast, "_from_runs", lambda runs, box, step, flt: in_place.append(step) or real(runs, box, step, flt))
    monkeypatch.setattr(fast, "_width_from_runs", lambda *a: blockwise.append(a[1:]) or real_width(*a))
    for spec, strong in [("fixed(size=384)", True), ("fixed(size=[400,2000])", False)]:
        in_place.clear()
        p = anyres.plan(tall, spec)
        (c,) = p.canvases
        assert (c.source.height >= fast.IN_PLACE_MIN_SHRINK * c.steps[0].height) == strong
        views = render_views_fast(tall, p)
        assert bool(in_place) == strong, spec
        assert not blockwise, "a height-first canvas must not run torch's width pass first"
        for a, b in zip(render_views(tall, p), views):
            d = np.abs(planar(a).astype(int) - b.astype(int))
            assert d.max() <= 2 and (d > 1).mean() < 1e-3, (spec, d.max())


def test_fast_path_jpeg_dct_scaling(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(1)
    small = rng.integers(0, 255, size=(30, 40, 3)).astype(np.uint8)
    Image.fromarray(small).resize((4000, 3000), Image.BICUBIC).save(tmp_path / "big.jpg", quality=92)
    from anyres.pixels.fast import dct_scale, load_for_plan

    SPEC = "fixed(size=224)"  # 224 of 3000: shrinks the half-scale decode > DCT_MARGIN (6) times

    decoded, plan = load_for_plan(str(tmp_path / "big.jpg"), SPEC, {})
    assert dct_scale(plan) < 1 and decoded.width < 4000  # the reduced decode did happen
    exact = preprocess([str(tmp_path / "big.jpg")], SPEC)
    fast = preprocess([str(tmp_path / "big.jpg")], SPEC, exact=False)
    assert exact.plans[0] == fast.plans[0]
    for a, b in zip(exact.views[0], fast.views[0]):
        assert a.shape == b.shape
        # normalised units: 1 uint8 level ~ 0.015; DCT scaling adds a little smoothing
        assert np.abs(a - b).mean() < 0.03


def test_bad_arguments():
    with pytest.raises(SpecError):
        preprocess([make_image(10, 10, 0)], "fixed", output="torch")
    with pytest.raises(SpecError):
        preprocess([make_image(10, 10, 0)], "fixed", return_tensors="jax")
    with pytest.raises(SpecError, match="no transformers processor"):
        preprocess([make_image(10, 10, 0)], "minicpm-v", output="hf")


def test_on_error_skip_keeps_the_good_images(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    good = [make_image(300, 200, 8), make_image(50, 400, 9)]
    batch = preprocess([good[0], str(bad), good[1], (5, 5)], "internvl", on_error="skip")
    assert batch.indices == [0, 2]
    assert [i for i, _ in batch.errors] == [1, 3]
    assert all(isinstance(e, anyres.AnyresError) for _, e in batch.errors)
    assert "bad.jpg" in str(batch.errors[0][1])
    with pytest.raises(anyres.ImageError, match="bad.jpg"):
        preprocess([good[0], str(bad)], "internvl")
    with pytest.raises(SpecError, match="on_error"):
        preprocess(good, "internvl", on_error="skip", output="hf")
    with pytest.raises(SpecError, match="at least one image"):
        preprocess([], "internvl")


def test_two_workers_give_the_same_batch_as_one_process(tmp_path):
    paths = []
    for k, (w, h) in enumerate([(640, 480), (300, 900), (1000, 1000), (64, 32)]):
        paths.append(str(tmp_path / f"{k}.png"))
        make_image(w, h, k).save(paths[-1])
    paths.append(str(tmp_path / "missing.png"))
    for exact in (True, False):
        one = preprocess(paths, "llava-next", exact=exact, on_error="skip")
        two = preprocess(paths, "llava-next", exact=exact, on_error="skip", num_workers=2)
        assert one.indices == two.indices == [0, 1, 2, 3] and [i for i, _ in two.errors] == [4]
        assert one.groups.keys() == two.groups.keys()
        for key in one.groups:
            assert np.array_equal(one.groups[key].pixel_values, two.groups[key].pixel_values)


def _use_backend(backend, monkeypatch):
    """Make ``normalize`` run one kernel: the numba look-up, torch's or numpy's arithmetic."""
    from anyres.pixels import normalize

    if backend == "numba":
        assert normalize.lookup_kernels() is not None
        return
    monkeypatch.setattr(normalize, "_LOOKUP", [None])
    if backend == "numpy":
        monkeypatch.setattr(normalize, "_TORCH", [None])
    else:
        assert normalize.torch_backend() is not None


@pytest.mark.parametrize("backend", ["numba", "torch", "numpy"])
def test_normalisation_kernels_agree_with_the_reference_table(backend, monkeypatch):
    from anyres.pixels.normalize import kernel, normalise, normalise_table

    _use_backend(backend, monkeypatch)
    u8 = np.arange(256, dtype=np.uint8)[None, :].repeat(3, 0)
    for name in anyres.presets():
        px = anyres.get_preset(name).pixels
        table = normalise_table(tuple(px.mean), tuple(px.std), px.rescale)
        assert np.array_equal(normalise(u8, px.mean, px.std, px.rescale), table), name
        assert np.array_equal(normalise(u8[:, None, :], px.mean, px.std, px.rescale)[:, 0], table), name
        assert kernel(tuple(px.mean), tuple(px.std), px.rescale) == "arith", name  # the fast kernel applies
    odd = (0.1, 0.2, 0.3), (0.7, 0.11, 0.13), 1 / 256
    assert np.array_equal(normalise(u8, *odd), normalise_table(*odd))  # any constants: table or arithmetic
    assert np.array_equal(normalise(u8[:, None, :], *odd)[:, 0], normalise_table(*odd))


@pytest.mark.parametrize("preset", ["llava-next", "qwen2-vl", "internvl", "idefics3"])
def test_normalisation_backends_give_the_same_bits(preset, monkeypatch):
    """Views, Qwen2-VL patches and channels-last patch rows (strided reads, odd sizes,
    read-only inputs) are the same with every backend, and equal to the reference table
    looked up value by value."""
    from anyres.pixels.normalize import normalise_table, normalise_view
    from anyres.pixels.patches import normalised_patch_rows, normalised_patches

    px = anyres.get_preset(preset).pixels
    table = normalise_table(tuple(px.mean), tuple(px.std), px.rescale)
    rng = np.random.default_rng(3)
    hwc = rng.integers(0, 256, size=(56, 84, 3), dtype=np.uint8)
    views = {"contiguous": np.ascontiguousarray(hwc.transpose(2, 0, 1)), "strided": hwc.transpose(2, 0, 1)}
    ro = views["contiguous"].copy()
    ro.setflags(write=False)
    views["read-only"] = ro
    want = np.stack([table[c][views["contiguous"][c]] for c in range(3)])
    results = {}
    for backend in ("numba", "torch", "numpy"):
        _use_backend(backend, monkeypatch)
        for kind, v in views.items():
            got = normalise_view(v, px.mean, px.std, px.rescale)
            assert np.array_equal(got, want), (backend, kind)
            results[backend, kind] = normalised_patches(v, 14, 2, 2, px.mean, px.std, px.rescale)[0]
            rows = np.empty((4 * 6, 14 * 14 * 3), dtype=np.float32)
            assert normalised_patch_rows(v, 14, px.mean, px.std, px.rescale, rows) == (4, 6)
            patch = want[:, 14:28, 28:42].transpose(1, 2, 0)  # row 1, column 2, channels last
            assert np.array_equal(rows[1 * 6 + 2], patch.reshape(-1)), (backend, kind)
            every = want.reshape(3, 4, 14, 6, 14).transpose(1, 3, 2, 4, 0).reshape(24, -1)
            assert np.array_equal(rows, every), (backend, kind)
            # a view past whole patches (its edge is dropped) and an RGBX one (4 planes read as 3)
            wide = np.concatenate([v, v[:, :, :5]], axis=2)[:, :, :89]
            rgbx = np.concatenate([v, v[:1]])[:3]
            for extra in (np.concatenate([wide, wide[:, :3]], axis=1), rgbx):
                rows[:] = np.nan
                assert normalised_patch_rows(extra, 14, px.mean, px.std, px.rescale, rows) == (4, 6)
                assert np.array_equal(rows, every), (backend, kind)
    first = results["torch", "contiguous"]
    assert all(np.array_equal(r, first) for r in results.values())
    # the patch layout itself: row 0 is the top-left 14x14 patch, both frames
    assert np.array_equal(first[0].reshape(3, 2, 14, 14)[:, 1], want[:, :14, :14])
    assert np.array_equal(first[1].reshape(3, 2, 14, 14)[:, 0], want[:, :14, 14:28])


@pytest.mark.parametrize("patch,merge,temporal", [(14, 2, 2), (16, 2, 2), (14, 1, 1), (8, 3, 3), (16, 1, 2)])
def test_patch_matrix_layout_every_backend(patch, merge, temporal, monkeypatch):
    """The patch matrix from the flat-index look-up kernel equals one built by plain numpy
    indexing (patch i in merge-group order; each row (C, T, p, p), every frame the image),
    for strided and contiguous views, and into an ``out`` that is not contiguous."""
    from anyres.pixels.normalize import normalise_table
    from anyres.pixels.patches import normalised_patches

    mean, std, scale = (0.48, 0.45, 0.40), (0.26, 0.26, 0.27), 1 / 255
    table = normalise_table(mean, std, scale)
    rng = np.random.default_rng(patch * merge + temporal)
    gh, gw = 2 * merge, 3 * merge
    hwc4 = rng.integers(0, 256, size=(gh * patch, gw * patch, 4), dtype=np.uint8)
    src = hwc4[:, :, :3].transpose(2, 0, 1)
    norm = np.stack([table[c][src[c]] for c in range(3)])
    want = []
    for a in range(gh // merge):
        for b in range(gw // merge):
            for i in range(merge):
                for j in range(merge):
                    y, x = (a * merge + i) * patch, (b * merge + j) * patch
                    block = norm[:, y : y + patch, x : x + patch]
                    want.append(np.repeat(block[:, None], temporal, axis=1).reshape(-1))
    want = np.stack(want)
    for backend in ("numba", "torch", "numpy"):
        _use_backend(backend, monkeypatch)
        for view in (src, np.ascontiguousarray(src)):
            got, rows, cols = normalised_patches(view, patch, merge, temporal, mean, std, scale)
            assert (rows, cols) == (gh, gw) and np.array_equal(got, want), backend
            wide = np.zeros((want.shape[0], want.shape[1] * 2), dtype=np.float32)
            into = wide[:, ::2]  # not contiguous: the kernels must write through it
            assert normalised_patches(view, patch, merge, temporal, mean, std, scale, out=into)[0] is into
            assert np.array_equal(into, want) and not wide[:, 1::2].any(), backend


def test_fast_path_keeps_fractional_boxes_and_lanczos_exact():
    im = make_image(1001, 703, 10)
    p = anyres.plan(im, "s2")  # centre crop at a fractional source box
    assert any(not float(v).is_integer() for c in p.canvases for v in c.source)
    for a, b in zip(render_views(im, p), render_views_fast(im, p)):
        assert np.abs(planar(a).astype(int) - b.astype(int)).max() <= 1
    q = anyres.plan(im, "idefics3")  # Lanczos: Pillow, exact below 3x reduction
    for a, b in zip(render_views(im, q), render_views_fast(im, q)):
        assert np.array_equal(planar(a), b)


def _late_exif_png(im, orientation: int) -> bytes:
    """A PNG whose eXIf chunk (EXIF orientation) comes after the pixel data, which
    Pillow only finds by decoding the image."""
    import io
    import struct
    import zlib

    from PIL import Image

    buf = io.BytesIO()
    im.save(buf, "PNG")
    data = buf.getvalue()
    exif = Image.Exif()
    exif[0x0112] = orientation
    raw = exif.tobytes()
    raw = raw[6:] if raw.startswith(b"Exif\x00\x00") else raw
    chunk = struct.pack(">I", len(raw)) + b"eXIf" + raw + struct.pack(">I", zlib.crc32(b"eXIf" + raw))
    end = data.rindex(b"IEND") - 4
    return data[:end] + chunk + data[end:]


@pytest.mark.parametrize("output", ["anyres", "hf", "packed"])
def test_workers_fill_the_output_as_images_arrive(tmp_path, output, monkeypatch):
    """With every plan known from the headers (a late PNG eXIf included), the output is
    laid out first and filled as the workers deliver (no second pass over the views); a
    worker plan that differs from the header's or a refusal found only when decoding (a
    truncated JPEG) lays out again from what came back. Every way gives the values of
    one process."""
    import io

    import anyres.pixels.outputs as pixels_mod  # where the second pass over the views happens

    preset = "qwen2-vl" if output == "packed" else "llava-next"
    sources = []
    for k, (w, h) in enumerate([(640, 480), (300, 900), (1000, 1000), (64, 32)]):
        sources.append(str(tmp_path / f"{k}.png"))
        make_image(w, h, k).save(sources[-1])
    buf = io.BytesIO()
    make_image(500, 300, 7).save(buf, "JPEG", quality=90)
    sources.append(buf.getvalue())  # bytes
    calls = []
    real = pixels_mod.fill_all
    monkeypatch.setattr(pixels_mod, "fill_all", lambda *a: (calls.append(1), real(*a)))

    def both(srcs, **kw):
        calls.clear()
        two = preprocess(srcs, preset, output=output, num_workers=2, exact=False, **kw)
        streamed = not calls
        return preprocess(srcs, preset, output=output, exact=False, **kw), two, streamed

    def same(a, b):
        if output == "hf":
            assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
        elif output == "packed":
            assert a.plans == b.plans and a.indices == b.indices
            assert np.array_equal(a.patches, b.patches) and np.array_equal(a.positions, b.positions)
        else:
            assert a.plans == b.plans and a.indices == b.indices and a.groups.keys() == b.groups.keys()
            assert all(np.array_equal(a.groups[k].pixel_values, b.groups[k].pixel_values) for k in a.groups)

    one, two, streamed = both(sources)
    assert streamed
    same(one, two)
    late = _late_exif_png(make_image(400, 200, 11), 6)
    one, two, streamed = both(sources + [late])
    assert streamed  # the late eXIf is found from the chunk headers: the header's plan is the worker's
    same(one, two)
    assert one["image_sizes"][-1].tolist() == [400, 200] if output == "hf" else one.plans[-1].image == (200, 400)
    # a header plan that the worker's differs from (say the file changed in between)
    import anyres.pixels.render as render_mod

    real_ahead = render_mod.plan_ahead

    def stale(job):
        p = real_ahead(job)
        if job.source is not late or p is None:
            return p
        return anyres.plan((p.image.height, p.image.width), job.spec, **job.overrides)

    monkeypatch.setattr(render_mod, "plan_ahead", stale)
    one, two, streamed = both(sources + [late])
    assert not streamed
    same(one, two)
    monkeypatch.setattr(render_mod, "plan_ahead", real_ahead)
    if output != "hf":
        truncated = buf.getvalue()[: len(buf.getvalue()) // 2]
        one, two, streamed = both(sources + [truncated], on_error="skip")
        assert not streamed and [i for i, _ in two.errors] == [len(sources)]
        same(one, two)


def test_fast_path_jpeg_text_keeps_the_documented_bound():
    """A JPEG text page (issue 14): DCT-scaled decoding is used only where the text
    edges stay within 2 levels, more than one level on at most 0.01% of values."""
    from PIL import Image, ImageDraw

    page = Image.new("RGB", (3000, 2000), "white")
    draw = ImageDraw.Draw(page)
    for y in range(20, 1980, 22):
        draw.text((30, y), "lorem ipsum dolor sit amet consectetur adipiscing " * 8, fill="black")
    buf = io.BytesIO()
    page.save(buf, "JPEG", quality=90)
    for spec in ["llava-next", "fixed"]:
        exact = render_one(Job(buf.getvalue(), spec, {}, True, 10**8))
        fast = render_one(Job(buf.getvalue(), spec, {}, False, 10**8))
        d = np.concatenate([np.abs(a.astype(int) - b.astype(int)).ravel() for a, b in zip(exact[1], fast[1])])
        assert d.max() <= 2 and (d > 1).mean() <= 1e-4, (spec, d.max(), (d > 1).mean())


@pytest.mark.parametrize("exact", [True, False])
def test_images_in_several_blocks_give_the_pixels_of_one_block(exact, monkeypatch):
    """A user's PIL image that Pillow holds in several blocks (every image over 16 MB
    made before anything raised the block size; here 8 KB blocks) gives exactly the
    pixels of the same image in one block, on both paths, and is never copied into a new
    Pillow block (the slow copy): the exact path reads the blocks in place, the fast path
    resizes their rows block by block (width-first canvases) or joins them once into
    numpy memory."""
    from PIL import Image

    from anyres.image import memory

    rng = np.random.default_rng(5)
    a = rng.integers(0, 256, (41, 33, 3), dtype=np.uint8)
    whole = Image.fromarray(a).resize((700, 500), Image.BICUBIC)
    assert memory.exportable(whole)
    old = Image.core.get_block_size()
    Image.core.set_block_size(8192)
    try:
        split = whole.copy()  # the views made later are one block, as a 16 MB block holds them
    finally:
        Image.core.set_block_size(old)
    assert not memory.exportable(split) and len(memory.row_runs(split)) > 1
    want = {p: preprocess([whole], p, output="hf", exact=exact) for p in ("qwen2-vl", "llava-next", "internvl")}

    def no_copy(image):
        raise AssertionError("the image was copied into one block")

    monkeypatch.setattr(memory, "one_block", no_copy)
    from anyres.pixels import fast

    blockwise = []
    real = fast._width_from_runs
    monkeypatch.setattr(fast, "_width_from_runs", lambda *a: blockwise.append(a[1:]) or real(*a))
    for p, w in want.items():
        got = preprocess([split], p, output="hf", exact=exact)
        assert np.array_equal(np.asarray(got["pixel_values"]), np.asarray(w["pixel_values"])), p
    assert bool(blockwise) != exact  # the fast path's width-first canvases ran block by block

"""Both pixel paths read RGB uint8 arrays and tensors in place (``image.arrays.RGBArray``)
and give exactly what they give for the same pixels as a PIL image."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

import anyres
from anyres.errors import ImageError
from anyres.image.arrays import RGBArray, rgb_array
from anyres.pixels import preprocess
from anyres.pixels.fast import load_for_plan

torch = pytest.importorskip("torch")

# every preset with a transformers processor, and the options that change its geometry
SPECS = sorted(set(anyres.presets()) - {"budget"}) + ["gemma3(do_pan_and_scan=True)", "ovis2(crop_to_patches=True)"]


def _pixels(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(h // 8 + 2, w // 8 + 2, 3), dtype=np.uint8)
    smooth = np.asarray(Image.fromarray(small).resize((w, h), Image.BICUBIC)).astype(np.int16)
    return np.clip(smooth + rng.integers(-20, 20, size=(h, w, 3)), 0, 255).astype(np.uint8)


def _layouts(a: np.ndarray) -> dict:
    padded = np.zeros((a.shape[0] + 3, a.shape[1] + 5, 3), dtype=np.uint8)
    padded[1:-2, 2:-3] = a
    read_only = a.copy()
    read_only.flags.writeable = False
    return {
        "hwc": a,
        "hwc read-only": read_only,
        "chw": np.ascontiguousarray(a.transpose(2, 0, 1)),
        "crop of a larger array": padded[1:-2, 2:-3],
        "every other column": np.repeat(a, 2, axis=1)[:, ::2],
        "torch chw": torch.from_numpy(a.copy()).permute(2, 0, 1).contiguous(),
        "torch hwc": torch.from_numpy(a.copy()),
    }


@pytest.mark.parametrize("exact", [False, True], ids=["fast", "exact"])
@pytest.mark.parametrize("spec", SPECS)
def test_arrays_and_tensors_give_the_pil_images_views(spec, exact):
    for h, w, seed in ((229, 331, 0), (700, 90, 1), (1, 97, 2)):
        a = _pixels(h, w, seed)
        want = preprocess([Image.fromarray(a)], spec, output="anyres", exact=exact)
        for name, source in _layouts(a).items():
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # torch's note on a read-only array is not passed on
                got = preprocess([source], spec, output="anyres", exact=exact)
            assert [p.to_dict() for p in got.plans] == [p.to_dict() for p in want.plans], (spec, name)
            assert list(got.groups) == list(want.groups)
            for g, e in zip(got.groups.values(), want.groups.values()):
                assert np.array_equal(np.asarray(g.pixel_values), np.asarray(e.pixel_values)), (spec, name, (h, w))


def test_exact_views_of_an_array_equal_pillows_own(monkeypatch):
    """The exact path on an array (its resizes read the array) against Pillow's own resize
    of the same pixels (``ANYRES_RESAMPLER=pillow``), through crops, padding, fractional
    boxes and direct views."""
    from anyres.pixels import execute
    from anyres.pixels.execute import render_views
    from anyres.pixels.render import array_and_plan

    a = _pixels(301, 457, 6)
    for spec in ("llava-next", "llava-onevision", "internvl", "idefics3", "mllama", "qwen2-vl", "aria", "s2", "fixed-crop",
                 "gpt4v", "llava-uhd", "minicpm-v"):
        image, plan = array_and_plan(a, spec, {}, 10**9)
        assert isinstance(image, RGBArray)
        ours = [np.asarray(v) for v in render_views(image, plan)]
        monkeypatch.setattr(execute, "RESAMPLER", "pillow")
        pillows = [np.asarray(v) for v in render_views(Image.fromarray(a), plan)]
        monkeypatch.setattr(execute, "RESAMPLER", "auto")
        assert len(ours) == len(pillows) and all(np.array_equal(o, p) for o, p in zip(ours, pillows)), spec


def test_crop_past_the_edge_fills_zeros_as_pillow():
    a = _pixels(20, 30, 7)
    for box in ((-3, -2, 10, 12), (25, 15, 35, 25), (0, 0, 30, 20), (40, 40, 45, 44)):
        assert np.array_equal(np.asarray(RGBArray(a).crop(box).pil()), np.asarray(Image.fromarray(a).crop(box))), box


def test_a_uint8_rgb_array_is_read_in_place():
    a = _pixels(64, 48, 3)
    for source in (a, torch.from_numpy(a)):
        image, plan = load_for_plan(source, "llava-next", {})
        assert isinstance(image, RGBArray) and image.size == (48, 64) and tuple(plan.image) == (48, 64)
        assert np.shares_memory(image.hwc, a) and image.interleaved() is image.hwc
    planar = np.ascontiguousarray(a.transpose(2, 0, 1))
    image = rgb_array(planar, "planar")
    assert np.shares_memory(image.hwc, planar)
    rgbx = image.interleaved()  # planes interleaved once, for torch's resize
    assert rgbx.shape == (64, 48, 4) and np.array_equal(rgbx[..., :3], a) and (rgbx[..., 3] == 255).all()
    assert np.array_equal(np.asarray(image.pil()), a) and image.pil() is image.pil()
    assert image.rgbx() is rgbx  # made once for all of a plan's canvases


@pytest.mark.parametrize("source", [
    np.zeros((8, 8), np.uint8),  # grayscale
    np.zeros((8, 8, 4), np.uint8),  # RGBA: composited by load_image
    np.zeros((8, 8, 3), np.float32),  # scaled to 8 bits by load_image
    np.zeros((8, 8, 3), np.uint8)[:, ::-1],  # negative strides: torch cannot read them
    np.zeros((8, 8, 3), np.uint16),
])
def test_other_arrays_go_through_load_image(source):
    assert rgb_array(source, "a") is None
    image, _ = load_for_plan(source, "llava-next", {})
    assert isinstance(image, Image.Image) and image.mode == "RGB" and image.size == (8, 8)


def test_an_array_over_the_pixel_limit_is_refused_before_anything_is_read():
    a = np.zeros((300, 400, 3), np.uint8)
    with pytest.raises(ImageError, match="120,000 pixels exceeds the limit of 1,000"):
        load_for_plan(a, "llava-next", {}, max_pixels=1000)
    batch = preprocess([a, _pixels(40, 40, 4)], "llava-next", exact=False, max_image_pixels=2000, on_error="skip")
    assert len(batch.plans) == 1 and len(batch.errors) == 1 and "limit of 2,000" in str(batch.errors[0][1])


def test_content_planners_still_get_a_pil_image():
    from anyres.plan.strategies import STRATEGIES

    content = [name for name, s in STRATEGIES.items() if s.content is not None]
    specs = [p for p in anyres.presets() if anyres.get_preset(p).strategy in content]
    if not specs:
        pytest.skip("no preset plans from the content")
    image, _ = load_for_plan(_pixels(64, 64, 5), specs[0], {})
    assert isinstance(image, Image.Image)


def test_a_pil_image_is_not_asked_for_its_array_interface(monkeypatch):
    """PIL's ``__array_interface__`` copies the whole image (``tobytes``): the check for an
    array source must not touch it."""
    from anyres.pixels.render import array_and_plan

    image = Image.fromarray(_pixels(32, 32, 8))
    monkeypatch.setattr(Image.Image, "tobytes", lambda *a, **k: pytest.fail("tobytes called"))
    assert array_and_plan(image, "llava-next", {}, 10**8) is None
    for exact in (False, True):
        preprocess([image], "llava-next", exact=exact)

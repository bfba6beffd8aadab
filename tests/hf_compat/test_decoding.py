"""The drop-in decodes as the reference by default (a decoded PIL image's EXIF
orientation is not applied; 16-bit values are clipped by PIL's RGB conversion), and
anyres' own handling on request (apply_exif=True, scale_high_bit_depth=True)."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

pytest.importorskip("transformers")

from PIL import Image, ImageOps  # noqa: E402

from anyres.hf import AnyresImageProcessor  # noqa: E402

from .compare import reference_for, same_output  # noqa: E402


def _with_orientation(w: int, h: int, tag: int) -> Image.Image:
    rng = np.random.default_rng(w * h + tag)
    im = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = tag
    buf = io.BytesIO()
    im.save(buf, format="PNG", exif=exif.tobytes())
    buf.seek(0)
    return Image.open(buf)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def test_exif_orientation_of_a_decoded_image_is_ignored_by_default():
    im = _with_orientation(40, 20, 6)  # rotated 90 degrees for display: 20 x 40
    ours = AnyresImageProcessor("qwen2-vl")
    ref = reference_for(ours)
    got = ours(im, return_tensors="np")
    same_output(got, ref(im, return_tensors="np"), "qwen2-vl exif")
    assert got["image_grid_thw"].tolist() == [[1, 4, 6]]  # the stored 40 x 20, as the reference sees it
    rotated = AnyresImageProcessor("qwen2-vl", apply_exif=True)(im, return_tensors="np")
    assert rotated["image_grid_thw"].tolist() == [[1, 6, 4]]
    same_output(rotated, ref(ImageOps.exif_transpose(im), return_tensors="np"), "qwen2-vl apply_exif")


def test_sixteen_bit_images_are_clipped_as_the_reference_clips_them():
    values = np.linspace(0, 65535, 64 * 48).reshape(48, 64).astype(np.uint16)
    im = Image.fromarray(values)  # mode I;16
    ours = AnyresImageProcessor("llava-onevision")
    same_output(ours(im, return_tensors="np"), reference_for(ours)(im, return_tensors="np"), "I;16")
    clipped = ours(im, return_tensors="np", do_normalize=False, do_rescale=False)["pixel_values"]
    scaled = AnyresImageProcessor("llava-onevision", scale_high_bit_depth=True)(
        im, return_tensors="np", do_normalize=False, do_rescale=False)["pixel_values"]
    # clipping saturates almost every pixel at 255; scaling keeps the ramp (a mean near 127.5)
    assert clipped[0, 0].mean() > 240 and 100 < scaled[0, 0].mean() < 155


def test_options_are_checked_and_saved(tmp_path):
    with pytest.raises(ValueError, match="apply_exif must be True or False"):
        AnyresImageProcessor("qwen2-vl", apply_exif="yes")
    ip = AnyresImageProcessor("qwen2-vl", scale_high_bit_depth=True)
    ip.save_pretrained(tmp_path)
    assert AnyresImageProcessor.from_pretrained(tmp_path).scale_high_bit_depth is True


def test_idefics3_counts_no_patches_without_splitting():
    for preset in ("idefics3", "smolvlm"):
        ours = AnyresImageProcessor(preset, do_image_splitting=False)
        ref = reference_for(ours)
        for h, w in [(300, 200), (1000, 1000), (20, 3000)]:
            assert ours.get_number_of_image_patches(h, w) == ref.get_number_of_image_patches(h, w) == (0, 0, 0)
        on = AnyresImageProcessor(preset)
        assert on.get_number_of_image_patches(1000, 600, {"do_image_splitting": False}) == (0, 0, 0)

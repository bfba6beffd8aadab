"""Pillow images reach numpy without a copy (anyres.image.memory)."""

from __future__ import annotations

import gc

import numpy as np
import pytest
from PIL import Image

from anyres.image.memory import contiguous_images, pixels, planar


def _image(h: int = 300, w: int = 500) -> tuple[Image.Image, np.ndarray]:
    a = np.random.default_rng(0).integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    return Image.fromarray(a), a


def test_pixels_is_a_view_of_the_image_memory():
    contiguous_images()
    im, a = _image(2000, 3000)  # 24 MB as RGBX: more than Pillow's default 16 MB block
    v = pixels(im)
    assert v.shape == a.shape and v.strides == (3000 * 4, 4, 1)  # RGBX, viewed
    assert np.array_equal(v, a)
    x = pixels(im, 4)
    assert x.shape == (2000, 3000, 4) and np.array_equal(x[..., :3], a)
    del im
    gc.collect()
    junk = [np.full((2000, 3000, 4), 7, np.uint8) for _ in range(3)]  # reuse freed memory, if it were freed
    assert np.array_equal(v, a) and np.array_equal(x[..., :3], a), "the view outlived the image's memory"
    del junk


def test_images_pillow_cannot_export_are_copied():
    saved = Image.core.get_block_size()
    Image.core.set_block_size(1 << 16)  # force several blocks
    try:
        im, a = _image()
    finally:
        Image.core.set_block_size(saved)
    with pytest.raises(ValueError):
        im.__arrow_c_array__()
    assert np.array_equal(pixels(im), a)
    four = pixels(im, 4)
    assert four.shape == (300, 500, 4) and np.array_equal(four[..., :3], a) and (four[..., 3] == 255).all()
    grey = Image.new("L", (4, 3), 9)
    assert pixels(grey).shape == (3, 4, 3) and (pixels(grey) == 9).all()


def test_planar_is_a_channel_first_copy():
    im, a = _image(31, 17)
    p = planar(im)
    assert p.shape == (3, 31, 17) and p.flags.c_contiguous and p.flags.writeable
    assert np.array_equal(p, a.transpose(2, 0, 1))

"""The seed's document transform (``fixed(document=True)``) and ``fixed-pad``'s pad colour."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

import anyres
from anyres import SpecError
from anyres.pixels import render_views


def _page(width=90, height=40, seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


@pytest.mark.parametrize("colour, rgb", [("white", (255, 255, 255)), ("black", (0, 0, 0)), ((200, 30, 7), (200, 30, 7)),
                                         ("mean", tuple(int(x * 255) for x in (0.48145466, 0.4578275, 0.40821073)))])
def test_fixed_pad_fills_its_square_with_the_colour_asked_for(colour, rgb):
    image = _page(90, 40)
    spec = f"fixed-pad(size=28, patch_size=14, pad_color={colour!r})"
    (view,) = render_views(image, anyres.plan(image, spec))
    pixels = np.asarray(view)
    # the 90x40 page sits on a 90x90 square: rows 0..24 of 90 are padding, rows 0..6 of 28 in the view
    # are far from the content (bicubic reaches 2 px), so they hold the pad colour exactly
    assert (pixels[:5] == np.array(rgb, dtype=np.uint8)).all()
    assert (pixels[-5:] == np.array(rgb, dtype=np.uint8)).all()


def test_the_default_pad_colour_is_still_the_reference_mean():
    image = _page(90, 40)
    a = np.asarray(render_views(image, anyres.plan(image, "fixed-pad"))[0])
    b = np.asarray(render_views(image, anyres.plan(image, "fixed-pad(pad_color='mean')"))[0])
    assert (a == b).all()


@pytest.mark.parametrize("bad", ["grey", (256, 0, 0), (1, 2), (True, 0, 0), 7])
def test_a_pad_colour_it_cannot_paint_is_a_spec_error(bad):
    with pytest.raises(SpecError, match="pad_color"):
        anyres.plan((90, 40), "fixed-pad", pad_color=bad)


def test_the_document_transform_is_white_square_lanczos_sharpen():
    """The definition, step by step with Pillow: centre on a white square, Lanczos to the
    encoder size, Pillow's SHARPEN filter."""
    image = _page(90, 40)
    made = anyres.plan(image, "fixed(size=56, patch_size=14, document=True)")
    (view,) = render_views(image, made)
    square = Image.new("RGB", (90, 90), (255, 255, 255))
    square.paste(image, (0, 25))
    expected = square.resize((56, 56), Image.LANCZOS, reducing_gap=None).filter(ImageFilter.SHARPEN)
    assert (np.asarray(view) == np.asarray(expected)).all()  # anyres's resampler is Pillow's arithmetic
    assert made.pixels.resample == "lanczos" and made.pixels.sharpen
    assert made.num_tokens == 16  # (56 / 14) ** 2: the transform changes pixels, not tokens


def test_sharpen_is_the_published_kernel():
    """Pillow documents SHARPEN as the 3 x 3 kernel (-2 around, 32 centre) / 16; the
    interior of a sharpened view equals that convolution, rounded and clipped."""
    image = _page(90, 40, seed=3)
    soft = anyres.plan(image, "fixed(size=56, patch_size=14, document=True)")
    from dataclasses import replace

    plain = np.asarray(render_views(image, soft.__class__._assemble({**soft.__dict__,
                                                                       "pixels": replace(soft.pixels, sharpen=False)}))[0])
    sharp = np.asarray(render_views(image, soft)[0]).astype(np.int64)
    x = plain.astype(np.int64)
    conv = 32 * x[1:-1, 1:-1]
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dy or dx:
                conv -= 2 * x[1 + dy:x.shape[0] - 1 + dy, 1 + dx:x.shape[1] - 1 + dx]
    expected = np.clip(np.floor(conv / 16 + 0.5), 0, 255)
    # Pillow's integer filter rounds once at the end: at most one level from the exact quotient
    assert np.abs(sharp[1:-1, 1:-1] - expected).max() <= 1
    assert (sharp != x).any()  # it did sharpen


def test_the_fast_path_keeps_the_sharpen_step():
    from anyres.pixels.fast import render_views_fast

    image = _page(90, 40)
    made = anyres.plan(image, "fixed(size=56, patch_size=14, document=True)")
    fast = render_views_fast(image, made)[0]
    exact = np.asarray(render_views(image, made)[0]).transpose(2, 0, 1)
    assert (fast == exact).all()

"""A padding-free canvas above max_canvas_pixels is never built: each view is
resampled from a crop of the source (anyres.pixels.execute.render_direct)."""

from __future__ import annotations

import numpy as np
from PIL import Image

import anyres
from anyres.pixels.execute import render_canvas, render_views
from anyres.plan import raised_limits
from anyres.plan.schema import direct_views


def _full_crop(image, plan):
    c, v = plan.canvases[0], plan.views[0]
    return np.asarray(render_canvas(image, c, 3, (0, 0, 0)).crop(tuple(int(x) for x in v.crop)), np.int16)


def test_thin_image_view_matches_the_built_canvas():
    ramp = np.linspace(0, 255, 20 * 3000 * 3).reshape(3000, 20, 3).astype(np.uint8)
    image = Image.fromarray(ramp)
    with raised_limits(max_canvas_pixels=1 << 24):  # the 336 x 50400 canvas is above it
        plan = anyres.plan(image, "fixed-crop")
        assert direct_views(plan.canvases[0], plan.views)
        got = np.asarray(render_views(image, plan)[0], np.int16)
    # smooth content: within one uint8 level of the reference's full resize then crop
    # (Pillow's box resampling rounds the box; on noise the difference reaches ~23 levels,
    # which is why only canvases above the limit take this path)
    assert np.abs(got - _full_crop(image, plan)).max() <= 1


def test_default_sizes_keep_the_reference_order():
    plan = anyres.plan((500, 1300), "fixed-crop")
    assert not direct_views(plan.canvases[0], plan.views)


def test_a_one_pixel_wide_image_renders_without_its_canvas():
    image = Image.new("RGB", (1, 20000), (10, 200, 30))
    plan = anyres.plan(image, "fixed-crop")
    assert plan.canvases[0].padded.width * plan.canvases[0].padded.height > 2_000_000_000
    (view,) = render_views(image, plan)
    assert view.size == (336, 336) and view.getpixel((100, 100)) == (10, 200, 30)

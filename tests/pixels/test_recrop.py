"""Resize-then-crop views (``View.recrop``) in the exact and fast pixel paths: the crop
resized to ``recrop.resized``, the ``size`` window cut at (left, top), zeros past the
resized crop. (Their parity with transformers: tests/hf_compat/test_llava_partial_tiles.py.)"""

from __future__ import annotations

import numpy as np
import pytest

import anyres
from anyres.image.memory import planar
from anyres.pixels import render_views
from anyres.pixels.execute import RESAMPLE, render_canvas, resize
from anyres.pixels.fast import render_views_fast
from anyres.plan import raised_limits

from .test_hf_parity import make_image

SPECS = ["llava-next(base_size=18, tile_size=18, resize_side=20)",  # windows inside the resized crop
         "llava-next(base_size=18, tile_size=18, resize_side=15)",  # windows past it: zero padding
         "llava-next(base_size=40, tile_size=40, resize_side=40, image_grid_pinpoints=((100, 130),))"]


def _restated(canvas, view, resample: int):
    """The view from its definition: canvas crop, one resize, then the window on zeros."""
    r = view.recrop
    resized = np.asarray(resize(canvas.crop(tuple(int(v) for v in view.crop)), tuple(r.resized), resample))
    out = np.zeros((view.size.height, view.size.width, 3), np.uint8)
    y0, x0 = max(0, r.top), max(0, r.left)
    y1, x1 = min(resized.shape[0], r.top + view.size.height), min(resized.shape[1], r.left + view.size.width)
    out[y0 - r.top:y1 - r.top, x0 - r.left:x1 - r.left] = resized[y0:y1, x0:x1]
    return out


@pytest.mark.parametrize("spec", SPECS)
def test_recrop_views_exact_and_fast(spec):
    image = make_image(157, 93, 3)
    with raised_limits(max_views=4096):
        plan = anyres.plan(image, spec)
    recropped = [i for i, v in enumerate(plan.views) if v.recrop is not None]
    assert recropped  # the spec makes some
    exact = render_views(image, plan)
    fast = render_views_fast(image, plan)
    flt = RESAMPLE[plan.pixels.resample]
    canvases = [render_canvas(image, c, flt, plan.pixels.mean) for c in plan.canvases]
    for i in recropped[:: max(1, len(recropped) // 25)]:
        v = plan.views[i]
        got = np.asarray(exact[i])
        assert got.shape == (v.size.height, v.size.width, 3)
        assert np.array_equal(got, _restated(canvases[v.canvas], v, flt)), (spec, i, v)
        assert fast[i].shape == (3, v.size.height, v.size.width)
        # two resizes in a row (canvas, then view), each within a level of Pillow's
        assert np.abs(planar(exact[i]).astype(int) - fast[i].astype(int)).max() <= 2, (spec, i)
        if v.recrop.left < 0 or v.recrop.top < 0:  # the window's zero border, in both paths
            border = np.zeros((v.size.height, v.size.width), bool)
            border[: max(0, -v.recrop.top)] = True
            border[:, : max(0, -v.recrop.left)] = True
            assert not got[border].any() and not fast[i][:, border].any()

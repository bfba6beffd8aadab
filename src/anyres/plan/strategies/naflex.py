"""SigLIP2 NaFlex: the image resized to the largest patch grid within ``max_num_patches``.

Mirrors transformers' SigLIP2 image processor (``get_image_size_for_max_num_patches``):
a bisection on one scale factor over [eps/10, 100] until the interval is below eps;
each side is ``ceil(side * scale / patch) * patch``, at least one patch, and the scale
kept is the largest one found whose grid has at most ``max_num_patches`` patches. The
aspect ratio is preserved only up to the rounding of each side to whole patches. The
processor pads the patch sequence to ``max_num_patches`` with a mask; the tokens are
the valid patches only (one a patch, no merge).
"""

from __future__ import annotations

import math
from typing import Any

from ...errors import SpecError
from ..plan import PlanParts
from ..types import Size
from ..schema import Int
from ..knobs import Knob
from .common import Strategy, image_token_layout, make_view, positive_int, resize_canvas, whole


def _scaled(side: int, scale: float, patch: int) -> int:
    return max(patch, math.ceil(side * scale / patch) * patch)


def size_for_max_num_patches(image: Size, patch: int, max_num_patches: int, eps: float = 1e-5) -> Size:
    """The reference's bisection, step for step (its float rounding decides ties)."""
    lo, hi = eps / 10, 100.0
    h, w = image.height, image.width
    while hi - lo >= eps:
        scale = (lo + hi) / 2
        if (_scaled(h, scale, patch) / patch) * (_scaled(w, scale, patch) / patch) <= max_num_patches:
            lo = scale
        else:
            hi = scale
    return Size(_scaled(w, lo, patch), _scaled(h, lo, patch))


def _check(p: dict[str, Any]) -> None:
    positive_int(p, "patch_size", "max_num_patches")
    eps = p["eps"]
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps < 1:
        raise SpecError(f"eps must be a number in (0, 1), got {eps!r}")


def plan_naflex(image: Size, p: dict[str, Any]) -> PlanParts:
    patch = p["patch_size"]
    size = size_for_max_num_patches(image, patch, p["max_num_patches"], p["eps"])
    rows, cols = size.height // patch, size.width // patch
    canvases = [resize_canvas(image, size)]
    view = make_view(canvases, 0, whole(size), None, "base", rows * cols)
    info = {"spatial_shapes": (rows, cols), "resized": size, "padded_patches": p["max_num_patches"]}
    return PlanParts(tuple(canvases), (view,), None, info=info)



def fit_naflex(p: dict[str, Any]) -> Knob:
    """``max_num_patches`` from 1 to the preset's value (the chosen grid never shrinks as
    the patch budget grows)."""
    return Knob("max_num_patches", span=(1, p["max_num_patches"]))

SIGLIP2_NAFLEX = Strategy(
    "naflex",
    plan_naflex,
    image_token_layout,
    {
        "patch_size": 16,
        "max_num_patches": 256,
        "eps": 1e-5,
        "image_token": "<image>",
    },
    "SigLIP2 NaFlex: the largest aspect-preserving patch grid within max_num_patches (bisection on the scale); "
    "one token a valid patch.",
    _check,
    schema={"max_num_patches": Int(1, 1 << 20), "patch_size": Int(1, 1024)},
    fit=fit_naflex,
)

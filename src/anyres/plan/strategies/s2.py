"""S2 multi-scale (Scaling on Scales): every scale cut into split_size sub-images.

The reference takes a square input: LLaVA-S2 CLIP-resizes and centre-crops the image at
the largest scale (``crop=True``); ``crop=False`` stretches the whole image instead.
Each scale s is split into ceil(s/split_size)^2 equal sub-images, encoded as one batch,
stitched, area-interpolated to the smallest scale's feature map and concatenated on
channels: token positions stay those of the smallest scale (views of the larger scales
add channels, not positions, so they count 0 tokens here).
"""

from __future__ import annotations

import math
from typing import Any

from ...errors import SpecError
from ..plan import PlanParts
from ..types import VISUAL, Box, Canvas, Layout, Segment, Size
from ..connector import Connector
from ..knobs import Knob
from .common import Strategy, grid_views, make_view, positive_int
from .fixed import clip_resize
from ..schema import Bool, Cost, Int, Items, Text


def _check(p: dict[str, Any]) -> None:
    positive_int(p, "split_size", "patch_size")
    scales = p["scales"]
    if not scales or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in scales):
        raise SpecError(f"scales must be positive integers, got {scales!r}")
    if list(scales) != sorted(set(scales)):
        raise SpecError(f"scales must be strictly increasing, got {scales!r}")
    for s in scales:
        k = math.ceil(s / p["split_size"])
        if s % k or (s // k) % p["patch_size"]:
            raise SpecError(
                f"scale {s} does not split into {k}x{k} sub-images of whole {p['patch_size']} px patches"
            )


SCHEMA = {
    "scales": Items(Int(), max_items=16),
    "split_size": Int(),
    "patch_size": Int(1, 1024),
    "crop": Bool(),
    "image_token": Text(),
}


def cost_s2(p: dict[str, Any]) -> Cost:
    """Every scale s cut into ceil(s/split)^2 sub-images of its s x s canvas."""
    splits = [math.ceil(s / p["split_size"]) for s in p["scales"]]
    views = sum(k * k for k in splits)
    piece = max((s // k) ** 2 for s, k in zip(p["scales"], splits))
    total = sum(s * s for s in p["scales"])
    return Cost(views, piece, total, max(p["scales"]) ** 2, drivers=("scales", "split_size"))


def plan_s2(image: Size, p: dict[str, Any]) -> PlanParts:
    scales, split, patch = p["scales"], p["split_size"], p["patch_size"]
    if p["crop"]:
        largest = scales[-1]
        resized = clip_resize(image, largest)
        left = int((resized.width - largest) / 2.0) * image.width / resized.width
        top = int((resized.height - largest) / 2.0) * image.height / resized.height
        source = Box(left, top, left + largest * image.width / resized.width, top + largest * image.height / resized.height)
    else:
        source = Box(0, 0, image.width, image.height)
    canvases, views = [], []
    base_tokens = (scales[0] // patch) ** 2
    grid = None
    for level, s in enumerate(scales):
        k = math.ceil(s / split)
        piece = s // k
        canvases.append(Canvas(source, (Size(s, s),), Size(s, s)))
        tokens = base_tokens // (k * k) if level == 0 else 0
        side = piece // patch
        grids = ((side, side), (side, side))  # as connector_s2 says (no tokens: no token grid)
        if k == 1:
            role = "base" if level == 0 else "scale"
            views.append(make_view(canvases, level, Box(0, 0, piece, piece), None, role, tokens, None, level,
                                   grids if tokens else (grids[0], (0, 0))))
        else:
            views += grid_views(canvases, level, k, k, Size(piece, piece), tokens,
                                "tile" if level == 0 else "scale", level, grids)
            grid = (k, k)
    splits = [math.ceil(s / split) for s in scales]
    info = {
        "channels_multiplier": len(scales),
        "feature_map": [scales[0] // patch] * 2,  # token positions: the smallest scale's map
        "splits": splits,  # each scale cut into k x k sub-images, views in that order
    }
    return PlanParts(tuple(canvases), tuple(views), grid, info=info)


def layout_s2(plan) -> Layout:
    """The smallest scale's feature map row-major, as the S2 wrapper stitches it: when
    that scale is split into k x k sub-images, each map row runs across k views."""
    token = plan.params["image_token"]
    first = [i for i, v in enumerate(plan.views) if v.level == 0]
    k = plan.info["splits"][0]
    side = plan.info["feature_map"][0] // k
    if k == 1:
        return Layout((Segment(token, side * side, VISUAL, first[0]),))
    segs = []
    for row in range(k * side):
        for c in range(k):
            segs.append(Segment(token, side, VISUAL, first[(row // side) * k + c]))
    return Layout(tuple(segs))


def connector_s2(p: dict[str, Any], info: dict[str, Any]) -> Connector:
    """Each scale's map resized to the smallest's and concatenated on channels."""
    return Connector("scale-concat", len(p["scales"]), patch_size=p["patch_size"])


def fit_s2(p: dict[str, Any]) -> Knob:
    """The first k of ``scales`` (the coarsest first, as S2 orders them)."""
    scales = tuple(p["scales"])
    return Knob("scales", tuple({"scales": scales[:k]} for k in range(1, len(scales) + 1)))

S2 = Strategy(
    "s2",
    plan_s2,
    layout_s2,
    {"scales": (336, 672, 1008), "split_size": 336, "patch_size": 14, "crop": True, "image_token": "<image>"},
    "S2 multi-scale: each scale split into split_size sub-images; channels concatenated, "
    "token positions of the smallest scale.",
    _check,
    connector=connector_s2,
    schema=SCHEMA,
    cost=cost_s2,
    fit=fit_s2,
)

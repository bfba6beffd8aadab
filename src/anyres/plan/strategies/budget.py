"""The budget planner: the most detail that fits in ``max_tokens``.

What the views are encoded with, explicitly: a ViT with ``patch_size`` 14 that takes
views of any size (2D RoPE, as Qwen2-VL's), followed by a ``k x k`` token merge (the
Qwen2-VL PatchMerger for k = 2; average pooling or pixel unshuffle for k = 3, 4). A
view of w x h pixels (multiples of 14k) costs (w / 14k) * (h / 14k) tokens; k = 4 is
the density of MiniCPM-V's 64-query resampler on 448 px slices, the most compressed
encoding among the presets. No newline or thumbnail tokens.

The search, per merge level k in ``merges`` and per partition of the content into
views, finds the largest scale whose rounded views fit the budget:

- **content box** (when given a PIL image and ``crop=True``): the bounding box of the
  image's ink map (``anyres.plan.content``) plus a margin; blank margins cost nothing.
- **regions** (``regions=True``): the content split into horizontal bands at blank
  gaps tall enough to save more tokens than the extra view's rounding costs; each band
  keeps only its inked columns, so blank gaps and blank sides are never encoded, and no
  view boundary crosses a line of text.
- with only a size, the whole image is one native view (geometry alone).

Scoring: the effective scale of the content (encoder pixels per image pixel along the
coarser axis of the coarsest view, capped at ``max_scale`` since enlarging further adds
no information), then, within ``tolerance`` of the best, the least compression (the
smallest k), then the fewest tokens. Views are never padded, distorted only by the
rounding of their sides to multiples of 14k, and no view cuts through ink.
"""

from __future__ import annotations

import math
from typing import Any

from ...errors import PlanError, SpecError
from ..content import InkMap
from ..plan import PlanParts
from ..types import Box, Canvas, Size
from ..connector import Connector
from .common import Strategy, aspect_limit, image_token_layout, make_view, positive_int
from ..schema import Bool, Cost, Int, Items, Number, Text

MAX_REGIONS = 64  # more bands than this: the content box is planned whole

MAX_VIEW_ASPECT = 100.0  # a region is widened rather than encoded thinner than this


def _side(length: float, unit: int) -> int:
    return max(unit, round(length / unit) * unit)


def view_sizes(boxes: list[Box], scale: float, unit: int) -> list[Size]:
    return [Size(_side(b.width * scale, unit), _side(b.height * scale, unit)) for b in boxes]


def tokens_at(boxes: list[Box], scale: float, unit: int) -> int:
    return sum(s.width * s.height for s in view_sizes(boxes, scale, unit)) // (unit * unit)


def fit(boxes: list[Box], unit: int, budget: int, max_scale: float) -> float | None:
    """The largest scale <= max_scale at which the views fit ``budget`` tokens (token
    counts only grow with the scale), or None when even one token a view is too many."""
    if len(boxes) > budget:
        return None
    if tokens_at(boxes, max_scale, unit) <= budget:
        return max_scale
    lo, hi = 0.0, max_scale
    for _ in range(40):
        mid = (lo + hi) / 2
        if tokens_at(boxes, mid, unit) <= budget:
            lo = mid
        else:
            hi = mid
    return lo


def effective_scale(boxes: list[Box], sizes: list[Size]) -> float:
    return min(min(s.width / b.width, s.height / b.height) for b, s in zip(boxes, sizes))


def _whole(image: Size) -> Box:
    return Box(0, 0, image.width, image.height)


def _integral(box: Box, image: Size) -> Box:
    """Whole pixels, at least one pixel a side, no thinner than MAX_VIEW_ASPECT."""
    left, top = max(0, math.floor(box.left)), max(0, math.floor(box.top))
    right, bottom = min(image.width, math.ceil(box.right)), min(image.height, math.ceil(box.bottom))
    right, bottom = max(right, left + 1), max(bottom, top + 1)
    w, h = right - left, bottom - top
    if w > MAX_VIEW_ASPECT * h:
        grow = min(image.height, math.ceil(w / MAX_VIEW_ASPECT)) - h
        top = max(0, min(top - grow // 2, image.height - h - grow))
        bottom = top + h + grow
    elif h > MAX_VIEW_ASPECT * w:
        grow = min(image.width, math.ceil(h / MAX_VIEW_ASPECT)) - w
        left = max(0, min(left - grow // 2, image.width - w - grow))
        right = left + w + grow
    return Box(left, top, right, bottom)


def regions(ink: InkMap, content: Box, min_gap: float) -> list[Box]:
    """Bands of ``content`` separated by blank row runs of at least ``min_gap`` pixels,
    each narrowed to its inked columns and padded by part of the gaps around it."""
    step = ink.row_step
    first, last = int(content.top / step), min(len(ink.rows), math.ceil(content.bottom / step))
    inked = ink.inked_rows()
    bands: list[list[int]] = []  # [first inked row, last inked row] in profile rows
    gap = 0
    for i in range(first, last):
        if inked[i]:
            if bands and gap * step < min_gap:
                bands[-1][1] = i
            else:
                bands.append([i, i])
            gap = 0
        elif bands:
            gap += 1
    if len(bands) < 2:
        return [content]
    out = []
    for n, (a, b) in enumerate(bands):
        above = (a - bands[n - 1][1] - 1) * step if n else a * step - content.top
        below = (bands[n + 1][0] - b - 1) * step if n + 1 < len(bands) else content.bottom - (b + 1) * step
        pad_above, pad_below = min(max(0.0, above) / 2, 12.0), min(max(0.0, below) / 2, 12.0)
        top, bottom = a * step - pad_above, (b + 1) * step + pad_below
        cols = ink.columns_inked(top, bottom)
        left, right = cols if cols else (content.left, content.right)
        margin = ink.cell_w / 2
        out.append(Box(max(content.left, left - margin), max(content.top, top),
                       min(content.right, right + margin), min(content.bottom, bottom)))
    return out


def _check(p: dict[str, Any]) -> None:
    positive_int(p, "max_tokens", "patch_size")
    merges = p["merges"]
    if not merges or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in merges):
        raise SpecError(f"merges must be positive integers, got {merges!r}")
    if not isinstance(p["max_scale"], (int, float)) or not p["max_scale"] > 0:
        raise SpecError(f"max_scale must be a positive number, got {p['max_scale']!r}")
    if not isinstance(p["tolerance"], (int, float)) or not 0 <= p["tolerance"] < 1:
        raise SpecError(f"tolerance must be in [0, 1), got {p['tolerance']!r}")


SCHEMA = {
    "max_tokens": Int(1, 2**20),
    "patch_size": Int(1, 1024),
    "merges": Items(Int(1, 64), max_items=16),
    "max_scale": Number(0, 64, lo_open=True),
    "tolerance": Number(0, 0.99),
    "crop": Bool(),
    "regions": Bool(),
    "max_aspect_ratio": Number(1, 1e6),
    "image_token": Text(),
}


def cost_budget(p: dict[str, Any]) -> Cost:
    """At most max_tokens merged tokens of (patch * largest merge)^2 pixels, in at most
    MAX_REGIONS views (one without regions)."""
    unit = p["patch_size"] * max(p["merges"])
    total = p["max_tokens"] * unit * unit
    views = MAX_REGIONS if p["regions"] else 1
    return Cost(views, total, total, total, drivers=("max_tokens", "patch_size", "merges"))


def plan_budget(image: Size, p: dict[str, Any], ink: InkMap | None = None) -> PlanParts:
    aspect_limit(image, p["max_aspect_ratio"], "budget")
    budget, patch, cap = p["max_tokens"], p["patch_size"], float(p["max_scale"])
    content = _whole(image)
    if ink is not None and p["crop"]:
        content = ink.box() or content
    content = _integral(content, image)
    candidates = []  # (capped scale, -k, -tokens, k, boxes, scale, label)
    for k in sorted(set(p["merges"])):
        unit = patch * k
        partitions = [("content box" if ink is not None and p["crop"] else "whole image", [content])]
        s0 = fit([content], unit, budget, cap)
        if ink is not None and p["regions"]:
            min_gap = 2 * unit / s0 if s0 else math.inf
            bands = [_integral(b, image) for b in regions(ink, content, min_gap)]
            if 1 < len(bands) <= MAX_REGIONS:
                partitions.append((f"{len(bands)} regions", bands))
        for label, boxes in partitions:
            s = s0 if len(boxes) == 1 else fit(boxes, unit, budget, cap)
            if s is None or s <= 0:
                continue
            sizes = view_sizes(boxes, s, unit)
            eff = effective_scale(boxes, sizes)
            tokens = sum(z.width * z.height for z in sizes) // (unit * unit)
            candidates.append((min(eff, cap), eff, tokens, k, boxes, sizes, label))
    if not candidates:
        raise PlanError(f"budget: image size {image} needs more than max_tokens={budget} tokens for one view")
    best_capped = max(c[0] for c in candidates)
    good = [c for c in candidates if c[0] >= (1 - p["tolerance"]) * best_capped]
    k = min(c[3] for c in good)
    capped, eff, tokens, k, boxes, sizes, label = max(
        (c for c in good if c[3] == k), key=lambda c: (c[0], -c[2])
    )
    canvases, views = [], []
    tiled = len(boxes) > 1
    per_k = {}
    for c in candidates:
        per_k[c[3]] = max(per_k.get(c[3], 0.0), c[1])
    for i, (box, size) in enumerate(zip(boxes, sizes)):
        canvases.append(Canvas(box, (size,), size))
        n = (size.width // (patch * k)) * (size.height // (patch * k))
        grid = (i, 0) if tiled else None
        views.append(make_view(canvases, i, Box(0, 0, size.width, size.height), size,
                               "slice" if tiled else "base", n, grid, 1 if tiled else 0))
    others = ", ".join(f"{m}x{m}: {per_k[m]:.2f}" for m in sorted(per_k) if m != k)
    info = {
        "family": "native",
        "merge": k,
        "scale": round(eff, 4),
        "candidate": f"native {k}x{k} merge, {label}",
        "reason": (
            f"scale {eff:.2f} of the {'content' if ink is not None else 'image'} within {budget} tokens"
            + (f" (cap {cap:g})" if eff >= cap else "")
            + (f"; best scale with other merges {others}" if others else "")
        ),
        "content_box": [round(v, 1) for v in content],
        "content": "ink map" if ink is not None else "geometry only",
        "candidates": len(candidates),
    }
    return PlanParts(tuple(canvases), tuple(views), (len(views), 1) if tiled else None, info=info)


def _ink(image: Any, size: Size) -> InkMap:
    from ..content import ink_map

    return ink_map(image)


def connector_budget(p: dict[str, Any], info: dict[str, Any]) -> Connector:
    """A k x k merge (``info["merge"]``, chosen per image): pooled by the token stage, or
    done by a tower that merges k x k when the planner may only choose that k."""
    merges = tuple(sorted(set(p["merges"])))
    tower = (1,) if len(merges) > 1 or merges == (1,) else (1, merges[0])
    return Connector("pool", info.get("merge", 1), patch_size=p["patch_size"], tower_merges=tower)

BUDGET = Strategy(
    "budget",
    plan_budget,
    image_token_layout,
    {
        "max_tokens": 1152,
        "patch_size": 14,
        "merges": (2, 3, 4),
        "max_scale": 1.5,
        "tolerance": 0.1,
        "crop": True,
        "regions": True,
        "max_aspect_ratio": 200,
        "image_token": "<|image_pad|>",
    },
    "Budget planner: native views (ViT/14 + k x k merge) of the inked content, the most "
    "detail within max_tokens.",
    _check,
    content=_ink,
    schema=SCHEMA,
    cost=cost_budget,
    connector=connector_budget,
    connector_reads_info=True,
)

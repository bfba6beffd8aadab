"""Straightforward restatements of planning code that was rewritten for speed.

Each function here is the planner as it was written before its fast rewrite (the
reference's loops, one view at a time through ``make_view`` / ``grid_views``); the
fast planners must give equal results (``test_fast_paths.py``).
"""

from __future__ import annotations

from typing import Any

from anyres.plan.plan import PlanParts
from anyres.plan.strategies.anyres_tiling import fit_inside, shrink_size, source_cells, unpad_rows_cols
from anyres.plan.strategies.common import grid_views, make_view, resize_canvas, whole
from anyres.plan.strategies.fixed import square_pad_canvas
from anyres.plan.types import Box, Canvas, Size


def select_best_resolution(image: Size, pinpoints_hw) -> tuple[int, int]:
    """transformers' ``select_best_resolution``: every pinpoint in list order, the most
    kept pixels, then the least waste."""
    w, h = image.width, image.height
    best = None
    max_effective = 0
    min_wasted = float("inf")
    for ph, pw in pinpoints_hw:
        scale = min(pw / w, ph / h)
        effective = min(int(w * scale) * int(h * scale), w * h)
        wasted = pw * ph - effective
        if effective > max_effective or (effective == max_effective and wasted < min_wasted):
            max_effective, min_wasted, best = effective, wasted, (ph, pw)
    return best


def owner_counts(start: int, kept: int, out: int, side: int, n: int) -> list[int]:
    """How many of the ``out`` feature rows each of ``n`` tiles owns, row by row."""
    if out == kept:
        return [max(0, min((k + 1) * side, start + kept) - max(k * side, start)) for k in range(n)]
    counts = [0] * n
    for cell in source_cells(start, kept, out):
        counts[cell // side] += 1
    return counts


def plan_anyres(image: Size, p: dict[str, Any]) -> PlanParts:
    base = p["base_size"]
    side = base // p["patch_size"]
    cls = p["cls_tokens"] if p["feature_select_strategy"] == "full" else 0
    if p["multi_image"]:
        canvases = [square_pad_canvas(image)]
        side_px = canvases[0].padded.width
        view = make_view(canvases, 0, Box(0, 0, side_px, side_px), Size(base, base), "base", side * side + cls,
                         grids=((side, side), (side, side)))
        return PlanParts(tuple(canvases), (view,), None, 1 if p["image_newline"] else 0)
    best_h, best_w = select_best_resolution(image, p["image_grid_pinpoints"])
    target = Size(best_w, best_h)
    resized = fit_inside(image, target)
    offset = ((best_w - resized.width) // 2, (best_h - resized.height) // 2)
    rows, cols = best_h // base, best_w // base
    map_h, map_w = rows * side, cols * side
    top, kept_h, left, kept_w = unpad_rows_cols(image, map_h, map_w)
    info: dict[str, Any] = {
        "best_resolution": Size(best_w, best_h),
        "resized": resized,
        "feature_map": [map_h, map_w],
        "unpadded_map": [kept_h, kept_w],
        "unpad_offset": [top, left],
    }
    out_h, out_w = kept_h, kept_w
    if p.get("max_views") is not None:
        out_h, out_w = shrink_size(kept_h, kept_w, p["max_views"], side, p["shrink_threshold"])
        if (out_h, out_w) != (kept_h, kept_w):
            info["interpolated_map"] = [out_h, out_w]
    row_counts = owner_counts(top, kept_h, out_h, side, rows)
    col_counts = owner_counts(left, kept_w, out_w, side, cols)
    square = Size(base, base)
    canvases = [resize_canvas(image, square), Canvas(whole(image), (resized,), target, offset)]
    grids = ((side, side), (side, side))
    views = [make_view(canvases, 0, Box(0, 0, base, base), square, "base", side * side + cls, grids=grids)]
    views += grid_views(canvases, 1, rows, cols, square, lambda r, c: row_counts[r] * col_counts[c], grids=grids)
    warnings = ()
    if out_h * out_w == 0:
        warnings = (
            f"unpadding removed every tile feature (image {image} is too thin for a "
            f"{rows}x{cols} grid): tiles cost encoder time but add no tokens",
        )
    return PlanParts(tuple(canvases), tuple(views), (rows, cols), out_h if p["image_newline"] else 0, info, warnings)

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


def plan_slicing(image: Size, p: dict[str, Any]) -> PlanParts:
    """MiniCPM-V / LLaVA-UHD slicing, one ``make_view`` a view (grids left to ``plan``)."""
    from anyres.plan.strategies.slicing import adapt_size, find_best_resize, refine_size, sliced_grid

    s, patch, q = p["scale_resolution"], p["patch_size"], p["query_num"]
    grid = sliced_grid(image, s, p["max_slice_nums"]) if p["slice_mode"] else None
    canvases: list[Canvas] = []
    views = []
    if p["style"] == "llava-uhd":
        max_patches = (s // patch) ** 2
        if grid is None:
            size = adapt_size(image.width, image.height, max_patches, patch)
            canvases.append(Canvas(whole(image), (size,), size))
            return PlanParts(tuple(canvases), (make_view(canvases, 0, whole(size), None, "base", q),), None)
        overview = adapt_size(image.width, image.height, max_patches, patch)
        canvases.append(Canvas(whole(image), (overview,), overview))
        views.append(make_view(canvases, 0, whole(overview), None, "base", q))
        cols, rows = grid
        xs = [image.width * c // cols for c in range(cols + 1)]
        ys = [image.height * r // rows for r in range(rows + 1)]
        for r in range(rows):
            for c in range(cols):
                box = Box(xs[c], ys[r], xs[c + 1], ys[r + 1])
                size = adapt_size(box.width, box.height, max_patches, patch)
                canvases.append(Canvas(box, (size,), size))
                views.append(make_view(canvases, len(canvases) - 1, whole(size), None, "slice", q, (r, c), 1))
        return PlanParts(tuple(canvases), tuple(views), (rows, cols))
    source_size = find_best_resize(image.width, image.height, s, patch, allow_upscale=grid is None)
    canvases.append(Canvas(whole(image), (source_size,), source_size))
    views.append(make_view(canvases, 0, whole(source_size), None, "base", q))
    if grid is None:
        return PlanParts(tuple(canvases), tuple(views), None)
    cols, rows = grid
    refined = refine_size(image, grid, s, patch)
    canvases.append(Canvas(whole(image), (refined,), refined))
    cw, ch = int(refined.width / cols), int(refined.height / rows)
    for r in range(rows):
        for c in range(cols):
            crop = Box(c * cw, r * ch, (c + 1) * cw, (r + 1) * ch)
            views.append(make_view(canvases, 1, crop, None, "slice", q, (r, c), 1))
    return PlanParts(tuple(canvases), tuple(views), (rows, cols), info={"refined": refined})


def plan_s2(image: Size, p: dict[str, Any]) -> PlanParts:
    """S2, one ``make_view`` a sub-image (grids left to ``plan``)."""
    import math

    from anyres.plan.strategies.fixed import clip_resize

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
        for r in range(k):
            for c in range(k):
                crop = Box(c * piece, r * piece, (c + 1) * piece, (r + 1) * piece)
                tokens = base_tokens // (k * k) if level == 0 else 0
                role = "base" if level == 0 and k == 1 else ("tile" if level == 0 else "scale")
                views.append(make_view(canvases, level, crop, None, role, tokens, (r, c) if k > 1 else None, level))
        if k > 1:
            grid = (k, k)
    info = {
        "channels_multiplier": len(scales),
        "feature_map": [scales[0] // patch] * 2,
        "splits": [math.ceil(s / split) for s in scales],
    }
    return PlanParts(tuple(canvases), tuple(views), grid, info=info)


def best_canvas(image: Size, canvases, scale, largest_upscale: bool = False) -> tuple[int, int]:
    """The fit-canvas rule in four passes: every canvas's scale, the least upscale (or the
    most, or the least downscale), then the smallest area, first on a tie."""
    scales = []
    for th, tw in canvases:
        sh, sw = scale(th, image.height), scale(tw, image.width)
        scales.append(sw if sh > sw else sh)
    up = [s for s in scales if s >= 1]
    if up:
        chosen = max(up) if largest_upscale else min(up)
    else:
        chosen = max(s for s in scales if s < 1)
    best = None
    for c, s in zip(canvases, scales):
        if s == chosen and (best is None or c[0] * c[1] < best[0] * best[1]):
            best = c
    return best

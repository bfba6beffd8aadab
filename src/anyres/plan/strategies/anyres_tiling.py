"""LLaVA-NeXT AnyRes tiling and LLaVA-OneVision anyres_max_N.

Reference: transformers ``select_best_resolution``, ``get_patch_output_size``, the
LLaVA-NeXT / OneVision image processors (resize keeping aspect ratio, centre pad with
the odd pixel at bottom/right, cut row-major, squashed base view first; for other
``size`` / ``crop_size`` settings their partial tiles and per-view resize and centre crop,
``partial_tiles``) and the model's
``unpad_image`` / ``pack_image_features`` (unpad the tile feature map, OneVision's
bilinear shrink above 1.1x the max_N budget, one image_newline per row).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from typing import Any

from ...errors import SpecError
from ..plan import PlanParts
from ..types import NEWLINE, VISUAL, Box, Canvas, Layout, Segment, Size
from ..connector import Connector
from ..knobs import Knob
from .common import Strategy, grid_views, make_view, positive_int, resize_canvas, whole
from .fixed import square_pad_canvas
from .partial_tiles import cut_views, largest_intermediate, resized_view, tile_count
from ..schema import Bool, Choice, Cost, Int, Items, Number, Optional, Pair, Text


def select_best_resolution(image: Size, pinpoints_hw: tuple[tuple[int, int], ...]) -> tuple[int, int]:
    """The (height, width) pinpoint that keeps the most image pixels, then wastes least."""
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
    return best  # type: ignore[return-value]


def fit_inside(image: Size, target: Size) -> Size:
    """``get_patch_output_size``: fill one side exactly, the other ``ceil`` (capped)."""
    scale_w = target.width / image.width
    scale_h = target.height / image.height
    if scale_w < scale_h:
        return Size(target.width, min(math.ceil(image.height * scale_w), target.height))
    return Size(min(math.ceil(image.width * scale_h), target.width), target.height)


def unpad_rows_cols(image: Size, map_h: int, map_w: int) -> tuple[int, int, int, int]:
    """``unpad_image`` on a (map_h, map_w) feature map: (top, height, left, width) kept."""
    w, h = image.width, image.height
    if w / h > map_w / map_h:
        new_h = int(round(h * (map_w / w), 7))
        pad = (map_h - new_h) // 2
        return pad, map_h - 2 * pad, 0, map_w
    new_w = int(round(w * (map_h / h), 7))
    pad = (map_w - new_w) // 2
    return 0, map_h, pad, map_w - 2 * pad


def _overlap(a0: int, a1: int, b0: int, b1: int) -> int:
    return max(0, min(a1, b1) - max(a0, b0))


def _check(p: dict[str, Any]) -> None:
    positive_int(p, "base_size", "patch_size")
    if p["patch_size"] > p["base_size"]:
        raise SpecError(f"patch_size={p['patch_size']} is larger than base_size={p['base_size']}: no feature per view")
    if not p["image_grid_pinpoints"]:
        raise SpecError("image_grid_pinpoints must not be empty")
    cut = reference_cut(p)  # tiles that need not divide the pinpoints
    for pin in p["image_grid_pinpoints"]:
        if (
            not isinstance(pin, (list, tuple))
            or len(pin) != 2
            or any(not isinstance(v, int) or v <= 0 or (not cut and v % p["base_size"]) for v in pin)
        ):
            what = "positive integers" if cut else f"positive multiples of base_size={p['base_size']}"
            raise SpecError(f"each pinpoint must be a (height, width) pair of {what}, got {pin!r}")
    if p["feature_select_strategy"] not in ("default", "full"):
        raise SpecError("feature_select_strategy must be 'default' or 'full'")


SCHEMA = {
    "base_size": Int(),
    "patch_size": Int(1, 1024),
    "image_grid_pinpoints": Items(Pair(Int())),
    "feature_select_strategy": Choice("default", "full"),
    "cls_tokens": Int(0, 1024),
    "image_newline": Bool(),
    "image_token": Text(),
    "max_views": Optional(Int(1, 65536)),
    "shrink_threshold": Number(0, 1e6, lo_open=True),
    "multi_image": Bool(),
    "tile_size": Optional(Int()),
    "resize_side": Optional(Int()),
    "resize_shortest_edge": Bool(),
}


def reference_cut(p: dict[str, Any]) -> bool:
    """Whether the views are cut as transformers' processors cut them for any ``size`` /
    ``crop_size`` (``partial_tiles``): a ``tile_size`` or a ``resize_side`` is set."""
    return p.get("tile_size") is not None or p.get("resize_side") is not None


def cost_anyres(p: dict[str, Any]) -> Cost:
    """The base view plus the tiles of the largest pinpoint, cut from that pinpoint."""
    base = p["base_size"]
    largest = max(h * w for h, w in p["image_grid_pinpoints"])
    if not reference_cut(p):
        views = 1 + largest // (base * base)
        return Cost(views, base * base, views * base * base, largest, drivers=("image_grid_pinpoints", "base_size"))
    tile = p["tile_size"] or base
    views = 1 + max(tile_count(Size(w, h), tile) for h, w in p["image_grid_pinpoints"])
    resized = largest_intermediate(p["image_grid_pinpoints"], tile, p["resize_side"], p["resize_shortest_edge"])
    return Cost(views, base * base, views * base * base, max(largest, resized),
                drivers=("image_grid_pinpoints", "base_size", "tile_size", "resize_side"))


def plan_anyres(image: Size, p: dict[str, Any]) -> PlanParts:
    base = p["base_size"]
    side = base // p["patch_size"]  # feature map side of one view
    cls = p["cls_tokens"] if p["feature_select_strategy"] == "full" else 0
    if p["multi_image"]:
        # OneVision with several images in one prompt: no tiling, the image padded to a
        # mean-colour square and resized to one base view, plus one newline embedding
        canvases = [square_pad_canvas(image)]
        side_px = canvases[0].padded.width
        view = resized_view(canvases, 0, Box(0, 0, side_px, side_px), base, p["resize_side"],
                            p["resize_shortest_edge"], "base", side * side + cls, grids=((side, side), (side, side)))
        return PlanParts(tuple(canvases), (view,), None, 1 if p["image_newline"] else 0)
    best_h, best_w = best_pinpoint(image, p["image_grid_pinpoints"])
    target = Size(best_w, best_h)
    resized = fit_inside(image, target)
    offset = ((best_w - resized.width) // 2, (best_h - resized.height) // 2)
    rows, cols = best_h // base, best_w // base

    # token accounting, as the model packs features
    map_h, map_w = rows * side, cols * side
    top, kept_h, left, kept_w = unpad_rows_cols(image, map_h, map_w) if map_h and map_w else (0, 0, 0, 0)
    info: dict[str, Any] = {
        "best_resolution": target,
        "resized": resized,
        "feature_map": [map_h, map_w],
        "unpadded_map": [kept_h, kept_w],
        "unpad_offset": [top, left],
    }
    max_views = p.get("max_views")
    out_h, out_w = kept_h, kept_w
    if max_views is not None:
        out_h, out_w = shrink_size(kept_h, kept_w, max_views, side, p["shrink_threshold"])
        if (out_h, out_w) != (kept_h, kept_w):
            info["interpolated_map"] = [out_h, out_w]

    row_counts = tile_counts(top, kept_h, out_h, side, rows)
    col_counts = tile_counts(left, kept_w, out_w, side, cols)

    square = Size(base, base)
    tiles_canvas = Canvas(whole(image), (resized,), target, offset)
    grids = ((side, side), (side, side))  # features and token cells of every view (as connector_anyres says)
    warnings: tuple[str, ...] = ()
    if reference_cut(p):
        canvases, views, warnings = cut_views(image, tiles_canvas, p, (rows, cols),
                                              lambda r, c: row_counts[r] * col_counts[c], side * side + cls, grids)
    else:
        canvases = (resize_canvas(image, square), tiles_canvas)
        views = [make_view(canvases, 0, Box(0, 0, base, base), square, "base", side * side + cls, grids=grids)]
        views += grid_views(canvases, 1, rows, cols, square, 0, grids=grids, counts=(row_counts, col_counts))
    newlines = out_h if p["image_newline"] else 0
    if out_h * out_w == 0:
        warnings += (
            f"unpadding removed every tile feature (image {image} is too thin for a "
            f"{rows}x{cols} grid): tiles cost encoder time but add no tokens",
        )
    return PlanParts(canvases, tuple(views), (rows, cols), newlines, info, warnings)


def best_pinpoint(image: Size, pinpoints_hw: Any) -> tuple[int, int]:
    """``select_best_resolution``'s answer, found with fewer candidates visited. Its
    winner keeps the most image pixels (at most the image's), then wastes the least
    (the smallest area), then comes first in the list. With the candidates ordered by
    (area, list position): among those large enough to keep every pixel, the first
    that does wins outright; when none does, a scan from the largest down keeps the
    last candidate with the most kept pixels and stops at an area below that count
    (a candidate keeps at most its own area)."""
    w, h = image.width, image.height
    full = w * h
    areas, pins = _by_area(pinpoints_hw)
    first_large = bisect_left(areas, full)
    for i in range(first_large, len(pins)):
        ph, pw = pins[i]
        scale = min(pw / w, ph / h)
        if int(w * scale) * int(h * scale) >= full:
            return ph, pw
    best = None
    max_effective = -1
    for i in range(len(pins) - 1, -1, -1):
        if areas[i] < max_effective:
            break
        ph, pw = pins[i]
        scale = min(pw / w, ph / h)
        effective = int(w * scale) * int(h * scale)
        if effective >= max_effective:  # a tie goes to the smaller area, then the earlier pinpoint
            max_effective, best = effective, (ph, pw)
    return best  # type: ignore[return-value]


_BY_AREA: dict[Any, tuple] = {}


def _by_area(pinpoints_hw: Any) -> tuple[list[int], list[tuple[int, int]]]:
    """The areas and (height, width) of the pinpoints, by area then list order (once a
    list)."""
    try:
        return _BY_AREA[pinpoints_hw]
    except (KeyError, TypeError):
        pass
    pins = [(ph, pw) for ph, pw in sorted(pinpoints_hw, key=lambda pin: pin[0] * pin[1])]
    order = ([ph * pw for ph, pw in pins], pins)
    try:
        if len(_BY_AREA) > 256:
            _BY_AREA.clear()
        _BY_AREA[pinpoints_hw] = order
    except TypeError:  # a list of lists: not cached
        pass
    return order


def tile_counts(start: int, kept: int, out: int, side: int, n: int) -> list[int]:
    """``owner_counts`` without visiting every feature row: the cells ``source_cells``
    gives never decrease, so each tile's count is the distance between the first rows
    that reach its start and the next tile's start (found from the inverse of the map and
    confirmed with the exact expression)."""
    if out == kept:
        return [_overlap(k * side, (k + 1) * side, start, start + kept) for k in range(n)]
    firsts = [_first_reaching(start, kept, out, k * side) for k in range(1, n)]
    bounds = [0, *firsts, out]
    return [bounds[k + 1] - bounds[k] for k in range(n)]


def _first_reaching(start: int, kept: int, out: int, cell: int) -> int:
    """The first i in [0, out] with ``int(start + (i + 0.5) * kept / out) >= cell``
    (``out`` when none does)."""
    i = max(0, min(out, math.ceil((cell - start) * out / kept - 0.5)))
    while i > 0 and int(start + (i - 1 + 0.5) * kept / out) >= cell:
        i -= 1
    while i < out and int(start + (i + 0.5) * kept / out) < cell:
        i += 1
    return i


def shrink_size(rows: int, cols: int, max_views: int, side: int, threshold: float = 1.1) -> tuple[int, int]:
    """OneVision's anyres_max_N rule on an unpadded (rows, cols) feature map: when
    ratio = sqrt(rows * cols / (N * side^2)) exceeds ``threshold``, the map is bilinearly
    shrunk to (int(rows // ratio), int(cols // ratio)); else it is kept."""
    ratio = math.sqrt(rows * cols / (max_views * side**2))
    if ratio > threshold:
        return int(rows // ratio), int(cols // ratio)
    return rows, cols


def source_cells(start: int, kept: int, out: int) -> list[int]:
    """For each of ``out`` feature rows (or columns) after unpadding and any bilinear
    resize from ``kept``, the row (column) of the stitched tile map it comes from: the one
    its centre maps into (align_corners=False); without a resize, start + i."""
    if out == kept:
        return list(range(start, start + out))
    return [int(start + (i + 0.5) * kept / out) for i in range(out)]


def owners(start: int, kept: int, out: int, side: int) -> list[int]:
    """The grid row (column) of the tile each of ``out`` feature rows comes from."""
    return [cell // side for cell in source_cells(start, kept, out)]


def owner_counts(start: int, kept: int, out: int, side: int, n: int) -> list[int]:
    if out == kept:
        return [_overlap(k * side, (k + 1) * side, start, start + kept) for k in range(n)]
    counts = [0] * n
    for o in owners(start, kept, out, side):
        counts[o] += 1
    return counts


def layout_anyres(plan) -> Layout:
    """Base view, then each feature row across the tiles of its grid row, then a newline."""
    token = plan.params["image_token"]
    segs = [Segment(token, plan.views[0].tokens, VISUAL, 0)]
    if plan.grid is None:  # multi-image: the base view and one newline
        return Layout(tuple(segs + [Segment(token, plan.newline_tokens, NEWLINE)] if plan.newline_tokens else segs))
    rows, cols = plan.grid
    side = plan.params["base_size"] // plan.params["patch_size"]
    top, left = plan.info["unpad_offset"]
    kept_h, kept_w = plan.info["unpadded_map"]
    out_h, out_w = plan.info.get("interpolated_map", plan.info["unpadded_map"])
    col_counts = owner_counts(left, kept_w, out_w, side, cols)
    for r in owners(top, kept_h, out_h, side):
        for c in range(cols):
            if col_counts[c]:
                segs.append(Segment(token, col_counts[c], VISUAL, 1 + r * cols + c))
        if plan.params["image_newline"]:
            segs.append(Segment(token, 1, NEWLINE))
    return Layout(tuple(segs))


def connector_anyres(p: dict[str, Any], info: dict[str, Any]) -> Connector:
    """Tiles stitched and unpadded, a learned newline after each row (when enabled);
    the base view keeps its CLS with ``feature_select_strategy="full"``."""
    return Connector(
        "unpad-newline",
        learned=bool(p["image_newline"]),
        patch_size=p["patch_size"],
        keep_cls=p["cls_tokens"] if p["feature_select_strategy"] == "full" else 0,
    )


LLAVA_NEXT_PINPOINTS = ((336, 672), (672, 336), (672, 672), (1008, 336), (336, 1008))
ONEVISION_PINPOINTS = tuple((384 * i, 384 * j) for i in range(1, 7) for j in range(1, 7))

_COMMON = {
    "patch_size": 14,
    "feature_select_strategy": "default",
    "cls_tokens": 1,
    "image_newline": True,
    "image_token": "<image>",
}


def fit_anyres(p: dict[str, Any]) -> Knob:
    """A subset of ``image_grid_pinpoints``: any subset plans as the one pinpoint it
    selects, so the single pinpoints are every plan the subsets reach."""
    return Knob("image_grid_pinpoints", tuple({"image_grid_pinpoints": (tuple(pt),)} for pt in p["image_grid_pinpoints"]))

LLAVA_NEXT = Strategy(
    "anyres",
    plan_anyres,
    layout_anyres,
    {
        "base_size": 336,
        "image_grid_pinpoints": LLAVA_NEXT_PINPOINTS,
        **_COMMON,
        "max_views": None,
        "shrink_threshold": 1.1,
        "multi_image": False,
        "tile_size": None,
        "resize_side": None,
        "resize_shortest_edge": True,
    },
    "AnyRes: best pinpoint, aspect-kept resize + centre pad, base_size tiles + squashed base view; "
    "tile features unpadded, one newline per row. max_views=N is OneVision's anyres_max_N. tile_size / "
    "resize_side / resize_shortest_edge cut the views as transformers' processors do for other size / "
    "crop_size settings: tile_size tiles (partial where they do not divide the pinpoint), each view resized "
    "to resize_side (its shorter side, or a square) then centre-cropped to base_size, or without resize_side "
    "resized to base_size (keeping the aspect ratio with resize_shortest_edge, so only square crops fit).",
    _check,
    connector=connector_anyres,
    schema=SCHEMA,
    cost=cost_anyres,
    fit=fit_anyres,
)

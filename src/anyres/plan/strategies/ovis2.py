"""Ovis2 (transformers' Ovis2 image processor and processor).

Without ``crop_to_patches`` (the class default) the image is stretched to one
``tile_size`` square. With it, a grid of tiles is chosen in one of two ways:

- ``use_covering_area_grid=True`` (default): among the (a, b) pairs with a*b <= max_patches
  (enumerated a-major, stably sorted by a*b), the image is split into a rows x b columns
  (integer row height ``h // a``, column width ``w // b``, the last row and column taking
  the remainder); each region covers ``long * short`` px with ``long`` capped at the
  tile side (``short`` scaled with it). The first pair (by fewest tiles, then most
  coverage) whose coverage of the image area exceeds 0.9 wins, else the best-covering
  one (then fewest tiles). The image is then stretched to **a columns x b rows**: the
  reference scores the transposed grid of the one it cuts (kept as it does);
- ``use_covering_area_grid=False``: InternVL's nearest-aspect rule over min..max_patches.

The image is stretched to the grid and cut row-major; when there is more than one tile a
``tile_size`` thumbnail of the whole image comes **first**. Each view takes
``image_seq_length`` (256) ``<IMG_ATOM>`` tokens; the prompt is ``<IMG_START>``, the
thumbnail's (or only view's) atoms, ``<IMG_GRID>``, then for a grid the tiles' atoms
with ``<IMG_COL>`` between columns and ``<IMG_ROW>`` between rows, and ``<IMG_END>``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ...errors import SpecError
from ..connector import Connector
from ..plan import PlanParts
from ..schema import Bool, Cost, Int
from ..types import TEXT, VISUAL, Layout, Segment, Size
from .common import Strategy, edge_value, grid_views, make_view, positive_int, resize_canvas, whole
from .internvl import best_grid, candidate_grids

COVERING_THRESHOLD = 0.9  # crop_image_to_patches' default; not a processor argument


@lru_cache(maxsize=4096)
def covering_grid(width: int, height: int, side: int, max_patches: int) -> tuple[int, int]:
    """(a, b) as ``get_min_tile_covering_grid``; the reference scores a rows x b columns.

    A region keeps ``long * short`` px with ``long`` capped at ``side`` and ``short``
    scaled with it (``compute_patch_covering_area``); the coverages are summed in the
    reference's order (row-major, from 0) and with its operations, so every float is the
    reference's (ties and the 0.9 threshold then fall the same way)."""
    area = width * height
    best_ok = best_any = None  # (key, grid): the first minimum, as min() keeps it
    for a, b in candidate_grids(1, max_patches):
        row_h, col_w = height // a, width // b
        total = 0
        for r in range(a):
            rh = height - r * row_h if r == a - 1 else row_h
            for c in range(b):
                cw = width - c * col_w if c == b - 1 else col_w
                lo, hi = (rh, cw) if cw >= rh else (cw, rh)
                total += lo / hi * side * side if hi > side else hi * lo
        ratio = total / area
        key_any = (-ratio, a * b)
        if best_any is None or key_any < best_any[0]:
            best_any = (key_any, (a, b))
        if ratio > COVERING_THRESHOLD:
            key_ok = (a * b, -ratio)
            if best_ok is None or key_ok < best_ok[0]:
                best_ok = (key_ok, (a, b))
    return (best_ok or best_any)[1]


def ovis2_grid(image: Size, p: dict[str, Any]) -> tuple[int, int]:
    """(cols, rows) of the tile grid."""
    t = p["tile_size"]
    if p["use_covering_area_grid"]:
        return covering_grid(image.width, image.height, t, p["max_patches"])
    return best_grid(image, Size(t, t), p["min_patches"], p["max_patches"])


def _check(p: dict[str, Any]) -> None:
    positive_int(p, "tile_size", "patch_size", "min_patches", "max_patches", "image_seq_length")
    for key in ("crop_to_patches", "use_covering_area_grid"):
        if not isinstance(p[key], bool):
            raise SpecError(f"ovis2: {key} must be True or False, got {p[key]!r}")
    if p["min_patches"] > p["max_patches"] and not p["use_covering_area_grid"]:
        raise SpecError(f"ovis2: min_patches={p['min_patches']} exceeds max_patches={p['max_patches']}")


SCHEMA = {
    "tile_size": Int(1, 8192),
    "patch_size": Int(1, 1024),
    "min_patches": Int(1, 1024),
    "max_patches": Int(1, 1024),
    "image_seq_length": Int(1, 65536),
    "crop_to_patches": Bool(),
    "use_covering_area_grid": Bool(),
}


def cost_ovis2(p: dict[str, Any]) -> Cost:
    """Up to max_patches tiles plus the thumbnail, from a canvas of max_patches tiles."""
    tile = p["tile_size"] ** 2
    if not p["crop_to_patches"] or p["max_patches"] <= 1:
        return Cost(1, tile, tile, tile, drivers=("tile_size",))
    n = p["max_patches"]
    return Cost(n + 1, tile, (n + 1) * tile, n * tile, drivers=("max_patches", "tile_size"))


def plan_ovis2(image: Size, p: dict[str, Any]) -> PlanParts:
    t = p["tile_size"]
    tile = Size(t, t)
    n_tok = p["image_seq_length"]
    if not p["crop_to_patches"] or p["max_patches"] <= 1:
        canvases = [resize_canvas(image, tile)]
        return PlanParts(tuple(canvases), (make_view(canvases, 0, whole(tile), None, "base", n_tok),), None,
                         info={"grids": (1, 1)})
    cols, rows = ovis2_grid(image, p)
    canvases = [resize_canvas(image, Size(t * cols, t * rows))]
    views = grid_views(canvases, 0, rows, cols, tile, n_tok)
    if len(views) != 1:
        canvases.append(resize_canvas(image, tile))
        views.insert(0, make_view(canvases, 1, whole(tile), None, "thumbnail", n_tok))
    warnings = ()
    if p["use_covering_area_grid"] and rows != cols:
        warnings = (f"ovis2: the reference scores a {cols}x{rows} (rows x cols) split of the image for coverage but "
                    f"cuts {rows} rows x {cols} columns (followed, as its processing does)",)
    return PlanParts(tuple(canvases), tuple(views), (rows, cols), info={"grids": (rows, cols)}, warnings=warnings)


def layout_ovis2(plan) -> Layout:
    n = plan.params["image_seq_length"]
    segs = [Segment("<IMG_START>", 1, TEXT), Segment("<IMG_ATOM>", n, VISUAL, 0), Segment("<IMG_GRID>", 1, TEXT)]
    if len(plan.views) > 1:
        rows, cols = plan.grid
        for r in range(rows):
            for c in range(cols):
                segs.append(Segment("<IMG_ATOM>", n, VISUAL, 1 + r * cols + c))
                if c < cols - 1:
                    segs.append(Segment("<IMG_COL>", 1, TEXT))
            if r < rows - 1:
                segs.append(Segment("<IMG_ROW>", 1, TEXT))
    segs.append(Segment("<IMG_END>", 1, TEXT))
    return Layout(tuple(segs))


def translate_ovis2(kw: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The processor's ``size={"height", "width"}`` (square: the tile side)."""
    if "size" in kw:
        h, w = edge_value(kw, "size", "height", "width")
        if h != w:
            raise SpecError(f"ovis2: tiles are square, got size height={h} width={w}")
        kw["tile_size"] = h
    return kw


def connector_ovis2(p: dict[str, Any], info: dict[str, Any]) -> Connector:
    """Ovis2's visual tokenizer gives ``image_seq_length`` embeddings a view (its
    hidden_stride space-to-depth and visual vocabulary; anyres' resampler stands in)."""
    return Connector("resampler", learned=True, patch_size=p["patch_size"], queries=(p["image_seq_length"],))


OVIS2 = Strategy(
    "ovis2",
    plan_ovis2,
    layout_ovis2,
    {
        "tile_size": 384,
        "patch_size": 14,
        "crop_to_patches": False,
        "min_patches": 1,
        "max_patches": 12,
        "use_covering_area_grid": True,
        "image_seq_length": 256,
    },
    "Ovis2: one 384 square, or (crop_to_patches) a 90%-covering grid of up to 12 tiles + a leading thumbnail; "
    "256 <IMG_ATOM> a view with grid separators.",
    _check,
    connector=connector_ovis2,
    translate=translate_ovis2,
    schema=SCHEMA,
    cost=cost_ovis2,
)

"""InternVL dynamic tiling (transformers' GotOcr2 ``crop_to_patches``).

Candidate grids (cols, rows) with min_tiles <= cols*rows <= max_tiles, enumerated
cols-major and stably sorted by tile count; the grid whose cols/rows is nearest to the
image's aspect ratio wins; on an exact tie the later grid wins only if the image area
exceeds half the grid's pixel area. The image is stretched to the grid, cut row-major,
and a thumbnail of the whole image follows the tiles when there is more than one tile.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ...errors import SpecError
from ..plan import PlanParts
from ..types import TEXT, VISUAL, Layout, Segment, Size
from ..connector import Connector
from ..schema import Bool, Cost, Int, Number, Text
from ..knobs import Knob, counted
from .common import Strategy, edge_value, grid_views, make_view, positive_int, resize_canvas, whole


@lru_cache(maxsize=64)
def candidate_grids(min_tiles: int, max_tiles: int) -> tuple[tuple[int, int], ...]:
    grids = [
        (cols, rows)
        for cols in range(1, max_tiles + 1)
        for rows in range(1, max_tiles // cols + 1)  # the same grids, in the same order
        if min_tiles <= cols * rows
    ]
    return tuple(sorted(grids, key=lambda g: g[0] * g[1]))


def best_grid(image: Size, tile: Size, min_tiles: int, max_tiles: int) -> tuple[int, int]:
    """(cols, rows), as ``get_optimal_tiled_canvas``."""
    aspect = image.width / image.height
    area = image.width * image.height
    best_diff = float("inf")
    best = (1, 1)
    for cols, rows in candidate_grids(min_tiles, max_tiles):
        diff = abs(aspect - cols / rows)
        if diff < best_diff:
            best_diff, best = diff, (cols, rows)
        elif diff == best_diff and area > 0.5 * tile.height * tile.width * cols * rows:
            best = (cols, rows)
    return best


def tokens_per_tile(p: dict[str, Any]) -> int:
    side = p["tile_size"] // p["patch_size"]
    return int(side * side * p["downsample_ratio"] ** 2)


def _check(p: dict[str, Any]) -> None:
    positive_int(p, "tile_size", "patch_size", "min_tiles", "max_tiles")
    shuffle_factor(p)
    if p["min_tiles"] > p["max_tiles"]:
        raise SpecError(f"min_tiles={p['min_tiles']} exceeds max_tiles={p['max_tiles']}")
    if tokens_per_tile(p) < 1:
        raise SpecError("tile_size, patch_size and downsample_ratio leave no token per tile")


SCHEMA = {
    "tile_size": Int(),
    "patch_size": Int(1, 1024),
    "downsample_ratio": Number(0, 1, lo_open=True),
    "min_tiles": Int(1, 65536),
    "max_tiles": Int(1, 65536),
    "use_thumbnail": Bool(),
    "start_token": Text(),
    "end_token": Text(),
    "context_token": Text(),
}


def cost_internvl(p: dict[str, Any]) -> Cost:
    """Up to max_tiles tiles (+ the thumbnail) cut from a canvas of at most max_tiles tiles."""
    n, tile = p["max_tiles"], p["tile_size"] ** 2
    views = n + (1 if p["use_thumbnail"] and n > 1 else 0)
    return Cost(views, tile, views * tile, n * tile, drivers=("max_tiles", "tile_size"))


def plan_internvl(image: Size, p: dict[str, Any]) -> PlanParts:
    t = p["tile_size"]
    tile = Size(t, t)
    n_tok = tokens_per_tile(p)
    side, f = t // p["patch_size"], shuffle_factor(p)
    grids = ((side, side), (side // f, side // f))  # every tile's (as connector_internvl says)
    if p["max_tiles"] <= 1 or not p["crop_to_patches"]:  # the reference skips tiling entirely
        canvases = [resize_canvas(image, tile)]
        return PlanParts(tuple(canvases), (make_view(canvases, 0, whole(tile), None, "base", n_tok, grids=grids),), None)
    cols, rows = best_grid(image, tile, p["min_tiles"], p["max_tiles"])
    canvases = [resize_canvas(image, Size(t * cols, t * rows))]
    views = grid_views(canvases, 0, rows, cols, tile, n_tok, grids=grids)
    if p["use_thumbnail"] and len(views) != 1:
        canvases.append(resize_canvas(image, tile))
        views.append(make_view(canvases, 1, whole(tile), None, "thumbnail", n_tok, grids=grids))
    return PlanParts(tuple(canvases), tuple(views), (rows, cols))


def layout_internvl(plan) -> Layout:
    p = plan.params
    segs = [Segment(p["start_token"], 1, TEXT)]
    segs += [Segment(p["context_token"], v.tokens, VISUAL, i) for i, v in enumerate(plan.views)]
    segs.append(Segment(p["end_token"], 1, TEXT))
    return Layout(tuple(segs))


def shuffle_factor(p: dict[str, Any]) -> int:
    """The pixel-shuffle block side, 1 / downsample_ratio."""
    ratio = p["downsample_ratio"]
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 < ratio <= 1:
        raise SpecError(f"downsample_ratio must be 1/k for a positive integer k, got {ratio!r}")
    f = round(1 / ratio)
    if f < 1 or abs(f * ratio - 1) > 1e-9:
        raise SpecError(f"downsample_ratio must be 1/k for a positive integer k, got {ratio!r}")
    return f


def translate_internvl(kw: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """GotOcr2's names: ``size={"height", "width"}`` (square: the tile), ``min_patches``,
    ``max_patches``; InternVLProcessor's ``image_seq_length`` (checked against the tile,
    patch and downsample ratio it must equal)."""
    if "size" in kw:
        h, w = edge_value(kw, "size", "height", "width")
        if h != w:
            raise SpecError(f"internvl: tiles are square, got size height={h} width={w}")
        kw["tile_size"] = h
    for ours, theirs in (("min_tiles", "min_patches"), ("max_tiles", "max_patches")):
        if theirs in kw:
            kw[ours] = kw.pop(theirs)
    if "image_seq_length" in kw:
        seq = kw.pop("image_seq_length")
        want = tokens_per_tile({**base, **kw})
        if seq != want:
            raise SpecError(
                f"internvl: image_seq_length={seq!r}, but tile_size, patch_size and downsample_ratio give {want} "
                "tokens a tile (change those instead)"
            )
    return kw


def connector_internvl(p: dict[str, Any], info: dict[str, Any]) -> Connector:
    """Pixel shuffle by 1/downsample_ratio, then InternVL's LayerNorm-MLP (mlp1)."""
    return Connector("pixel-shuffle", shuffle_factor(p), patch_size=p["patch_size"], projector="norm_mlp")


def fit_internvl(p: dict[str, Any]) -> Knob:
    """``max_tiles`` (InternVL's ``max_num``) from ``min_tiles`` to the preset's value."""
    return counted("max_tiles", p["min_tiles"], p["max_tiles"])

INTERNVL = Strategy(
    "internvl",
    plan_internvl,
    layout_internvl,
    {
        "tile_size": 448,
        "patch_size": 14,
        "downsample_ratio": 0.5,
        "min_tiles": 1,
        "max_tiles": 12,
        "use_thumbnail": True,
        "crop_to_patches": True,
        "start_token": "<img>",
        "end_token": "</img>",
        "context_token": "<IMG_CONTEXT>",
    },
    "InternVL/GotOcr2: nearest-aspect grid of min..max tiles, stretch, cut, + thumbnail if > 1 tile.",
    _check,
    connector=connector_internvl,
    translate=translate_internvl,
    schema=SCHEMA,
    cost=cost_internvl,
    fit=fit_internvl,
)

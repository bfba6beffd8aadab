"""Fit canvas (Llama 3.2 Vision / Mllama, Llama 4): the tile grid that scales least.

The rule both share: each supported grid of ``rows x cols`` tiles is a canvas of
``rows * tile`` by ``cols * tile`` px; the image's scale onto a canvas is the smaller of
the two side ratios (no distortion). The chosen canvas is the one with the smallest
scale >= 1 (the least upscale); when none fits, the largest scale < 1 (the least
downscale); ties go to the smallest area, then to the first in the reference's order.
The image is resized (aspect kept) into the canvas, zero-padded on the right and bottom
and cut into row-major tiles.

- **Mllama** (transformers' ``MllamaImageProcessor``, float64): grids ``(rows, cols)``
  with ``rows * cols <= max_image_tiles`` (rows outer); the resized size clips each side
  to ``[tile, canvas side]`` first, so small images are upscaled to one tile. Its language
  model cross-attends to the tiles, so the prompt holds one ``<|image|>`` token; the
  tokens the model attends to are ``tiles x (patches + 1)`` (a CLS a tile).
- **Llama 4** (transformers' ``Llama4ImageProcessor``, torchvision only, in torch
  float32): grids ``rows * cols`` = each chunk count from ``max_patches`` down to 1,
  factor pairs ascending, grouped by aspect ratio in first-seen order; the resize target
  never upscales past ``max(side, tile)`` unless ``resize_to_max_canvas``; with more than
  one tile a whole-image ``tile x tile`` global view comes last. Each view gives
  ``(tile / patch)^2 / 4`` tokens (pixel shuffle 0.5); the prompt is
  ``<|image_start|>`` tiles with ``<|tile_x_separator|>`` between columns and
  ``<|tile_y_separator|>`` after each row, then ``<|image|>`` and the global view's (or
  the only tile's) ``<|patch|>`` tokens, ``<|image_end|>``.
"""

from __future__ import annotations

import math
import struct
from functools import lru_cache
from typing import Any

from ...errors import SpecError
from ..connector import Connector
from ..frozen import FrozenDict
from ..plan import PlanParts
from ..types import TEXT, VISUAL, Canvas, Layout, Segment, Size
from ..schema import Int
from ..knobs import Knob, counted
from .common import Strategy, grid_views, make_view, per_params, positive_int, resize_canvas, whole
from .hf_values import height_width

# ---------------------------------------------------------------- the shared rule


def best_canvas(image: Size, canvases: tuple[tuple[int, int], ...], in_float32: bool = False,
                largest_upscale: bool = False) -> tuple[int, int]:
    """The (height, width) canvas of least upscale, else least downscale, then least
    area (first in order on a tie). A side's scale is the reference's division of the
    canvas side by the image side, in float64 (Mllama) or rounded to float32 (Llama 4,
    ``in_float32``); ``largest_upscale``: the most upscale instead (Llama 4's
    ``resize_to_max_canvas``). Each distinct canvas side is divided once."""
    heights, widths, pairs = _canvas_sides(canvases)
    ih, iw = image.height, image.width
    if in_float32:
        pack, unpack = _F32.pack, _F32.unpack
        by_h = [unpack(pack(t / ih))[0] for t in heights]
        by_w = [unpack(pack(t / iw))[0] for t in widths]
    else:
        by_h = [t / ih for t in heights]
        by_w = [t / iw for t in widths]
    # one pass for: the least scale >= 1 (the most with ``largest_upscale``), else the
    # largest below 1; then the least area; then the first
    best = None
    best_up = False
    best_scale = 0.0
    best_area = 0
    for c, (i, j) in zip(canvases, pairs):
        sh, sw = by_h[i], by_w[j]
        s = sw if sh > sw else sh
        up = s >= 1
        if best is not None:
            if up != best_up:
                if not up:
                    continue
            elif s != best_scale:
                if up and (s < best_scale) == largest_upscale or not up and s < best_scale:
                    continue
            elif c[0] * c[1] >= best_area:
                continue
        best, best_up, best_scale, best_area = c, up, s, c[0] * c[1]
    return best  # type: ignore[return-value]


@lru_cache(maxsize=256)
def _canvas_sides(canvases: tuple[tuple[int, int], ...]) -> tuple[tuple[int, ...], tuple[int, ...], tuple]:
    """The distinct heights and widths of ``canvases`` and, for each canvas, the index of
    its height and its width among them."""
    heights = tuple(sorted({c[0] for c in canvases}))
    widths = tuple(sorted({c[1] for c in canvases}))
    return heights, widths, tuple((heights.index(h), widths.index(w)) for h, w in canvases)


@lru_cache(maxsize=256)
def grid_canvases(grids: tuple[tuple[int, int], ...], tile: int) -> tuple[tuple[int, int], ...]:
    """The (height, width) in pixels of each (rows, cols) grid of ``tile`` px tiles."""
    return tuple((r * tile, c * tile) for r, c in grids)


def tile_views(image: Size, resized: Size, rows: int, cols: int, tile: int, tokens: int, grids: tuple = (None, None)):
    """The resized image on a zero canvas of rows x cols tiles, cut row-major (``grids``:
    each tile's features and token grid, when the strategy knows them)."""
    canvas = Canvas(whole(image), (resized,), Size(cols * tile, rows * tile))
    return [canvas], grid_views([canvas], 0, rows, cols, Size(tile, tile), tokens, grids=grids)


def _square_tile(p: dict[str, Any]) -> int:
    h, w = height_width(p["size"])
    if h != w:
        raise SpecError(f"size must be square (the tiles are), got {w}x{h}")
    if h % p["patch_size"]:
        raise SpecError(f"size {h} is not a multiple of patch_size {p['patch_size']}")
    return h


# ---------------------------------------------------------------- Mllama


@lru_cache(maxsize=64)
def mllama_grids(max_tiles: int) -> tuple[tuple[int, int], ...]:
    """``get_all_supported_aspect_ratios``: (rows, cols), rows outer, as the canvas
    search reads them (first element the height)."""
    return tuple((a, b) for a in range(1, max_tiles + 1) for b in range(1, max_tiles + 1) if a * b <= max_tiles)


def mllama_fit(image: Size, canvas_h: int, canvas_w: int, tile: int) -> Size:
    """``get_image_size_fit_to_canvas``, as (width, height)."""
    tw = min(max(image.width, tile), canvas_w)
    th = min(max(image.height, tile), canvas_h)
    scale_h, scale_w = th / image.height, tw / image.width
    if scale_w < scale_h:
        return Size(tw, min(math.floor(image.height * scale_w) or 1, th))
    return Size(min(math.floor(image.width * scale_h) or 1, tw), th)


def _check_mllama(p: dict[str, Any]) -> None:
    positive_int(p, "max_image_tiles", "patch_size")
    _square_tile(p)


def plan_mllama(image: Size, p: dict[str, Any]) -> PlanParts:
    tile = _square_tile(p)
    grids = mllama_grids(p["max_image_tiles"])
    ch, cw = best_canvas(image, grid_canvases(grids, tile))
    rows, cols = ch // tile, cw // tile
    resized = mllama_fit(image, ch, cw, tile)
    side = tile // p["patch_size"]
    per_tile = side**2 + 1
    # every patch feature is a token (connector_mllama): features and token grid alike
    canvases, views = tile_views(image, resized, rows, cols, tile, per_tile, ((side, side), (side, side)))
    info = {"aspect_ratio": (rows, cols), "aspect_ratio_id": grids.index((rows, cols)) + 1,
            "num_tiles": rows * cols, "resized": resized, "cross_attention": True}
    return PlanParts(tuple(canvases), tuple(views), (rows, cols), info=info)


def layout_mllama(plan) -> Layout:
    """One ``<|image|>`` token: the language model cross-attends to the tiles."""
    return Layout((Segment(plan.params["image_token"], 1, TEXT),))


def connector_mllama(p: dict[str, Any], info: dict[str, Any]) -> Connector:
    """Every patch feature and the tile's CLS, as cross-attention states (no pooling)."""
    return Connector(patch_size=p["patch_size"], keep_cls=1)



def fit_mllama(p: dict[str, Any]) -> Knob:
    """``max_image_tiles`` from 1 to the preset's value."""
    return counted("max_image_tiles", 1, p["max_image_tiles"])

MLLAMA = Strategy(
    "mllama",
    plan_mllama,
    layout_mllama,
    {"size": FrozenDict(height=560, width=560), "max_image_tiles": 4, "patch_size": 14, "image_token": "<|image|>"},
    "Mllama: least-scaling canvas of up to max_image_tiles tiles, aspect kept, zero padding; cross-attention.",
    _check_mllama,
    connector=connector_mllama,
    schema={"max_image_tiles": Int(1, 64), "patch_size": Int(1, 1024)},
    fit=fit_mllama,
)


# ---------------------------------------------------------------- Llama 4


_F32 = struct.Struct("f")


def f32(x: float) -> float:
    """``x`` rounded to float32 (torch's default float dtype; a float64 quotient or
    product of integers below 2^24 rounded once more to float32 is the float32 result)."""
    return _F32.unpack(_F32.pack(x))[0]


@lru_cache(maxsize=64)
def llama4_grids(max_chunks: int) -> tuple[tuple[int, int], ...]:
    """``find_supported_resolutions`` in tiles: (rows, cols) for each chunk count from
    ``max_chunks`` down to 1, factor pairs ascending, grouped by aspect ratio in the
    order each ratio is first seen."""
    by_ratio: dict[float, list[tuple[int, int]]] = {}
    for n in range(max_chunks, 0, -1):
        factors = sorted({d for i in range(1, math.isqrt(n) + 1) if n % i == 0 for d in (i, n // i)})
        for f in factors:
            by_ratio.setdefault(f / (n // f), []).append((f, n // f))
    return tuple(g for group in by_ratio.values() for g in group)


def llama4_resize(image: Size, th: int, tw: int, tile: int, to_max: bool) -> Size:
    """The resize target of ``Llama4ImageProcessor._preprocess`` for canvas (th, tw):
    ``get_max_res_without_distortion`` of the capped target, with torch's types: a
    canvas side stays a 0-d int tensor (float32 arithmetic) where ``min`` returns it,
    a Python int (float64) where it returns the cap."""
    if to_max:
        nh, h_t, nw, w_t = th, True, tw, True
    else:
        cap_h, cap_w = max(image.height, tile), max(image.width, tile)
        nh, h_t = (th, True) if th < cap_h else (cap_h, False)
        nw, w_t = (tw, True) if tw < cap_w else (cap_w, False)
    scale_w = f32(nw / image.width) if w_t else nw / image.width
    scale_h = f32(nh / image.height) if h_t else nh / image.height
    if (f32(scale_w) < f32(scale_h)) if (w_t or h_t) else (scale_w < scale_h):
        height = math.floor(f32(image.height * scale_w) if w_t else image.height * scale_w)
        return Size(max(nw, 1), max(min(height, nh), 1))
    width = math.floor(f32(image.width * scale_h) if h_t else image.width * scale_h)
    return Size(max(min(width, nw), 1), max(nh, 1))


def shuffle_factor(p: dict[str, Any]) -> int:
    """The side of the patch block one token takes (1 / pixel_shuffle_ratio)."""
    return round(1.0 / p["pixel_shuffle_ratio"])


def llama4_tokens_per_view(p: dict[str, Any]) -> int:
    """``Llama4Processor``: (tile // patch)^2 // downsample_ratio, with
    downsample_ratio = round(1 / pixel_shuffle_ratio^2)."""
    tile = _square_tile(p)
    return (tile // p["patch_size"]) ** 2 // int(round(1.0 / p["pixel_shuffle_ratio"] ** 2))


def _check_llama4(p: dict[str, Any]) -> None:
    positive_int(p, "max_patches", "patch_size")
    tile = _square_tile(p)
    r = p["pixel_shuffle_ratio"]
    if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 < r <= 1 or abs(1 / r - round(1 / r)) > 1e-9:
        raise SpecError(f"llama4: pixel_shuffle_ratio must be 1/k for a positive integer k, got {r!r}")
    if (tile // p["patch_size"]) % shuffle_factor(p):
        raise SpecError(f"llama4: {tile // p['patch_size']} patches a side do not shuffle by {shuffle_factor(p)}")
    if not isinstance(p["resize_to_max_canvas"], bool):
        raise SpecError(f"resize_to_max_canvas must be True or False, got {p['resize_to_max_canvas']!r}")


@per_params
def _llama4_constants(p: dict[str, Any]) -> tuple:
    """What a Llama 4 plan reads from its parameters alone: the tile, the candidate
    canvases, the tokens a view and each view's (features, token grid)."""
    tile = _square_tile(p)
    n = llama4_tokens_per_view(p)
    side = tile // p["patch_size"]
    cells = side // shuffle_factor(p)
    features = ((side, side), (cells, cells) if n else (0, 0))  # as connector_llama4's pixel shuffle says
    return tile, grid_canvases(llama4_grids(p["max_patches"]), tile), n, features


def plan_llama4(image: Size, p: dict[str, Any]) -> PlanParts:
    tile, candidates, n, features = _llama4_constants(p)
    to_max = p["resize_to_max_canvas"]
    ch, cw = best_canvas(image, candidates, True, to_max)
    rows, cols = ch // tile, cw // tile
    resized = llama4_resize(image, ch, cw, tile, to_max)
    canvases, views = tile_views(image, resized, rows, cols, tile, n, features)
    grid = (rows, cols) if rows * cols > 1 else None
    if rows * cols > 1:
        canvases.append(resize_canvas(image, Size(tile, tile)))
        views.append(make_view(canvases, 1, whole(Size(tile, tile)), None, "thumbnail", n, grids=features))
    else:
        views = [views[0]._replace(role="base", grid=None, level=0)]
    info = {"aspect_ratio": (rows, cols), "resized": resized}
    return PlanParts(tuple(canvases), tuple(views), grid, info=info)


def layout_llama4(plan) -> Layout:
    p = plan.params
    rows, cols = plan.info["aspect_ratio"]
    segs: list[Segment] = [Segment(p["start_of_image_token"], 1, TEXT)]
    if rows * cols > 1:
        for r in range(rows):
            for c in range(cols):
                segs.append(Segment(p["patch_token"], plan.views[r * cols + c].tokens, VISUAL, r * cols + c))
                if c < cols - 1:
                    segs.append(Segment(p["tile_x_separator_token"], 1, TEXT))
            segs.append(Segment(p["tile_y_separator_token"], 1, TEXT))
    last = len(plan.views) - 1
    segs += [
        Segment(p["image_token"], 1, TEXT),
        Segment(p["patch_token"], plan.views[last].tokens, VISUAL, last),
        Segment(p["end_of_image_token"], 1, TEXT),
    ]
    return Layout(tuple(segs))


def connector_llama4(p: dict[str, Any], info: dict[str, Any]) -> Connector:
    """Llama4VisionPixelShuffleMLP: pixel shuffle (ratio 0.5: 2 x 2 patches a token),
    then its MLP and the multi-modal projector."""
    return Connector("pixel-shuffle", shuffle_factor(p), patch_size=p["patch_size"])



def fit_llama4(p: dict[str, Any]) -> Knob:
    """``max_patches`` (tiles) from 1 to the preset's value."""
    return counted("max_patches", 1, p["max_patches"])

LLAMA4 = Strategy(
    "llama4",
    plan_llama4,
    layout_llama4,
    {
        "size": FrozenDict(height=336, width=336),
        "max_patches": 16,
        "resize_to_max_canvas": False,
        "patch_size": 14,
        "pixel_shuffle_ratio": 0.5,
        "image_token": "<|image|>",
        "start_of_image_token": "<|image_start|>",
        "end_of_image_token": "<|image_end|>",
        "patch_token": "<|patch|>",
        "tile_x_separator_token": "<|tile_x_separator|>",
        "tile_y_separator_token": "<|tile_y_separator|>",
    },
    "Llama 4: least-scaling canvas of up to max_patches 336 tiles, aspect kept, + global view; pixel shuffle.",
    _check_llama4,
    connector=connector_llama4,
    schema={"max_patches": Int(1, 256), "patch_size": Int(1, 1024)},
    fit=fit_llama4,
)

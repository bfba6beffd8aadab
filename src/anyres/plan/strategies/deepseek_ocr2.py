"""DeepSeek-OCR 2 (transformers' DeepseekOcr2 image processor and processor).

- **Global view**: the image scaled so its longest side is ``size`` (1024; ``tile_size``
  without ``crop_to_patches``), each side ``round``-ed (a side that rounds to 0 px is
  refused, as the reference's resize refuses it), then centred on a square of the longer
  side filled with ``background_color`` (127 grey, ``(side - short) // 2`` before).
- **Local tiles** (``crop_to_patches`` and a side above ``tile_size`` = 768): InternVL's
  nearest-aspect grid of ``min_patches``..``max_patches`` (2..6) tiles of 768, the image
  stretched to the grid and cut row-major.
- **Tokens**: ``ceil(side / patch_size / downsample_ratio)^2`` a view (256 global, 144
  a tile), and one learned view separator; the model orders them tiles, global view,
  separator; the prompt has ``image_token`` at every position.
"""

from __future__ import annotations

import math
from typing import Any

from ...errors import PlanError, SpecError
from ..connector import Connector
from ..plan import PlanParts
from ..schema import Bool, Cost, Int, Text
from ..types import NEWLINE, VISUAL, Canvas, Layout, Segment, Size
from .common import Strategy, edge_value, grid_views, make_view, positive_int, resize_canvas, whole
from .internvl import best_grid


def view_tokens(side: int, p: dict[str, Any]) -> tuple[int, int]:
    """(token grid side, tokens) of a square view, as DeepseekOcr2Processor counts."""
    q = math.ceil(side / p["patch_size"] / p["downsample_ratio"])
    return q, q * q


def global_size(image: Size, target: int) -> Size:
    scale = target / max(image.width, image.height)
    return Size(round(image.width * scale), round(image.height * scale))


def count_path_patches(image: Size, p: dict[str, Any]) -> int:
    """What the image processor's ``get_number_of_image_patches`` returns: it picks the
    grid with ``size`` (not ``tile_size``) as the tile and ignores the "a side above
    tile_size" condition of its processing path."""
    if p["crop_to_patches"] and p["max_patches"] > 1:
        s = p["size"]
        cols, rows = best_grid(image, Size(s, s), p["min_patches"], p["max_patches"])
        if cols * rows > 1:
            return 1 + cols * rows
    return 1


def _check(p: dict[str, Any]) -> None:
    positive_int(p, "size", "tile_size", "min_patches", "max_patches", "patch_size", "downsample_ratio")
    if not isinstance(p["crop_to_patches"], bool):
        raise SpecError(f"deepseek-ocr2: crop_to_patches must be True or False, got {p['crop_to_patches']!r}")
    if p["min_patches"] > p["max_patches"]:
        raise SpecError(f"deepseek-ocr2: min_patches={p['min_patches']} exceeds max_patches={p['max_patches']}")
    unit = p["patch_size"] * p["downsample_ratio"]
    for key in ("size", "tile_size"):  # the processor counts ceil(side / unit)^2 tokens, the tower floors patches
        if p[key] % unit:
            raise SpecError(f"deepseek-ocr2: {key}={p[key]} is not a multiple of patch_size * downsample_ratio = "
                            f"{unit} (anyres plans whole token grids; the released 1024 and 768 are)")


SCHEMA = {
    "size": Int(1, 8192),
    "tile_size": Int(1, 8192),
    "min_patches": Int(1, 1024),
    "max_patches": Int(1, 1024),
    "patch_size": Int(1, 1024),
    "downsample_ratio": Int(1, 1024),
    "crop_to_patches": Bool(),
    "image_token": Text(),
}


def cost_deepseek_ocr2(p: dict[str, Any]) -> Cost:
    """The global square (at most ``size``, or ``tile_size``) plus up to max_patches tiles."""
    side = p["size"] if p["crop_to_patches"] else p["tile_size"]
    tile = p["tile_size"] ** 2
    n = p["max_patches"] if p["crop_to_patches"] else 0
    return Cost(1 + n, max(side * side, tile if n else 0), side * side + n * tile, max(side * side, n * tile),
                drivers=("max_patches", "tile_size", "size"))


def plan_deepseek_ocr2(image: Size, p: dict[str, Any]) -> PlanParts:
    t = p["tile_size"]
    target = p["size"] if p["crop_to_patches"] else t
    g = global_size(image, target)
    if g.width < 1 or g.height < 1:
        raise PlanError(f"deepseek-ocr2: image size {image} scales to {g} for its {target} px global view, "
                        "which the reference's resize refuses (a side rounds to 0 px)")
    side = max(g)
    offset = ((side - g.width) // 2, (side - g.height) // 2)
    # the background_color is 127 grey: int(0.5 * 255), the preset's mean colour
    canvases = [Canvas(whole(image), (g,), Size(side, side), offset, "mean")]
    gq, gn = view_tokens(p["size"], p)  # the processor counts the global view at ``size`` even when it is not
    f = side // p["patch_size"]
    views = [make_view(canvases, 0, whole(Size(side, side)), None, "base", gn, grids=((f, f), (gq, gq)))]
    grid = None
    if p["crop_to_patches"] and max(image.width, image.height) > t:
        cols, rows = best_grid(image, Size(t, t), p["min_patches"], p["max_patches"])
        canvases.append(resize_canvas(image, Size(t * cols, t * rows)))
        tq, tn = view_tokens(t, p)
        views += grid_views(canvases, 1, rows, cols, Size(t, t), tn, grids=((t // p["patch_size"],) * 2, (tq, tq)))
        grid = (rows, cols)
    info: dict[str, Any] = {"num_local_patches": len(views) - 1, "global_resized": g, "tile_grid": grid}
    warnings: tuple[str, ...] = ()
    counted = count_path_patches(image, p)
    if counted != len(views):
        info["reference_count_path"] = counted
        warnings = (f"DeepseekOcr2ImageProcessor.get_number_of_image_patches reports {counted} patches for {image}; "
                    f"its processing path makes {len(views)} (this plan follows the processing path)",)
    if view_tokens(side, p)[1] != gn:
        warnings += (f"deepseek-ocr2: the processor reserves {gn} tokens for the global view (counted at size="
                    f"{p['size']}), but the view is {side} px (crop_to_patches=False resizes it to tile_size), "
                    f"which the model encodes to {view_tokens(side, p)[1]}",)
    return PlanParts(tuple(canvases), tuple(views), grid, newline_tokens=1, info=info, warnings=warnings)


def layout_deepseek_ocr2(plan) -> Layout:
    """The tiles, the global view, the view separator: all ``image_token``."""
    tok = plan.params["image_token"]
    n = len(plan.views)
    segs = [Segment(tok, plan.views[i].tokens, VISUAL, i) for i in range(1, n)]
    segs += [Segment(tok, plan.views[0].tokens, VISUAL, 0), Segment(tok, 1, NEWLINE)]
    return Layout(tuple(segs))


def translate_deepseek_ocr2(kw: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The processor's ``size={"height", "width"}`` (square: the global view's side)."""
    if isinstance(kw.get("size"), dict):
        h, w = edge_value(kw, "size", "height", "width")
        if h != w:
            raise SpecError(f"deepseek-ocr2: the global view is square, got size height={h} width={w}")
        kw["size"] = h
    return kw


def connector_deepseek_ocr2(p: dict[str, Any], info: dict[str, Any]) -> Connector:
    """SAM ViT patches downsampled ``downsample_ratio`` x a side, DeepSeek's query
    encoder and projector, one learned view separator: anyres stands in with
    ``downsample_ratio`` average pooling and one learned separator embedding."""
    return Connector("pool", p["downsample_ratio"], learned=True, patch_size=p["patch_size"], tower_merges=(1,))


DEEPSEEK_OCR2 = Strategy(
    "deepseek-ocr2",
    plan_deepseek_ocr2,
    layout_deepseek_ocr2,
    {
        "size": 1024,
        "tile_size": 768,
        "crop_to_patches": True,
        "min_patches": 2,
        "max_patches": 6,
        "patch_size": 16,
        "downsample_ratio": 4,
        "image_token": "<image>",
    },
    "DeepSeek-OCR 2: a 1024 global view padded to a grey square + (long side > 768) 2-6 tiles of 768 by "
    "nearest aspect; 256 + 144 a tile + 1 tokens.",
    _check,
    connector=connector_deepseek_ocr2,
    translate=translate_deepseek_ocr2,
    schema=SCHEMA,
    cost=cost_deepseek_ocr2,
)

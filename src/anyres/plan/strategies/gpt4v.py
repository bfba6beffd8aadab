"""GPT-4V / GPT-4o style token cost: a low-detail view plus 512 px tiles.

detail="low": one 512x512 view, 85 tokens. detail="high": fit inside 2048x2048
(keeping the aspect ratio), then scale down so the shortest side is at most 768;
tiles = ceil(w/512) * ceil(h/512), 170 tokens each, plus the 85-token low view.
The documentation does not say how the tiles are placed. ``tiling="overlap"`` spreads
them evenly so that they overlap instead of padding (a 768 side gets two 512 tiles that
share 256 px, the overlap LLaVA-UHD's pilot study blames for double counting);
``tiling="pad"`` cuts from the top-left and pads the last tile.
"""

from __future__ import annotations

import math
from typing import Any

from ...errors import SpecError
from ..plan import PlanParts
from ..types import Box, Canvas, Size
from ..connector import Connector, query_grid
from ..knobs import Knob
from .common import Strategy, image_token_layout, make_view, positive_int, resize_canvas, whole
from ..schema import Choice, Cost, Int, Text


def high_detail_size(image: Size, p: dict[str, Any]) -> Size:
    w, h = float(image.width), float(image.height)
    fit = p["max_size"]
    if max(w, h) > fit:
        s = fit / max(w, h)
        w, h = w * s, h * s
    if min(w, h) > p["shortest_side"]:
        s = p["shortest_side"] / min(w, h)
        w, h = w * s, h * s
    return Size(max(1, round(w)), max(1, round(h)))


def tile_starts(length: int, tile: int, n: int, mode: str) -> list[tuple[int, int]]:
    """(start, end) of each tile along one axis, clipped to the content."""
    if mode == "pad" or n == 1:
        return [(i * tile, min(length, (i + 1) * tile)) for i in range(n)]
    return [(round(i * (length - tile) / (n - 1)), round(i * (length - tile) / (n - 1)) + tile) for i in range(n)]


def _check(p: dict[str, Any]) -> None:
    positive_int(p, "tile_size", "patch_size", "max_size", "shortest_side", "base_tokens", "tile_tokens")
    if p["detail"] not in ("low", "high"):
        raise SpecError(f"detail must be 'low' or 'high', got {p['detail']!r}")
    if p["tiling"] not in ("overlap", "pad"):
        raise SpecError(f"tiling must be 'overlap' or 'pad', got {p['tiling']!r}")


SCHEMA = {
    "detail": Choice("low", "high"),
    "tile_size": Int(),
    "patch_size": Int(1, 1024),
    "max_size": Int(),
    "shortest_side": Int(),
    "base_tokens": Int(1, 65536),
    "tile_tokens": Int(1, 65536),
    "tiling": Choice("overlap", "pad"),
    "image_token": Text(),
}


def cost_gpt4v(p: dict[str, Any]) -> Cost:
    """The low view plus the tiles of the largest high-detail size (long side
    max_size, short side min(shortest_side, max_size)), on a canvas of whole tiles."""
    t = p["tile_size"]
    if p["detail"] == "low":
        return Cost(1, t * t, t * t, t * t, drivers=("tile_size",))
    long, short = p["max_size"], min(p["shortest_side"], p["max_size"])
    cols, rows = math.ceil(long / t), math.ceil(short / t)
    views = 1 + cols * rows
    canvas = max(long, cols * t) * max(short, rows * t)
    return Cost(views, t * t, views * t * t, canvas, drivers=("tile_size", "max_size", "shortest_side"))


def plan_gpt4v(image: Size, p: dict[str, Any]) -> PlanParts:
    t = p["tile_size"]
    low = Size(t, t)
    canvases = [resize_canvas(image, low)]
    side = t // p["patch_size"]
    views = [make_view(canvases, 0, whole(low), None, "base", p["base_tokens"],
                       grids=((side, side), query_grid(p["base_tokens"])))]  # as connector_gpt4v says
    if p["detail"] == "low":
        return PlanParts(tuple(canvases), tuple(views), None)
    size = high_detail_size(image, p)
    cols, rows = math.ceil(size.width / t), math.ceil(size.height / t)
    xs = tile_starts(size.width, t, cols, p["tiling"])
    ys = tile_starts(size.height, t, rows, p["tiling"])
    padded = Size(max(size.width, xs[-1][0] + t), max(size.height, ys[-1][0] + t))
    canvases.append(Canvas(whole(image), (size,), padded))
    tile_grids = ((side, side), query_grid(p["tile_tokens"]))
    for r, (y0, y1) in enumerate(ys):
        for c, (x0, x1) in enumerate(xs):
            crop = Box(x0, y0, x0 + t, y0 + t)
            view = make_view(canvases, 1, crop, None, "tile", p["tile_tokens"], (r, c), 1, tile_grids)
            views.append(view)
    return PlanParts(tuple(canvases), tuple(views), (rows, cols), info={"resized": size})


def connector_gpt4v(p: dict[str, Any], info: dict[str, Any]) -> Connector:
    """GPT-4V's documented counts, served by one resampler a count."""
    return Connector("resampler", learned=True, patch_size=p["patch_size"],
                     queries=tuple(sorted({p["base_tokens"], p["tile_tokens"]})))


def fit_gpt4v(p: dict[str, Any]) -> Knob:
    """``detail``: "low" (one view), and "high" when the preset asks for it."""
    values = ("low", "high") if p["detail"] == "high" else ("low",)
    return Knob("detail", tuple({"detail": v} for v in values))

GPT4V = Strategy(
    "gpt4v",
    plan_gpt4v,
    image_token_layout,
    {
        "detail": "high",
        "tile_size": 512,
        "patch_size": 14,  # the ViT whose features the resamplers read
        "max_size": 2048,
        "shortest_side": 768,
        "base_tokens": 85,
        "tile_tokens": 170,
        "tiling": "overlap",
        "image_token": "<image>",
    },
    "GPT-4V/4o token cost: 85-token low view + 170 per 512 tile after fitting 2048 and shortest side 768.",
    _check,
    connector=connector_gpt4v,
    schema=SCHEMA,
    cost=cost_gpt4v,
    fit=fit_gpt4v,
)

"""Qwen2-VL native resolution (``smart_resize``) and the token count of its PatchMerger."""

from __future__ import annotations

import math
from typing import Any

from ...errors import PlanError, SpecError
from ..plan import PlanParts
from ..types import Size
from ..connector import Connector
from .common import Strategy, aspect_limit, image_token_layout, make_view, positive_int, resize_canvas, whole
from ..schema import Cost, Int, Number, Text


def smart_resize(image: Size, factor: int, min_pixels: int, max_pixels: int) -> Size:
    """Both sides multiples of ``factor``, area within [min_pixels, max_pixels].

    Python's ``round`` (ties to even) as in the reference.
    """
    h, w = image.height, image.width
    h_bar = round(h / factor) * factor
    w_bar = round(w / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((h * w) / max_pixels)
        h_bar = max(factor, math.floor(h / beta / factor) * factor)
        w_bar = max(factor, math.floor(w / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (h * w))
        h_bar = math.ceil(h * beta / factor) * factor
        w_bar = math.ceil(w * beta / factor) * factor
    return Size(w_bar, h_bar)


def _check(p: dict[str, Any]) -> None:
    positive_int(p, "patch_size", "merge_size", "temporal_patch_size", "max_pixels")
    if isinstance(p["min_pixels"], bool) or not isinstance(p["min_pixels"], int) or p["min_pixels"] < 0:
        raise SpecError(f"min_pixels must be a non-negative integer, got {p['min_pixels']!r}")
    if p["min_pixels"] > p["max_pixels"]:
        raise SpecError(f"min_pixels={p['min_pixels']} exceeds max_pixels={p['max_pixels']}")


SCHEMA = {
    "patch_size": Int(1, 1024),
    "merge_size": Int(1, 64),
    "temporal_patch_size": Int(1, 64),
    "min_pixels": Int(0, 2**40),
    "max_pixels": Int(1, 2**40),
    "max_aspect_ratio": Number(1, 1e6),
    "image_token": Text(),
}


def cost_native(p: dict[str, Any]) -> Cost:
    """One view of about max(min_pixels, max_pixels); rounding to whole merge blocks
    adds at most a block along each side of the longest allowed aspect ratio."""
    factor = p["patch_size"] * p["merge_size"]
    area = max(p["min_pixels"], p["max_pixels"], factor * factor)
    bound = area + 2 * factor * math.isqrt(int(area * p["max_aspect_ratio"]) + 1) + factor * factor
    return Cost(1, bound, bound, bound, drivers=("max_pixels", "min_pixels"))


def plan_native(image: Size, p: dict[str, Any]) -> PlanParts:
    aspect_limit(image, p["max_aspect_ratio"], "qwen2-vl")
    factor = p["patch_size"] * p["merge_size"]
    size = smart_resize(image, factor, p["min_pixels"], p["max_pixels"])
    if size.width < factor or size.height < factor:
        raise PlanError(
            f"qwen2-vl: image size {image} resizes to {size}, below one {factor}x{factor} merge block "
            f"(min_pixels={p['min_pixels']} is too small to hold it)"
        )
    grid_h, grid_w = size.height // p["patch_size"], size.width // p["patch_size"]
    tokens = (grid_h // p["merge_size"]) * (grid_w // p["merge_size"])
    canvases = [resize_canvas(image, size)]
    view = make_view(canvases, 0, whole(size), None, "base", tokens)
    return PlanParts(tuple(canvases), (view,), None, info={"grid_thw": (1, grid_h, grid_w), "resized": size})


def connector_native(p: dict[str, Any], info: dict[str, Any]) -> Connector:
    """The tower merges merge_size x merge_size patches (PatchMerger); M-RoPE ids."""
    m = p["merge_size"]
    return Connector("patch-merger", m, learned=True, patch_size=p["patch_size"],
                     temporal_patch=p["temporal_patch_size"], packing_merge=m, tower_merges=(m,), position_ids="mrope")

QWEN2_VL = Strategy(
    "native",
    plan_native,
    image_token_layout,
    {
        "patch_size": 14,
        "merge_size": 2,
        "temporal_patch_size": 2,
        "min_pixels": 56 * 56,
        "max_pixels": 28 * 28 * 1280,
        "max_aspect_ratio": 200,
        "image_token": "<|image_pad|>",
    },
    "Qwen2-VL native resolution: smart_resize to multiples of patch*merge within "
    "[min_pixels, max_pixels]; one token per merge block.",
    _check,
    connector=connector_native,
    schema=SCHEMA,
    cost=cost_native,
)

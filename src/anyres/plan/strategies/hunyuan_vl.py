"""HunYuan-VL (transformers' HunYuanVL image processor and processor).

Geometry is Qwen2-VL's ``smart_resize`` (``native.smart_resize``) with HunYuan's
constants: patch 16, merge 2 (sides multiples of 32), one frame, the area within
``[512 * 512, 2048 * 2048]`` px, refused above a 200:1 aspect ratio. Patches are
flattened in raster order (row by row of 16 px patches, not by 2x2 merge blocks).

Tokens: the vision merger turns each 2x2 block into one token, appends a learned
newline after every row of tokens, and wraps the image in learned begin and end
embeddings, so an image of ``gh x gw`` patches takes ``(gh/2) * (gw/2 + 1) + 2``
positions, all ``image_token`` placeholders in the prompt (the processor's
``cat_extra_token=True``; the ``<image_start>``/``<image_end>`` wrappers are the
user's prompt text and not counted).

``resize=False`` is the reference's ``do_resize=False``: the image is cut at its own
size (no pixel bounds, no aspect limit), which needs both sides to be multiples of
``patch_size * merge_size``.
"""

from __future__ import annotations

import math
from typing import Any

from ...errors import PlanError, SpecError
from ..connector import Connector
from ..plan import PlanParts
from ..schema import Bool, Cost, Int, Text
from ..types import NEWLINE, VISUAL, Layout, Segment, Size
from .common import Strategy, make_view, positive_int, resize_canvas, whole
from .native import smart_resize, translate_native

MAX_ASPECT_RATIO = 200


def _check(p: dict[str, Any]) -> None:
    positive_int(p, "patch_size", "merge_size", "max_pixels")
    if p["temporal_patch_size"] != 1:
        raise SpecError(f"hunyuan-vl: images take one frame (temporal_patch_size=1), got {p['temporal_patch_size']!r}")
    if isinstance(p["min_pixels"], bool) or not isinstance(p["min_pixels"], int) or p["min_pixels"] < 0:
        raise SpecError(f"hunyuan-vl: min_pixels must be a non-negative integer, got {p['min_pixels']!r}")
    if p["min_pixels"] > p["max_pixels"]:
        raise SpecError(f"hunyuan-vl: min_pixels={p['min_pixels']} exceeds max_pixels={p['max_pixels']}")


SCHEMA = {
    "patch_size": Int(1, 1024),
    "merge_size": Int(1, 64),
    "temporal_patch_size": Int(1, 1),
    "min_pixels": Int(0, 2**40),
    "max_pixels": Int(1, 2**40),
    "cat_extra_token": Bool(),
    "resize": Bool(),
    "image_token": Text(),
}


def cost_hunyuan_vl(p: dict[str, Any]) -> Cost:
    """One view of about max(min_pixels, max_pixels); rounding to whole 32 px blocks
    adds at most a block along each side at the 200:1 limit (``native``'s bound)."""
    factor = p["patch_size"] * p["merge_size"]
    area = max(p["min_pixels"], p["max_pixels"], factor * factor)
    bound = area + 2 * factor * math.isqrt(int(area * MAX_ASPECT_RATIO) + 1) + factor * factor
    return Cost(1, bound, bound, bound, drivers=("max_pixels", "min_pixels"))


def as_is(image: Size, factor: int) -> Size:
    """``resize=False`` (the reference's ``do_resize=False``): the image at its own size,
    which its patchify cuts only when both sides are multiples of patch x merge."""
    if image.width % factor or image.height % factor:
        raise PlanError(f"hunyuan-vl: image size {image} is not a multiple of {factor} px (patch_size x merge_size) "
                        f"on both sides, which resize=False (do_resize=False) needs")
    return image


def plan_hunyuan_vl(image: Size, p: dict[str, Any]) -> PlanParts:
    patch, m = p["patch_size"], p["merge_size"]
    factor = patch * m
    if p["resize"]:
        ratio = max(image) / min(image)
        if ratio > MAX_ASPECT_RATIO:
            raise PlanError(f"hunyuan-vl: image size {image} has aspect ratio {ratio:.1f}, above the reference's "
                            f"limit of {MAX_ASPECT_RATIO}")
        size = smart_resize(image, factor, p["min_pixels"], p["max_pixels"])
    else:
        size = as_is(image, factor)
    if size.width < factor or size.height < factor:
        raise PlanError(f"hunyuan-vl: image size {image} resizes to {size}, below one {factor}x{factor} merge block "
                        f"(min_pixels={p['min_pixels']} is too small to hold it)")
    gh, gw = size.height // patch, size.width // patch
    th, tw = gh // m, gw // m
    canvases = [resize_canvas(image, size) if size != image else resize_canvas(image)]
    view = make_view(canvases, 0, whole(size), None, "base", th * tw, grids=((gh, gw), (th, tw)))
    thw = (1, gh, gw)
    extra = 2 if p["cat_extra_token"] else 0
    return PlanParts(tuple(canvases), (view,), None, newline_tokens=th + extra,
                     info={"grid_thw": thw, "image_grid_thw": thw, "resized": size})


def layout_hunyuan_vl(plan) -> Layout:
    """Begin, each row of tokens and its newline, end: all ``image_token`` placeholders."""
    tok = plan.params["image_token"]
    th, tw = plan.views[0].token_grid
    row = (Segment(tok, tw, VISUAL, 0), Segment(tok, 1, NEWLINE))
    segs = [seg for _ in range(th) for seg in row]
    if plan.params["cat_extra_token"]:
        segs = [Segment(tok, 1, NEWLINE), *segs, Segment(tok, 1, NEWLINE)]
    return Layout(tuple(segs))


def connector_hunyuan_vl(p: dict[str, Any], info: dict[str, Any]) -> Connector:
    """A merge-free tower over raster patches, then HunYuan's merger (a 2x2 conv, a row
    newline, begin and end embeddings): anyres stands in with merge_size x merge_size
    average pooling and one learned newline embedding for all three (``learned``)."""
    return Connector("pool", p["merge_size"], learned=True, patch_size=p["patch_size"], packing_merge=1,
                     tower_merges=(1,), position_ids="1d")


HUNYUAN_VL = Strategy(
    "hunyuan-vl",
    plan_hunyuan_vl,
    layout_hunyuan_vl,
    {
        "patch_size": 16,
        "merge_size": 2,
        "temporal_patch_size": 1,
        "min_pixels": 512 * 512,
        "max_pixels": 2048 * 2048,
        "cat_extra_token": True,
        "resize": True,
        "image_token": "<image>",
    },
    "HunYuan-VL: smart_resize to multiples of 32 within [512^2, 2048^2] px; a token a 2x2 merge, a newline a "
    "row, begin and end.",
    _check,
    connector=connector_hunyuan_vl,
    translate=translate_native,
    schema=SCHEMA,
    cost=cost_hunyuan_vl,
)

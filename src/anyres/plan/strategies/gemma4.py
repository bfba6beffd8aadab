"""Gemma 4: a patch budget at the image's aspect ratio, pooled k x k into soft tokens.

Mirrors transformers' Gemma4 image processor (``get_aspect_ratio_preserving_size``): with
``max_patches = max_soft_tokens * k^2`` (k = ``pooling_kernel_size``), the image is scaled
by ``sqrt(max_patches * patch^2 / (h * w))`` (up or down) and each side floored to a
multiple of ``k * patch``. A side that floors to 0 becomes one ``k * patch`` unit and
the other ``floor(long / short)`` units, capped at ``max_patches / k^2`` units; both 0,
or a result over the patch budget, is refused by the reference (``PlanError`` here).
The encoder sees one view of whole ``patch`` px patches (padded to ``max_patches`` rows
with position -1 in the processor's output); the pooler averages k x k patches, so the
image takes ``(h / patch) * (w / patch) / k^2`` soft tokens, and the prompt is
``boi``, that many image tokens, ``eoi``.
"""

from __future__ import annotations

import math
from typing import Any

from ...errors import PlanError, SpecError
from ..connector import Connector
from ..plan import PlanParts
from ..types import TEXT, VISUAL, Layout, Segment, Size
from ..schema import Int
from ..knobs import Knob, listed
from .common import Strategy, make_view, positive_int, resize_canvas, whole

SUPPORTED_SOFT_TOKENS = (70, 140, 280, 560, 1120)


def gemma4_size(image: Size, patch: int, max_patches: int, k: int) -> Size:
    """``get_aspect_ratio_preserving_size`` as (width, height); PlanError where the
    reference raises."""
    height, width = image.height, image.width
    target_px = max_patches * patch**2
    factor = math.sqrt(target_px / (height * width))
    unit = k * patch
    th = int(math.floor(factor * height / unit)) * unit
    tw = int(math.floor(factor * width / unit)) * unit
    if th == 0 and tw == 0:
        raise PlanError(f"gemma4: image size {image} resizes to 0x0 (sides must be multiples of {unit})")
    longest = (max_patches // k**2) * unit
    if th == 0:
        th, tw = unit, min(int(math.floor(width / height)) * unit, longest)
    elif tw == 0:
        tw, th = unit, min(int(math.floor(height / width)) * unit, longest)
    if th * tw > target_px:
        raise PlanError(
            f"gemma4: image size {image} resizes to {tw}x{th}, over the budget of {max_patches} patches of {patch} px"
        )
    return Size(tw, th)


def max_patches(p: dict[str, Any]) -> int:
    return p["max_soft_tokens"] * p["pooling_kernel_size"] ** 2


def _check(p: dict[str, Any]) -> None:
    positive_int(p, "patch_size", "pooling_kernel_size", "max_soft_tokens")
    if p["max_soft_tokens"] not in SUPPORTED_SOFT_TOKENS:
        raise SpecError(f"gemma4: max_soft_tokens must be one of {SUPPORTED_SOFT_TOKENS}, got {p['max_soft_tokens']}")


def plan_gemma4(image: Size, p: dict[str, Any]) -> PlanParts:
    patch, k = p["patch_size"], p["pooling_kernel_size"]
    target = gemma4_size(image, patch, max_patches(p), k)
    tokens = (target.height // patch) * (target.width // patch) // k**2
    canvases = [resize_canvas(image, target)]
    view = make_view(canvases, 0, whole(target), None, "base", tokens)
    info = {"patches": (target.height // patch, target.width // patch), "num_soft_tokens": tokens}
    return PlanParts(tuple(canvases), (view,), None, info=info)


def layout_gemma4(plan) -> Layout:
    p = plan.params
    return Layout((
        Segment(p["boi_token"], 1, TEXT),
        Segment(p["image_token"], plan.views[0].tokens, VISUAL, 0),
        Segment(p["eoi_token"], 1, TEXT),
    ))


def connector_gemma4(p: dict[str, Any], info: dict[str, Any]) -> Connector:
    """Gemma4VisionPooler: k x k average pooling by patch position, then the embedder."""
    return Connector("pool", p["pooling_kernel_size"], patch_size=p["patch_size"])



def fit_gemma4(p: dict[str, Any]) -> Knob:
    """``max_soft_tokens`` among the released budgets (70, 140, 280, 560, 1120) up to
    the preset's value."""
    return listed("max_soft_tokens", SUPPORTED_SOFT_TOKENS, p["max_soft_tokens"])

GEMMA4 = Strategy(
    "gemma4",
    plan_gemma4,
    layout_gemma4,
    {
        "patch_size": 16,
        "max_soft_tokens": 280,
        "pooling_kernel_size": 3,
        # the tokenizer's boi / image / eoi tokens (Gemma4Processor reads them from the tokenizer;
        # these are Gemma 3's names, set them from your checkpoint's tokenizer)
        "boi_token": "<start_of_image>",
        "image_token": "<image_soft_token>",
        "eoi_token": "<end_of_image>",
    },
    "Gemma 4: a budget of max_soft_tokens * k^2 patches at the image's aspect ratio, k x k pooled.",
    _check,
    connector=connector_gemma4,
    schema={"max_soft_tokens": Int(1, 1 << 16), "pooling_kernel_size": Int(1, 64), "patch_size": Int(1, 1024)},
    fit=fit_gemma4,
)

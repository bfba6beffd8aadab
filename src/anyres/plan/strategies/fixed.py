"""Fixed resolution (plain resize, LLaVA-1.5 square pad, CLIP crop) and dynamic resolution."""

from __future__ import annotations

import math
from typing import Any

from ...errors import SpecError
from ..plan import PlanParts
from ..types import Box, Canvas, Size
from ..knobs import Knob
from .common import Strategy, image_token_layout, make_view, positive_int, resize_canvas, whole
from ..schema import Anything, Bool, Cost, Int, Items, Optional, SizeValue, Text

IMAGE_TOKEN = "<image>"


def target_size(value: Any, name: str = "size") -> Size:
    """An int S means S x S; a pair means (width, height)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return Size(value, value)
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
    ):
        return Size(value[0], value[1])
    raise SpecError(f"parameter {name} must be a positive int or a (width, height) pair, got {value!r}")


def view_tokens(size: Size, p: dict[str, Any]) -> int:
    patch = p["patch_size"]
    return (size.width // patch) * (size.height // patch) + (1 if p.get("keep_cls") else 0)


def view_grids_of(size: Size, p: dict[str, Any]) -> tuple:
    """(features, token_grid) of a fixed view: one token a patch (as plain_connector says)."""
    g = (size.height // p["patch_size"], size.width // p["patch_size"])
    return (g, g)


def _check_fixed(p: dict[str, Any]) -> None:
    positive_int(p, "patch_size")
    s = target_size(p["size"])
    if s.width < p["patch_size"] or s.height < p["patch_size"]:
        raise SpecError(f"size {s} is smaller than one patch of {p['patch_size']} px")


_BASE_SCHEMA = {"size": SizeValue(), "patch_size": Int(1, 1024), "keep_cls": Bool(), "image_token": Text()}
FIXED_SCHEMA = {**_BASE_SCHEMA, "shortest_edge": Optional(Int()), "document": Bool()}
PAD_SCHEMA = {**_BASE_SCHEMA, "pad_color": Anything()}
PAD_COLOURS = ("mean", "white", "black")


def check_pad_colour(value: Any) -> None:
    """``pad_color``: "mean" (LLaVA-1.5: int(mean * 255) a channel), "white", "black", or
    an (r, g, b) triple of integers 0..255."""
    if isinstance(value, str) and value in PAD_COLOURS:
        return
    if isinstance(value, tuple) and len(value) == 3 and all(
        isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in value
    ):
        return
    raise SpecError(f"pad_color must be one of {', '.join(PAD_COLOURS)} or an (r, g, b) triple of integers 0..255, "
                    f"got {value!r}")


def _check_fixed_pad(p: dict[str, Any]) -> None:
    _check_fixed(p)
    check_pad_colour(p["pad_color"])


# the seed's document transform: a white square canvas, Lanczos, then a sharpen filter
DOCUMENT_PIXELS = {"resample": "lanczos", "sharpen": True}
DYNAMIC_SCHEMA = {**_BASE_SCHEMA, "resolutions": Items(SizeValue())}


def cost_fixed(p: dict[str, Any]) -> Cost:
    """One view of ``size``; fixed's canvas is that view (the pad and crop canvases
    follow the image: ``plan`` bounds them)."""
    s = target_size(p["size"])
    return Cost(1, s.area, s.area, s.area, drivers=("size",))


def cost_dynamic(p: dict[str, Any]) -> Cost:
    largest = max(target_size(r, "resolutions").area for r in p["resolutions"])
    return Cost(1, largest, largest, largest, drivers=("resolutions",))


def plan_fixed(image: Size, p: dict[str, Any]) -> PlanParts:
    """Plain resize to ``size``; ``document=True``: the seed's document transform (the
    image centred on a white square, resized with Lanczos, then sharpened: Pillow's 3 x 3
    SHARPEN kernel, centre 32 and -2 around it, over 16), as the pixel settings the plan
    carries say."""
    if p["document"]:
        parts = plan_fixed_pad(image, {**p, "pad_color": "white"})
        return PlanParts(parts.canvases, parts.views, None, info={"pixels": DOCUMENT_PIXELS})
    size = target_size(p["size"])
    canvases = [resize_canvas(image, size)]
    view = make_view(canvases, 0, whole(Size(*size)), None, "base", view_tokens(size, p),
                     grids=view_grids_of(size, p))
    return PlanParts(tuple(canvases), (view,), None)


def plan_fixed_pad(image: Size, p: dict[str, Any]) -> PlanParts:
    """LLaVA-1.5 ``expand2square``: centre on a square of the longer side, then resize.
    ``pad_color``: the square's colour (the reference's mean colour by default)."""
    size = target_size(p["size"])
    side = max(image.width, image.height)
    canvases = [square_pad_canvas(image, p["pad_color"])]
    view = make_view(canvases, 0, Box(0, 0, side, side), size, "base", view_tokens(size, p),
                     grids=view_grids_of(size, p))
    return PlanParts(tuple(canvases), (view,), None)


def square_pad_canvas(image: Size, fill: Any = "mean") -> Canvas:
    """``expand2square`` / ``pad_to_square``: the image centred on a square filled with
    ``fill`` (the mean colour by default; ``Canvas.fill`` lists the others)."""
    side = max(image.width, image.height)
    offset = ((side - image.width) // 2, (side - image.height) // 2)
    return Canvas(whole(image), (), Size(side, side), offset, fill=fill)


def clip_resize(image: Size, shortest: int) -> Size:
    """transformers' ``get_resize_output_image_size`` with ``default_to_square=False``."""
    short, long = (image.width, image.height) if image.width <= image.height else (image.height, image.width)
    new_long = int(shortest * long / short)
    if image.width <= image.height:
        return Size(shortest, new_long)
    return Size(new_long, shortest)


def plan_fixed_crop(image: Size, p: dict[str, Any]) -> PlanParts:
    """CLIP: resize the shortest side to S (bicubic), then centre-crop S x S."""
    crop = target_size(p["size"])
    resized = clip_resize(image, min(crop.width, crop.height) if p["shortest_edge"] is None else p["shortest_edge"])
    canvases = [resize_canvas(image, resized)]
    if crop.width > resized.width or crop.height > resized.height:
        raise SpecError(f"crop {crop} is larger than the resized image {resized}")
    top = int((resized.height - crop.height) / 2.0)
    left = int((resized.width - crop.width) / 2.0)
    box = Box(left, top, left + crop.width, top + crop.height)
    view = make_view(canvases, 0, box, None, "base", view_tokens(crop, p),
                     grids=view_grids_of(crop, p))
    return PlanParts(tuple(canvases), (view,), None)


def nearest_resolution(image: Size, resolutions: list[Size]) -> Size:
    """The supported resolution whose aspect ratio is nearest to the image's.

    Distance is |log(aspect) - log(candidate aspect)| so that 2:1 and 1:2 are equally
    far from 1:1. Ties go to the largest candidate whose area does not exceed the
    image's; if every tied candidate is larger than the image, to the smallest.
    """
    log_ar = math.log(image.width / image.height)
    dists = [abs(log_ar - math.log(r.width / r.height)) for r in resolutions]
    best = min(dists)
    tied = [r for r, d in zip(resolutions, dists) if d - best <= 1e-12]
    fitting = [r for r in tied if r.area <= image.area]
    if fitting:
        return max(fitting, key=lambda r: r.area)
    return min(tied, key=lambda r: r.area)


def _check_dynamic(p: dict[str, Any]) -> None:
    positive_int(p, "patch_size")
    if not p["resolutions"]:
        raise SpecError("dynamic needs at least one resolution")
    for r in p["resolutions"]:
        target_size(r, "resolutions")


def plan_dynamic(image: Size, p: dict[str, Any]) -> PlanParts:
    chosen = nearest_resolution(image, [target_size(r, "resolutions") for r in p["resolutions"]])
    canvases = [resize_canvas(image, chosen)]
    view = make_view(canvases, 0, whole(chosen), None, "base", view_tokens(chosen, p),
                     grids=view_grids_of(chosen, p))
    return PlanParts(tuple(canvases), (view,), None, info={"resolution": chosen})


FIXED = Strategy(
    "fixed",
    plan_fixed,
    image_token_layout,
    {"size": 336, "patch_size": 14, "keep_cls": False, "image_token": IMAGE_TOKEN, "document": False},
    "Plain resize to a fixed size (distorts the aspect ratio); document=True: white square pad, Lanczos, sharpen.",
    _check_fixed,
    schema=FIXED_SCHEMA,
    cost=cost_fixed,
)
FIXED_PAD = Strategy(
    "fixed-pad",
    plan_fixed_pad,
    image_token_layout,
    {"size": 336, "patch_size": 14, "keep_cls": False, "image_token": IMAGE_TOKEN, "pad_color": "mean"},
    "LLaVA-1.5: pad to a square with the mean colour (pad_color: mean, white, black or (r, g, b)), then resize.",
    _check_fixed_pad,
    schema=PAD_SCHEMA,
    cost=cost_fixed,
)
FIXED_CROP = Strategy(
    "fixed-crop",
    plan_fixed_crop,
    image_token_layout,
    {"size": 336, "shortest_edge": None, "patch_size": 14, "keep_cls": False, "image_token": IMAGE_TOKEN},
    "CLIP: resize the shortest side, centre-crop (drops the borders).",
    _check_fixed,
    schema=FIXED_SCHEMA,
    cost=cost_fixed,
)

def fit_dynamic(p: dict[str, Any]) -> Knob:
    """A subset of ``resolutions``: any subset plans as the one resolution it selects."""
    return Knob("resolutions", tuple({"resolutions": (tuple(r),)} for r in p["resolutions"]))

DYNAMIC = Strategy(
    "dynamic",
    plan_dynamic,
    image_token_layout,
    {
        "resolutions": ((336, 336), (672, 336), (336, 672), (672, 672), (1008, 336), (336, 1008)),
        "patch_size": 14,
        "keep_cls": False,
        "image_token": IMAGE_TOKEN,
    },
    "Nearest supported resolution (width, height) by aspect ratio; resize to it.",
    _check_dynamic,
    schema=DYNAMIC_SCHEMA,
    cost=cost_dynamic,
    fit=fit_dynamic,
)

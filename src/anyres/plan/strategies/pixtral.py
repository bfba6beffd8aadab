"""Pixtral / Mistral Small 3.x: the longest edge within a box, sides up to whole units.

Mirrors the processing path of transformers' ``PixtralProcessor`` (which Mistral3 uses
too): the processor passes ``patch_size * spatial_merge_size`` (the *unit*) to the image
processor, which shrinks the image so that it fits ``size`` (``{"longest_edge": L}``:
an L x L box; ``ratio = max(h / max_h, w / max_w)``; when above 1 both sides become
``floor(side / ratio)``, never upscaled), then rounds each side *up* to a whole number of
units, ``((side - 1) // unit + 1) * unit``, and resizes to that in one step (no padding:
the aspect ratio moves by under one unit). A side that floors to 0 (an aspect ratio
beyond the box's side) makes the reference resize to an empty image: a ``PlanError``.

Tokens: one a unit, ``rows x cols``; the prompt is each row's ``[IMG]`` tokens followed
by ``[IMG_BREAK]``, the last row's break being ``[IMG_END]``. Pixtral's encoder gives one
feature a 16 px patch; Mistral3's projector merges 2 x 2 patch features with a learned
linear layer (``Mistral3PatchMerger``; anyres runs it in the token stage).
"""

from __future__ import annotations

import math
from typing import Any

from ...errors import PlanError, SpecError
from ..connector import Connector
from ..frozen import FrozenDict
from ..plan import PlanParts
from ..types import TEXT, VISUAL, Layout, Segment, Size
from ..knobs import Knob
from .common import Strategy, make_view, positive_int, resize_canvas, whole
from .hf_values import longest_edge_box, square_side


def pixtral_resize(image: Size, max_height: int, max_width: int, unit: int) -> Size:
    """``get_resize_output_image_size`` of transformers' Pixtral image processor, as
    (width, height); a side of 0 where the reference's resize would get one."""
    height, width = image.height, image.width
    ratio = max(height / max_height, width / max_width)
    if ratio > 1:
        height = math.floor(height / ratio)
        width = math.floor(width / ratio)
    return Size(((width - 1) // unit + 1) * unit, ((height - 1) // unit + 1) * unit)


def unit(p: dict[str, Any]) -> int:
    return square_side(p["patch_size"], "patch_size") * p["spatial_merge_size"]


def _check(p: dict[str, Any]) -> None:
    positive_int(p, "spatial_merge_size")
    square_side(p["patch_size"], "patch_size")
    longest_edge_box(p["size"])
    for name in ("image_token", "image_break_token", "image_end_token"):
        if not isinstance(p[name], str) or not p[name]:
            raise SpecError(f"parameter {name} must be a non-empty string, got {p[name]!r}")


def plan_pixtral(image: Size, p: dict[str, Any]) -> PlanParts:
    max_h, max_w = longest_edge_box(p["size"])
    u = unit(p)
    target = pixtral_resize(image, max_h, max_w, u)
    if target.width < 1 or target.height < 1:
        raise PlanError(
            f"pixtral: image size {image} has a side that shrinks to 0 px within "
            f"{max_w}x{max_h} (aspect ratio above {max(max_w, max_h)}); the reference cannot resize it"
        )
    rows, cols = target.height // u, target.width // u
    canvases = [resize_canvas(image, target)]
    view = make_view(canvases, 0, whole(target), None, "base", rows * cols)
    info: dict[str, Any] = {"rows": rows, "cols": cols, "image_size": (target.height, target.width)}
    warnings: tuple[str, ...] = ()
    counted = count_path_tokens(image, max_h, max_w, u)
    if counted != (cols + 1) * rows:
        info["reference_count_path"] = counted
        warnings = (
            f"PixtralProcessor._get_num_multimodal_tokens counts {counted} prompt positions for {image} "
            f"(it reads a {image.height}-row zeros array as channels-first), its processing path "
            f"{(cols + 1) * rows}; this plan follows the processing path",
        )
    return PlanParts(tuple(canvases), (view,), None, info=info, warnings=warnings)


def count_path_tokens(image: Size, max_height: int, max_width: int, unit: int) -> int:
    """What ``_get_num_multimodal_tokens`` (serving engines' count) says: it sizes a
    (height, width, 3) zeros array, which transformers reads as channels-first when the
    height is 1 or 3, i.e. as a height of ``width`` and a width of 3."""
    if image.height in (1, 3):
        image = Size(3, image.width)
    size = pixtral_resize(image, max_height, max_width, unit)
    rows, cols = size.height // unit, size.width // unit
    return (cols + 1) * rows


def layout_pixtral(plan) -> Layout:
    """Per row: ``cols`` x [IMG] then [IMG_BREAK]; the last break is [IMG_END]."""
    p = plan.params
    rows, cols = plan.info["rows"], plan.info["cols"]
    segs: list[Segment] = []
    for r in range(rows):
        segs.append(Segment(p["image_token"], cols, VISUAL, 0))
        segs.append(Segment(p["image_end_token"] if r == rows - 1 else p["image_break_token"], 1, TEXT))
    return Layout(tuple(segs))


def connector_pixtral(p: dict[str, Any], info: dict[str, Any]) -> Connector:
    """One token a patch (Pixtral-12B: LLaVA's projector), or Mistral3's learned 2 x 2
    patch merger, which its projector runs on a merge-free tower's patch features (so the
    token stage runs it: ``tower_merges`` is (1,)): RMSNorm, each 2 x 2 block unfolded and
    mapped back to one feature by a bias-free linear layer, then a bias-free MLP."""
    patch = square_side(p["patch_size"], "patch_size")
    merge = p["spatial_merge_size"]
    if merge == 1:
        return Connector(patch_size=patch)
    return Connector("patch-merger", merge, learned=True, patch_size=patch, tower_merges=(1,),
                     projector="mlp2x_gelu_nobias")



def fit_pixtral(p: dict[str, Any]) -> Knob | None:
    """``size={"longest_edge": L}`` from one merged patch to the preset's L; the patch
    grid never shrinks as L grows. A height/width box has no single knob."""
    size = p["size"]
    if set(size) != {"longest_edge"}:
        return None
    return Knob("longest_edge", span=(min(unit(p), size["longest_edge"]), size["longest_edge"]),
                at=lambda v: {"size": {"longest_edge": v}})

PIXTRAL = Strategy(
    "pixtral",
    plan_pixtral,
    layout_pixtral,
    {
        "size": FrozenDict(longest_edge=1024),
        "patch_size": 16,
        "spatial_merge_size": 1,
        "image_token": "[IMG]",
        "image_break_token": "[IMG_BREAK]",
        "image_end_token": "[IMG_END]",
    },
    "Pixtral / Mistral3: fit the longest edge, sides up to whole patches (x merge), [IMG_BREAK] rows.",
    _check,
    connector=connector_pixtral,
    fit=fit_pixtral,
)

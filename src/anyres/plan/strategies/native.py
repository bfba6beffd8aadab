"""Native resolution: one view resized to whole merge blocks within a pixel budget.

The rule of Qwen2-VL's ``smart_resize`` and of the families that reuse it with other
constants (Qwen2.5-VL, Qwen3-VL, GLM-4.1V, PaddleOCR-VL): round both sides to multiples
of ``factor = patch_size * merge_size``; if the area leaves ``[min_pixels, max_pixels]``
scale by ``beta`` (floor when shrinking, ceil when growing). Two switches cover the
variants:

- ``small_sides``: what happens first to a side below ``factor``. ``"keep"`` (Qwen):
  nothing. ``"scale"`` (GLM-4.1V): both sides times ``max(factor / h, factor / w)``,
  truncated to integers. ``"clamp"`` (PaddleOCR-VL): a short height becomes ``factor``
  and the width ``round(w * factor / h)``, then the same for a short width.
- ``temporal_area`` (GLM-4.1V): the budget counts ``temporal_patch_size`` frames, so
  the area compared with ``[min_pixels, max_pixels]`` is ``T * h * w``.

The aspect-ratio limit is checked after ``small_sides``, as the references do.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from ...errors import PlanError, SpecError
from ..plan import PlanParts
from ..types import TEXT, VISUAL, Layout, Segment, Size
from ..connector import Connector
from ..schema import Cost, Int, Number, Text
from ..knobs import Knob
from .common import Strategy, make_view, positive_int, resize_canvas, whole

SMALL_SIDES = ("keep", "scale", "clamp")


def smart_resize(image: Size, factor: int, min_pixels: int, max_pixels: int, frames: int = 1) -> Size:
    """Both sides multiples of ``factor``, ``frames * area`` within [min_pixels, max_pixels].

    Python's ``round`` (ties to even) as in the reference; ``frames`` > 1 is GLM-4.1V's
    temporal budget (its ``t_bar`` is ``frames`` for an image)."""
    h, w = image.height, image.width
    h_bar = round(h / factor) * factor
    w_bar = round(w / factor) * factor
    if frames * h_bar * w_bar > max_pixels:
        beta = math.sqrt((frames * h * w) / max_pixels)
        h_bar = max(factor, math.floor(h / beta / factor) * factor)
        w_bar = max(factor, math.floor(w / beta / factor) * factor)
    elif frames * h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (frames * h * w))
        h_bar = math.ceil(h * beta / factor) * factor
        w_bar = math.ceil(w * beta / factor) * factor
    return Size(w_bar, h_bar)


def lift_small_sides(image: Size, factor: int, rule: str) -> Size:
    """The size the reference continues with when a side is below ``factor``."""
    h, w = image.height, image.width
    if rule == "scale" and (h < factor or w < factor):
        scale = max(factor / h, factor / w)
        h, w = int(h * scale), int(w * scale)
    elif rule == "clamp":
        if h < factor:
            w, h = round((w * factor) / h), factor
        if w < factor:
            h, w = round((h * factor) / w), factor
    return Size(w, h)


def translate_native(kw: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The reference's ``size={...}`` as min_pixels / max_pixels; a parameter also given
    by its own name wins (as min_pixels wins over size in Qwen2-VL's processor)."""
    if "size" not in kw:
        return kw
    from_size = size_alias(kw.pop("size"))
    return {**{k: v for k, v in from_size.items() if k not in kw}, **kw}


def size_alias(value: Any) -> dict[str, Any]:
    """The reference's ``size={"shortest_edge": min_pixels, "longest_edge": max_pixels}``
    (its preprocessor_config.json shape) as the strategy's two parameters."""
    if not isinstance(value, Mapping):
        raise SpecError(
            f"size must be a dict such as {{'shortest_edge': 3136, 'longest_edge': 1003520}}, got {value!r}"
        )
    unknown = sorted(set(value) - {"shortest_edge", "longest_edge", "min_pixels", "max_pixels"})
    if unknown:
        raise SpecError(f"size has keys {', '.join(map(str, unknown))}; a native preset's size takes shortest_edge "
                        "(min_pixels) and longest_edge (max_pixels)")
    lo = value.get("min_pixels", value.get("shortest_edge"))
    hi = value.get("max_pixels", value.get("longest_edge"))
    if lo is None or hi is None:  # the reference's resize refuses such a size too
        raise SpecError(f"size must give both shortest_edge and longest_edge (pixel counts), got {dict(value)!r}")
    return {"min_pixels": lo, "max_pixels": hi}


def _check(p: dict[str, Any]) -> None:
    positive_int(p, "patch_size", "merge_size", "temporal_patch_size", "max_pixels")
    if isinstance(p["min_pixels"], bool) or not isinstance(p["min_pixels"], int) or p["min_pixels"] < 0:
        raise SpecError(f"min_pixels must be a non-negative integer, got {p['min_pixels']!r}")
    if p["min_pixels"] > p["max_pixels"]:
        raise SpecError(f"min_pixels={p['min_pixels']} exceeds max_pixels={p['max_pixels']}")
    if p["small_sides"] not in SMALL_SIDES:
        raise SpecError(f"small_sides must be one of {', '.join(SMALL_SIDES)}, got {p['small_sides']!r}")
    for key in ("temporal_area", "packed_merge_blocks", "merge_sizes_output"):
        if not isinstance(p[key], bool):
            raise SpecError(f"{key} must be True or False, got {p[key]!r}")
    for key in ("vision_start_token", "vision_end_token"):
        if p[key] is not None and (not isinstance(p[key], str) or not p[key]):
            raise SpecError(f"{key} must be a non-empty string or None, got {p[key]!r}")


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
    factor = p["patch_size"] * p["merge_size"]
    lifted = lift_small_sides(image, factor, p["small_sides"])
    ratio = max(lifted) / min(lifted) if min(lifted) > 0 else math.inf
    if ratio > p["max_aspect_ratio"]:
        raise PlanError(f"native: image size {image} has aspect ratio {ratio:.1f}, above the reference's limit of "
                        f"{p['max_aspect_ratio']:g}")
    frames = p["temporal_patch_size"] if p["temporal_area"] else 1
    size = smart_resize(lifted, factor, p["min_pixels"], p["max_pixels"], frames)
    if size.width < factor or size.height < factor:
        raise PlanError(
            f"native: image size {image} resizes to {size}, below one {factor}x{factor} merge block "
            f"(min_pixels={p['min_pixels']} is too small to hold it)"
        )
    grid_h, grid_w = size.height // p["patch_size"], size.width // p["patch_size"]
    tokens = (grid_h // p["merge_size"]) * (grid_w // p["merge_size"])
    canvases = [resize_canvas(image, size)]
    m = p["merge_size"]
    view = make_view(canvases, 0, whole(size), None, "base", tokens,
                     grids=((grid_h, grid_w), (grid_h // m, grid_w // m)))  # as connector_native says
    thw = (1, grid_h, grid_w)
    return PlanParts(tuple(canvases), (view,), None, info={"grid_thw": thw, "image_grid_thw": thw, "resized": size})


def layout_native(plan) -> Layout:
    """``image_token`` once a merged token, inside the vision wrappers when the preset
    has them (Qwen2.5-VL/Qwen3-VL's chat template writes ``<|vision_start|>`` and
    ``<|vision_end|>`` around the ``<|image_pad|>`` the processor expands)."""
    p = plan.params
    segs = [Segment(p["image_token"], plan.views[0].tokens, VISUAL, 0)]
    if p["vision_start_token"] is not None:
        segs.insert(0, Segment(p["vision_start_token"], 1, TEXT))
    if p["vision_end_token"] is not None:
        segs.append(Segment(p["vision_end_token"], 1, TEXT))
    return Layout(tuple(segs))


def connector_native(p: dict[str, Any], info: dict[str, Any]) -> Connector:
    """The tower merges merge_size x merge_size patches (PatchMerger); M-RoPE ids.
    ``packed_merge_blocks=False`` (PaddleOCR-VL): a merge-free tower over patches in
    raster order, then a merge_size x merge_size space-to-depth before the projector.
    ``merge_size=1``: no merge at all."""
    m = p["merge_size"]
    if not p["packed_merge_blocks"]:
        return Connector("pixel-shuffle", m, patch_size=p["patch_size"], temporal_patch=p["temporal_patch_size"],
                         packing_merge=1, tower_merges=(1,), position_ids="mrope")
    if m == 1:  # nothing to merge (VideoLLaMA3's images): one token a patch of a merge-free tower
        return Connector(patch_size=p["patch_size"], temporal_patch=p["temporal_patch_size"], packing_merge=1,
                         tower_merges=(1,), position_ids="mrope")
    return Connector("patch-merger", m, learned=True, patch_size=p["patch_size"],
                     temporal_patch=p["temporal_patch_size"], packing_merge=m, tower_merges=(m,),
                     position_ids="mrope")



def fit_native(p: dict[str, Any]) -> Knob:
    """``max_pixels`` from one merge block (or ``min_pixels``) up to the preset's value:
    the resized area, hence the token count, never shrinks as it grows."""
    factor = p["patch_size"] * p["merge_size"]
    lo = max(p["min_pixels"], factor * factor)
    return Knob("max_pixels", span=(min(lo, p["max_pixels"]), p["max_pixels"]))

QWEN2_VL = Strategy(
    "native",
    plan_native,
    layout_native,
    {
        "patch_size": 14,
        "merge_size": 2,
        "temporal_patch_size": 2,
        "min_pixels": 56 * 56,
        "max_pixels": 28 * 28 * 1280,
        "max_aspect_ratio": 200,
        "image_token": "<|image_pad|>",
        "vision_start_token": None,
        "vision_end_token": None,
        "small_sides": "keep",
        "temporal_area": False,
        "packed_merge_blocks": True,
        "merge_sizes_output": False,  # output="hf" adds image_merge_sizes (VideoLLaMA3's processor does)
    },
    "Native resolution (Qwen2-VL smart_resize and its relatives): resize to multiples of patch*merge within "
    "[min_pixels, max_pixels]; one token per merge block.",
    _check,
    connector=connector_native,
    translate=translate_native,
    schema=SCHEMA,
    cost=cost_native,
    fit=fit_native,
)

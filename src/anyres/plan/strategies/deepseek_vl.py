"""DeepSeek-VL and Janus (transformers' DeepseekVL / Janus image processors, the same
rule): the longest side scaled to ``size`` (384), each side ``round``-ed and raised to
``min_size`` (14), then (``do_pad``) centred on a ``size`` square of the mean colour
(``int(mean * 255)``, ``(side - short) // 2`` before). The processor reserves
``num_image_tokens`` (576: SigLIP 384/16, one token a patch) placeholders, Janus inside
``<begin_of_image>`` / ``<end_of_image>``.

DeepSeek-VL hybrid (``high_res_size``, 1024; transformers' DeepseekVLHybrid image
processor): the same rule at ``high_res_size`` gives the high-resolution view (its SAM
branch, ``high_res_pixel_values``), and the low-resolution view (``pixel_values``) is that
padded uint8 square resized by the same rule to ``size`` (a square stays a square, so its
own padding never shows). The high-resolution features are fused into the low-resolution
ones: the prompt holds ``num_image_tokens`` placeholders as before, and the high-res view
adds no positions (a ``scale`` view of 0 tokens, as S2's larger scales).
"""

from __future__ import annotations

from typing import Any

from ...errors import SpecError
from ..connector import Connector
from ..plan import PlanParts
from ..schema import Bool, Cost, Int, Optional, Text
from ..types import TEXT, VISUAL, Canvas, Layout, Segment, Size
from .common import Strategy, edge_value, make_view, positive_int, resize_canvas, whole


def scaled(image: Size, target: int, min_size: int) -> Size:
    delta = target / max(image.width, image.height)
    return Size(max(round(image.width * delta), min_size), max(round(image.height * delta), min_size))


def _check(p: dict[str, Any]) -> None:
    positive_int(p, "size", "min_size", "patch_size", "num_image_tokens")
    if not isinstance(p["do_pad"], bool):
        raise SpecError(f"deepseek-vl: do_pad must be True or False, got {p['do_pad']!r}")
    if p["min_size"] > p["size"]:
        raise SpecError(f"deepseek-vl: min_size={p['min_size']} exceeds size={p['size']}")
    grid = p["size"] // p["patch_size"]
    if grid * grid != p["num_image_tokens"]:
        raise SpecError(f"deepseek-vl: num_image_tokens={p['num_image_tokens']}, but size={p['size']} and "
                        f"patch_size={p['patch_size']} give {grid * grid} patches, one token each (change them "
                        "together)")
    high = p["high_res_size"]
    if high is not None and (isinstance(high, bool) or not isinstance(high, int) or high < p["min_size"]):
        raise SpecError(f"deepseek-vl: high_res_size must be None or an integer of at least min_size={p['min_size']}, "
                        f"got {high!r}")
    for key in ("image_start_token", "image_end_token"):
        if p[key] is not None and (not isinstance(p[key], str) or not p[key]):
            raise SpecError(f"deepseek-vl: {key} must be a non-empty string or None, got {p[key]!r}")


SCHEMA = {
    "size": Int(1, 8192),
    "min_size": Int(1, 8192),
    "patch_size": Int(1, 1024),
    "num_image_tokens": Int(1, 1 << 20),
    "do_pad": Bool(),
    "image_token": Text(),
    "high_res_size": Optional(Int(1, 8192)),
}


def cost_deepseek_vl(p: dict[str, Any]) -> Cost:
    """One view: the ``size`` square (without padding: long side ``size``, short side at
    most ``size`` too); the hybrid's high-resolution square besides."""
    s = p["size"] ** 2
    if p["high_res_size"] is None:
        return Cost(1, s, s, s, drivers=("size",))
    h = p["high_res_size"] ** 2
    return Cost(2, max(s, h), s + h, h, drivers=("size", "high_res_size"))


def plan_deepseek_vl(image: Size, p: dict[str, Any]) -> PlanParts:
    if p["high_res_size"] is not None:
        return _plan_hybrid(image, p)
    s = p["size"]
    r = scaled(image, s, p["min_size"])
    n = p["num_image_tokens"]
    if not p["do_pad"]:
        canvases = [resize_canvas(image, r)]
        return PlanParts(tuple(canvases), (make_view(canvases, 0, whole(r), None, "base", n),), None,
                         info={"resized": r})
    side = max(r)
    canvases = [Canvas(whole(image), (r,), Size(side, side), ((side - r.width) // 2, (side - r.height) // 2), "mean")]
    view = make_view(canvases, 0, whole(Size(side, side)), None, "base", n)
    return PlanParts(tuple(canvases), (view,), None, info={"resized": r})


def _plan_hybrid(image: Size, p: dict[str, Any]) -> PlanParts:
    """The high-resolution canvas (resized, padded to a mean-colour square), the low-res
    view resized from all of it, then the high-res view (0 tokens: fused, not placed)."""
    r = scaled(image, p["high_res_size"], p["min_size"])
    if p["do_pad"]:
        side = max(r)
        canvas = Canvas(whole(image), (r,), Size(side, side), ((side - r.width) // 2, (side - r.height) // 2), "mean")
    else:
        canvas = resize_canvas(image, r)
    canvases = (canvas,)
    high = canvas.padded
    low = scaled(high, p["size"], p["min_size"])  # a square when padded: no second padding
    views = (
        make_view(canvases, 0, whole(high), low, "base", p["num_image_tokens"]),
        make_view(canvases, 0, whole(high), high, "scale", 0, None, 1),
    )
    return PlanParts(canvases, views, None, info={"resized": r, "high_res": high, "low_res": low})


def layout_deepseek_vl(plan) -> Layout:
    p = plan.params
    segs = [Segment(p["image_token"], plan.views[0].tokens, VISUAL, 0)]
    if p["image_start_token"] is not None:
        segs.insert(0, Segment(p["image_start_token"], 1, TEXT))
    if p["image_end_token"] is not None:
        segs.append(Segment(p["image_end_token"], 1, TEXT))
    return Layout(tuple(segs))


def translate_deepseek_vl(kw: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The processor's ``size={"height", "width"}`` and the hybrid's ``high_res_size``
    (it refuses a non-square one)."""
    for name in ("size", "high_res_size"):
        if isinstance(kw.get(name), dict):
            h, w = edge_value(kw, name, "height", "width")
            if h != w:
                raise SpecError(f"deepseek-vl: {name} must be square (as the reference), got height={h} width={w}")
            kw[name] = h
    return kw


def connector_deepseek_vl(p: dict[str, Any], info: dict[str, Any]) -> Connector:
    """One token a patch of the SigLIP tower (``num_image_tokens`` of them at ``size``),
    then the aligner MLP."""
    return Connector(patch_size=p["patch_size"])


DEEPSEEK_VL = Strategy(
    "deepseek-vl",
    plan_deepseek_vl,
    layout_deepseek_vl,
    {
        "size": 384,
        "min_size": 14,
        "do_pad": True,
        "patch_size": 16,
        "num_image_tokens": 576,
        "image_token": "<image_placeholder>",
        "image_start_token": None,
        "image_end_token": None,
        "high_res_size": None,
    },
    "DeepSeek-VL / Janus: longest side to 384 (short side >= 14), centred on a mean-colour square; 576 tokens. "
    "high_res_size=N (the hybrid): that rule at N as a high-resolution view, the 384 view resized from it.",
    _check,
    connector=connector_deepseek_vl,
    translate=translate_deepseek_vl,
    schema=SCHEMA,
    cost=cost_deepseek_vl,
)

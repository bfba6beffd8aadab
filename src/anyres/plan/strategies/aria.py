"""Aria (``split_image=False``, the class default): longest side to ``max_image_size``,
the other side ``int``-truncated and raised to ``min_image_size``, zero-padded
bottom-right to a ``max_image_size`` square with a pixel mask.

Mirrors transformers' Aria image processor; its processor reserves
``size_conversion[max_image_size]`` tokens (490: 128, 980: 256) a crop, the queries of
Aria's cross-attention projector. The split path (``split_image=True``: LLaVA-NeXT-like
pinpoints times ``max_image_size``) is not reproduced yet and is refused.
"""

from __future__ import annotations

from typing import Any

from ...errors import SpecError
from ..connector import Connector
from ..plan import PlanParts
from ..types import Canvas, Size
from ..knobs import Knob, listed
from .common import Strategy, image_token_layout, make_view, positive_int, whole

SIZE_CONVERSION = {490: 128, 980: 256}


def aria_resize(image: Size, max_size: int, min_size: int) -> Size:
    scale = max_size / max(image.width, image.height)
    if image.width >= image.height:
        return Size(max_size, max(int(image.height * scale), min_size))
    return Size(max(int(image.width * scale), min_size), max_size)


def _check(p: dict[str, Any]) -> None:
    positive_int(p, "min_image_size", "patch_size")
    if p["max_image_size"] not in SIZE_CONVERSION:
        raise SpecError(f"aria: max_image_size must be 490 or 980 (as the reference), got {p['max_image_size']!r}")
    if p["min_image_size"] > p["max_image_size"]:
        raise SpecError(f"aria: min_image_size={p['min_image_size']} exceeds max_image_size={p['max_image_size']}")
    if p["split_image"]:
        raise SpecError("aria: split_image=True is not reproduced by anyres yet (use the default split_image=False)")


def plan_aria(image: Size, p: dict[str, Any]) -> PlanParts:
    m = p["max_image_size"]
    size = aria_resize(image, m, p["min_image_size"])
    canvases = [Canvas(whole(image), (size,), Size(m, m))]
    view = make_view(canvases, 0, whole(Size(m, m)), None, "base", SIZE_CONVERSION[m])
    return PlanParts(tuple(canvases), (view,), None, info={"resized": size})


def connector_aria(p: dict[str, Any], info: dict[str, Any]) -> Connector:
    """Aria's cross-attention projector: size_conversion[max_image_size] learned queries."""
    return Connector("resampler", learned=True, patch_size=p["patch_size"],
                     queries=(SIZE_CONVERSION[p["max_image_size"]],))



def fit_aria(p: dict[str, Any]) -> Knob:
    """``max_image_size`` among Aria's two (490, 980), at least ``min_image_size`` and
    at most the preset's value."""
    values = [v for v in SIZE_CONVERSION if p["min_image_size"] <= v <= p["max_image_size"]]
    return listed("max_image_size", values, p["max_image_size"])

ARIA = Strategy(
    "aria",
    plan_aria,
    image_token_layout,
    {
        "max_image_size": 980,
        "min_image_size": 336,
        "split_image": False,
        "patch_size": 14,
        "image_token": "<|img|>",
    },
    "Aria: longest side to 980 (other side >= 336), zero-padded to 980x980 with a mask; 256 projector queries.",
    _check,
    connector=connector_aria,
    fit=fit_aria,
)

"""anyres.plan: pure geometry. For any image size, what the vision side looks at.

Standard library only (a test enforces that importing it pulls in no numpy, torch or
Pillow). The module itself is callable: ``anyres.plan((1000, 600), "llava-next")``.
"""

from __future__ import annotations

import operator
import os
import sys
import types as _types
from typing import Any

from ..errors import AnyresError, ImageError, PlanError, SpecError
from .diagnostics import CutLine, Diagnostics
from .plan import Plan, PlanParts
from .registry import PixelSettings, Preset, get_preset, presets, register_preset, resolve, unregister_preset
from .spec import format_spec, parse_spec
from .strategies import STRATEGIES, Strategy, register_strategy, unregister_strategy
from .types import Box, Canvas, Layout, Segment, Size, View
from . import builtin as _builtin  # noqa: F401  (registers the built-in presets)

def image_size(image_or_size: Any) -> Size:
    """The (width, height) a plan is made for.

    Accepts ``(width, height)``, a ``Size``, or any source ``anyres.image.probe``
    reads: a path, bytes, a seekable binary file, a PIL image, a numpy array or a torch
    tensor (H x W, H x W x C or channels-first C x H x W). Images are measured as
    ``anyres.load_image`` will present them (after EXIF orientation), from the header
    only.
    """
    if isinstance(image_or_size, Size):
        return _checked(image_or_size.width, image_or_size.height)
    if isinstance(image_or_size, (tuple, list)):
        if len(image_or_size) != 2:
            raise PlanError(f"a size must be (width, height), got {image_or_size!r}")
        return _checked(*image_or_size)
    if _probeable(image_or_size):
        from ..image.probe import probe

        # an encoded file is refused above load_image's default limit (a bomb); pixels
        # already in memory are planned whatever their size
        if _encoded(image_or_size):
            return probe(image_or_size).size
        return probe(image_or_size, max_pixels=None).size
    raise PlanError(
        f"cannot plan for {type(image_or_size).__name__}: pass (width, height), a path, bytes, a PIL image, "
        "an array or a tensor"
    )


def _encoded(source: Any) -> bool:
    return isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview)) or hasattr(source, "read")


def _probeable(source: Any) -> bool:
    return (
        _encoded(source)
        or (hasattr(source, "getexif") and hasattr(source, "size"))
        or (hasattr(source, "shape") and (hasattr(source, "__array__") or hasattr(source, "__array_interface__")))
    )


def _checked(width: Any, height: Any) -> Size:
    try:
        w, h = operator.index(width), operator.index(height)
    except TypeError:
        raise PlanError(f"image size ({width!r}, {height!r}) must be integers") from None
    if w < 1 or h < 1:
        raise PlanError(f"image size {w}x{h} has a side below 1 pixel")
    return Size(w, h)


def plan(image_or_size: Any, preset: str, **overrides: Any) -> Plan:
    """Plan how one image becomes visual tokens under ``preset``.

    ``preset`` is a preset name or a spec string with literal arguments
    (``"internvl(max_tiles=6)"``); keyword ``overrides`` apply on top.
    Raises ``PlanError`` when the strategy cannot serve the size and ``SpecError`` for
    an unknown preset or parameter.
    """
    size = image_size(image_or_size)
    chosen, params, given = resolve(preset, **overrides)
    strategy = STRATEGIES[chosen.strategy]
    if strategy.content is None:
        parts = strategy.plan(size, params)
    else:  # content-aware: a summary of the pixels when there are pixels
        pixels = image_or_size if _has_pixels(image_or_size) else None
        parts = strategy.plan(size, params, None if pixels is None else strategy.content(pixels, size))
    tokens = sum(v.tokens for v in parts.views) + parts.newline_tokens
    return Plan(
        preset=chosen.name,
        strategy=chosen.strategy,
        params=params,
        overrides=given,
        image=size,
        canvases=parts.canvases,
        views=parts.views,
        grid=parts.grid,
        num_tokens=tokens,
        newline_tokens=parts.newline_tokens,
        info=parts.info,
        warnings=parts.warnings,
    )


def _has_pixels(image: Any) -> bool:
    return hasattr(image, "getexif") and hasattr(image, "size") and hasattr(image, "convert")


class _CallableModule(_types.ModuleType):
    def __call__(self, image_or_size: Any, preset: str, **overrides: Any) -> Plan:
        return plan(image_or_size, preset, **overrides)


sys.modules[__name__].__class__ = _CallableModule

__all__ = [
    "AnyresError",
    "Box",
    "Canvas",
    "CutLine",
    "Diagnostics",
    "ImageError",
    "Layout",
    "PixelSettings",
    "Plan",
    "PlanError",
    "PlanParts",
    "Preset",
    "STRATEGIES",
    "Segment",
    "Size",
    "SpecError",
    "Strategy",
    "View",
    "format_spec",
    "get_preset",
    "image_size",
    "parse_spec",
    "plan",
    "presets",
    "register_preset",
    "register_strategy",
    "resolve",
    "unregister_preset",
    "unregister_strategy",
]

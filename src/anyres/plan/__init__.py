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
from .strategies import STRATEGIES, Strategy, register_strategy
from .types import Box, Canvas, Layout, Segment, Size, View
from . import builtin as _builtin  # noqa: F401  (registers the built-in presets)

# EXIF orientations 5-8 transpose the image: the displayed size is (height, width).
_TRANSPOSING_ORIENTATIONS = {5, 6, 7, 8}


def image_size(image_or_size: Any) -> Size:
    """The (width, height) a plan is made for.

    Accepts ``(width, height)``, a ``Size``, a PIL image, a path or an array of shape
    (H, W[, C]). PIL images and files are measured after EXIF orientation, as
    ``anyres.load_image`` will present them; only the header of a file is read.
    """
    if isinstance(image_or_size, Size):
        return _checked(image_or_size.width, image_or_size.height)
    if isinstance(image_or_size, (tuple, list)):
        if len(image_or_size) != 2:
            raise PlanError(f"a size must be (width, height), got {image_or_size!r}")
        return _checked(*image_or_size)
    if isinstance(image_or_size, (str, os.PathLike)):
        return _file_size(image_or_size)
    if hasattr(image_or_size, "getexif") and hasattr(image_or_size, "size"):
        w, h = image_or_size.size
        if _orientation(image_or_size) in _TRANSPOSING_ORIENTATIONS:
            w, h = h, w
        return _checked(w, h)
    shape = getattr(image_or_size, "shape", None)
    if shape is not None and len(shape) in (2, 3):
        return _checked(shape[1], shape[0])
    raise PlanError(
        f"cannot plan for {type(image_or_size).__name__}: pass (width, height), a PIL image, a path or an array"
    )


def _checked(width: Any, height: Any) -> Size:
    try:
        w, h = operator.index(width), operator.index(height)
    except TypeError:
        raise PlanError(f"image size ({width!r}, {height!r}) must be integers") from None
    if w < 1 or h < 1:
        raise PlanError(f"image size {w}x{h} has a side below 1 pixel")
    return Size(w, h)


def _orientation(image: Any) -> int:
    try:
        return int(image.getexif().get(0x0112, 1))
    except Exception:  # a broken EXIF block does not change the geometry
        return 1


def _file_size(path: str | os.PathLike) -> Size:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:  # reads the header only
            return image_size(im)
    except FileNotFoundError:
        raise ImageError(f"{os.fspath(path)}: no such file") from None
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{os.fspath(path)}: refused from its header ({exc})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{os.fspath(path)}: not a readable image ({exc})") from None


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
]

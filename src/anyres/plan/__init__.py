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
from .connector import Connector, query_grid, view_grids
from .diagnostics import CutLine, Diagnostics
from .plan import Plan, PlanParts
from .registry import PixelSettings, Preset, get_preset, presets, register_preset, resolve, unregister_preset
from .spec import format_spec, parse_spec
from .strategies import STRATEGIES, Strategy, register_strategy
from .strategies.common import grid_views, make_view, repeat_layout, resize_canvas, whole
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
    connector = _connector(strategy, params, parts.info)
    views = parts.views
    if views and views[0].token_grid is None:  # the strategy left the grids to its connector
        views = with_grids(views, connector)
    tokens = sum(v.tokens for v in views) + parts.newline_tokens
    return Plan(
        preset=chosen.name,
        strategy=chosen.strategy,
        params=params,
        overrides=given,
        image=size,
        canvases=parts.canvases,
        views=views,
        grid=parts.grid,
        num_tokens=tokens,
        newline_tokens=parts.newline_tokens,
        info=parts.info,
        warnings=parts.warnings,
        connector=connector,
        pixels=chosen.pixels,
    )


_CONNECTORS: dict[int, tuple[Any, Connector]] = {}


def _connector(strategy: Strategy, params: Any, info: dict) -> Connector:
    """``strategy.connector(params, info)``, built once per resolved ``params`` object
    (``resolve`` hands out one per spec) unless the strategy's depends on the image."""
    if strategy.connector_reads_info:
        return strategy.connector(params, info)
    hit = _CONNECTORS.get(id(params))
    if hit is not None and hit[0] is params:
        return hit[1]
    if len(_CONNECTORS) > 4096:
        _CONNECTORS.clear()
    made = strategy.connector(params, info)
    _CONNECTORS[id(params)] = (params, made)  # holds params, so its id stays its own
    return made


def with_grids(views: tuple[View, ...], connector: Connector) -> tuple[View, ...]:
    """``views`` with their feature and token grids as ``connector`` says (computed once
    per view size and token count: the tiles of a grid share them)."""
    known: dict[tuple, tuple] = {}
    out = []
    for v in views:
        key = (v.size, v.tokens)
        grids = known.get(key)
        if grids is None:
            grids = known[key] = view_grids(v, connector)
        out.append(_new_tuple(View, v[:9] + grids))  # View(*v[:9], *grids) without its checks
    return tuple(out)


_new_tuple = tuple.__new__


def preset_connector(preset: str, **overrides: Any) -> Connector:
    """The connector of a preset (or spec) before any image is planned: what its learned
    token-stage modules are built from. A strategy whose connector depends on the image
    (the budget planner's merge) gives its image-independent part here."""
    chosen, params, _ = resolve(preset, **overrides)
    return STRATEGIES[chosen.strategy].connector(params, {})


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
    "Connector",
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
    "preset_connector",
    "query_grid",
    "view_grids",
    "with_grids",
    "Strategy",
    "View",
    "format_spec",
    "grid_views",
    "make_view",
    "repeat_layout",
    "resize_canvas",
    "whole",
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

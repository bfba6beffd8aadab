"""anyres.plan: pure geometry. For any image size, what the vision side looks at.

Standard library only (a test enforces that importing it pulls in no numpy, torch or
Pillow). The module itself is callable: ``anyres.plan((1000, 600), "llava-next")``.
"""

from __future__ import annotations

import operator
from dataclasses import replace as _replace
import os
import sys
import types as _types
from functools import lru_cache
from typing import Any

from ..errors import AnyresError, ImageError, PlanError, SpecError
from .cost import Cost, EncoderFlops, worst_case
from .reducers import REDUCERS, Reducer
from .sizes import ENCODERS, LLMS, EncoderSize, LLMSize
from .connector import Connector, check_connector, query_grid, view_grids
from .diagnostics import CutLine, Diagnostics
from .limits import Limits, current_limits, raised_limits, reload_limits
from .plan import Plan, PlanParts
from .schema import check_views
from .registry import PixelSettings, Preset, get_preset, presets, register_preset, resolve, unregister_preset
from .spec import format_spec, parse_spec
from .strategies import STRATEGIES, Strategy, register_strategy, unregister_strategy
from .strategies.common import grid_views, make_view, repeat_layout, resize_canvas, whole
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
    if isinstance(width, bool) or isinstance(height, bool):
        raise PlanError(f"image size ({width!r}, {height!r}) must be integers, not booleans")
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

    ``max_tokens=N`` (for a preset whose strategy has no parameter of that name) fits
    the preset's own size knob (``max_pixels``, ``max_tiles``, a pinpoint, the longest
    edge, ...; ``anyres.plan.fit``): the plan that keeps the most detail in at most N
    tokens, reducers included, or a ``PlanError`` naming the fewest reachable.
    """
    if "max_tokens" in overrides:
        chosen = resolve(preset, **{k: v for k, v in overrides.items() if k != "max_tokens"})[0]
        if "max_tokens" not in STRATEGIES[chosen.strategy].defaults:  # fit the preset's own size knob
            from .fit import fit_plan

            rest = {k: v for k, v in overrides.items() if k != "max_tokens"}
            return fit_plan(image_or_size, preset, overrides["max_tokens"], rest, plan)
    size = image_size(image_or_size)
    chosen, params, given = resolve(preset, **overrides)
    steps = _reducers(preset)
    strategy = STRATEGIES[chosen.strategy]
    if strategy.content is None:
        parts = strategy.plan(size, params)
    else:  # content-aware: a summary of the pixels when there are pixels
        pixels = image_or_size if _has_pixels(image_or_size) else None
        parts = strategy.plan(size, params, None if pixels is None else strategy.content(pixels, size))
    check_views(chosen.name, size, parts.views, current_limits())
    connector = _connector(strategy, params, parts.info)
    views = parts.views
    if views and (views[0].token_grid is None or views[-1].token_grid is None):  # left to the connector
        views = with_grids(views, connector)
    tokens = sum(v.tokens for v in views) + parts.newline_tokens
    made = Plan._assemble(dict(
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
        pixels=chosen.pixels if "pixels" not in parts.info else _replace(chosen.pixels, **parts.info["pixels"]),
        reducers=(),
        unreduced=None,
    ))
    if steps:
        from .reduced import with_reducers

        return with_reducers(made, steps, preset)
    return made


@lru_cache(maxsize=1024)
def _reducers(spec: str) -> tuple:
    """The token reducers after the preset in ``spec`` (``"llava-next+pool(2)"``)."""
    if "+" not in spec:
        return ()
    from .reducers import make_reducer
    from .spec import split_spec

    return tuple(make_reducer(*r) for r in split_spec(spec)[1])


_CONNECTORS: dict[int, tuple[Any, Connector]] = {}


def _connector(strategy: Strategy, params: Any, info: dict) -> Connector:
    """``strategy.connector(params, info)``, built once per resolved ``params`` object
    (``resolve`` hands out one per spec) unless the strategy's depends on the image."""
    if strategy.connector_reads_info:
        return check_connector(strategy.connector(params, info), strategy.name)
    hit = _CONNECTORS.get(id(params))
    if hit is not None and hit[0] is params:
        return hit[1]
    if len(_CONNECTORS) > 4096:
        _CONNECTORS.clear()
    made = check_connector(strategy.connector(params, info), strategy.name)
    _CONNECTORS[id(params)] = (params, made)  # holds params, so its id stays its own
    return made


def with_grids(views: tuple[View, ...], connector: Connector) -> tuple[View, ...]:
    """``views`` with their feature and token grids as ``connector`` says (computed once
    per view size and token count: the tiles of a grid share them)."""
    known: dict[tuple, tuple] = {}
    out = []
    for v in views:
        if v.token_grid is not None:  # the strategy set them
            out.append(v)
            continue
        key = (v.size, v.tokens)
        grids = known.get(key)
        if grids is None:
            grids = known[key] = view_grids(v, connector)
        out.append(_new_tuple(View, v[:9] + grids + v[11:]))  # View(*v[:9], *grids, v.recrop) without its checks
    return tuple(out)


_new_tuple = tuple.__new__


def plan_many(images: Any, preset: str, max_tokens: int, **overrides: Any) -> list[Plan]:
    """One plan an image of one prompt, their tokens summing to at most ``max_tokens``:
    each image's knob is fitted to a share of the budget proportional to its count at
    the preset's own settings (``anyres.plan.fit.plan_many``)."""
    from .fit import plan_many as _plan_many

    return _plan_many(images, preset, max_tokens, overrides, plan)


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
    "Cost",
    "ENCODERS",
    "EncoderFlops",
    "EncoderSize",
    "LLMS",
    "LLMSize",
    "worst_case",
    "CutLine",
    "Diagnostics",
    "ImageError",
    "Layout",
    "PixelSettings",
    "Plan",
    "PlanError",
    "PlanParts",
    "REDUCERS",
    "Reducer",
    "Limits",
    "current_limits",
    "raised_limits",
    "reload_limits",
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
    "plan_many",
    "presets",
    "register_preset",
    "register_strategy",
    "resolve",
    "unregister_preset",
    "unregister_strategy",
]

"""Geometry shared by the strategies: the Strategy record and view construction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ...errors import PlanError
from ..types import TEXT, VISUAL, Box, Canvas, Layout, Segment, Size, View, canvas_to_source


@dataclass(frozen=True)
class Strategy:
    """A resolution strategy: a pure function from image size and parameters to views.

    ``defaults`` lists every parameter the strategy accepts (an override of any other
    name is refused). ``layout`` builds the prompt placeholder sequence of a plan.
    """

    name: str
    plan: Callable[[Size, dict[str, Any]], Any]
    layout: Callable[[Any], Layout]
    defaults: dict[str, Any]
    doc: str = ""
    check: Callable[[dict[str, Any]], None] = field(default=lambda p: None)


def whole(image: Size) -> Box:
    return Box(0, 0, image.width, image.height)


def resize_canvas(image: Size, *steps: Size) -> Canvas:
    """The whole image resized through ``steps`` (no padding)."""
    last = steps[-1] if steps else image
    return Canvas(source=whole(image), steps=tuple(steps), padded=last)


def make_view(
    canvases: list[Canvas] | tuple[Canvas, ...],
    canvas: int,
    crop: Box,
    size: Size | None,
    role: str,
    tokens: int,
    grid: tuple[int, int] | None = None,
    level: int = 0,
) -> View:
    """A view cut from a canvas: padding and source box follow from the geometry."""
    c = canvases[canvas]
    cl, ct, cr, cb = crop.left, crop.top, crop.right, crop.bottom
    if size is None:
        size = Size(int(cr - cl), int(cb - ct))
    if size.width <= 0 or size.height <= 0 or cr <= cl or cb <= ct:
        raise PlanError(f"internal: zero-sized view {crop} -> {size}")
    x0, y0 = c.offset
    rw, rh = c.resized
    il, it = max(cl, x0), max(ct, y0)
    ir, ib = min(cr, x0 + rw), min(cb, y0 + rh)
    sx = size.width / (cr - cl)
    sy = size.height / (cb - ct)
    if ir > il and ib > it:
        padding = ((il - cl) * sx, (it - ct) * sy, (cr - ir) * sx, (cb - ib) * sy)
        source = Box(*canvas_to_source(c, il, it, ir, ib, clip=False))
    else:  # a view of padding only
        padding = (0.0, 0.0, float(size.width), 0.0)
        source = Box(c.source.left, c.source.top, c.source.left, c.source.top)
    return View(role, canvas, crop, size, source, padding, grid, tokens, level)


def grid_views(
    canvases: list[Canvas],
    canvas: int,
    rows: int,
    cols: int,
    tile: Size,
    tokens: int | Callable[[int, int], int],
    role: str = "tile",
    level: int = 1,
) -> list[View]:
    """Row-major tiles of ``tile`` size cut from the top-left of a canvas."""
    out = []
    for r in range(rows):
        for c in range(cols):
            crop = Box(c * tile.width, r * tile.height, (c + 1) * tile.width, (r + 1) * tile.height)
            n = tokens(r, c) if callable(tokens) else tokens
            out.append(make_view(canvases, canvas, crop, None, role, n, (r, c), level))
    return out


def repeat_layout(plan, token: str) -> Layout:
    """One placeholder per visual position, in view order."""
    return Layout(tuple(Segment(token, v.tokens, VISUAL, i) for i, v in enumerate(plan.views) if v.tokens))


def text(token: str) -> Segment:
    return Segment(token, 1, TEXT)


def check_size(image: Size, preset: str) -> None:
    if image.width < 1 or image.height < 1:
        raise PlanError(f"{preset}: image size {image} has a side below 1 pixel")


def aspect_limit(image: Size, limit: float, preset: str) -> None:
    ratio = max(image.width, image.height) / min(image.width, image.height)
    if ratio > limit:
        raise PlanError(
            f"{preset}: image size {image} has aspect ratio {ratio:.1f}, above the reference's limit of {limit:g}"
        )


def positive_int(params: dict[str, Any], *names: str) -> None:
    from ...errors import SpecError

    for n in names:
        v = params[n]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise SpecError(f"parameter {n} must be a positive integer, got {v!r}")

"""Geometry shared by the strategies: the Strategy record and view construction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ...errors import PlanError
from ..connector import Connector
from ..frozen import FrozenDict
from ..types import TEXT, VISUAL, Box, Canvas, Layout, Recrop, Segment, Size, View


@dataclass(frozen=True)
class Strategy:
    """A resolution strategy: a pure function from image size and parameters to views.

    ``defaults`` lists every parameter the strategy accepts (an override of any other
    name is refused). ``layout`` builds the prompt placeholder sequence of a plan.
    ``content`` (optional) makes the strategy content-aware: given a PIL image, ``plan()``
    calls ``content(image, size)`` and passes the summary as a third argument to
    ``plan`` (``None`` when planning from a size). ``connector(params, info)`` says how
    the encoder's features become tokens (``anyres.plan.Connector``; ``info`` is the
    plan's, ``{}`` when asked for a preset without an image); the default is one token
    a patch feature of ``params["patch_size"]`` px patches. ``connector_reads_info``:
    the connector depends on the image (else it is built once per parameter set).
    ``fit(params)``: the size knob a token budget may turn (``anyres.plan.knobs``).
    """

    name: str
    plan: Callable[[Size, dict[str, Any]], Any]
    layout: Callable[[Any], Layout]
    defaults: dict[str, Any]
    doc: str = ""
    check: Callable[[dict[str, Any]], None] = field(default=lambda p: None)
    content: Callable[[Any, Size], Any] | None = None
    connector: Callable[[dict[str, Any], dict[str, Any]], Connector] = field(default=lambda p, info: plain_connector(p))
    connector_reads_info: bool = False  # True when connector() depends on the plan's info
    # ``translate(overrides, base) -> overrides``: rewrites overrides given as the reference
    # processor's keyword arguments (``size={"longest_edge": 1540}``, ``image_seq_len``) into
    # this strategy's parameters; ``base`` is the preset's resolved parameters
    translate: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] | None = None
    # bounds (anyres.plan.schema): a validator a parameter (type and range; undeclared
    # ones are inferred from the default) and the worst case the parameters imply
    schema: dict[str, Any] | None = None
    cost: Callable[[dict[str, Any]], Any] | None = None
    # ``fit(params) -> anyres.plan.knobs.Knob | None``: the size knob a token budget turns
    # (``plan(image, preset, max_tokens=N)``); None: the strategy has none
    fit: Callable[[dict[str, Any]], Any] | None = None


def per_params(fn: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
    """``fn(params)`` computed once per parameter dict: ``resolve`` hands every plan of a
    spec the same read-only dict, so what a strategy derives from its parameters alone
    (tile sizes, token counts, candidate lists) need not be derived again each plan.
    Only read-only (``FrozenDict``) parameters are remembered."""
    memo: dict[int, tuple[Any, Any]] = {}

    def cached(p: dict[str, Any]) -> Any:
        if type(p) is not FrozenDict:  # a dict that may change: derived afresh
            return fn(p)
        hit = memo.get(id(p))
        if hit is not None and hit[0] is p:
            return hit[1]
        value = fn(p)
        if len(memo) > 1024:
            memo.clear()
        memo[id(p)] = (p, value)  # holds p, so its id stays its own
        return value

    cached.__wrapped__ = fn  # type: ignore[attr-defined]
    cached.__doc__ = fn.__doc__
    return cached


def plain_connector(p: dict[str, Any]) -> Connector:
    """One token a patch feature (and a kept CLS when ``keep_cls`` says so)."""
    from ...errors import SpecError

    if "patch_size" not in p:
        raise SpecError("a strategy without a patch_size parameter must declare its connector (Strategy.connector)")
    return Connector(patch_size=p["patch_size"], keep_cls=1 if p.get("keep_cls") else 0)


def whole(image: Size) -> Box:
    return Box(0, 0, image.width, image.height)


def resize_canvas(image: Size, *steps: Size) -> Canvas:
    """The whole image resized through ``steps`` (no padding)."""
    last = steps[-1] if steps else image
    return Canvas(source=whole(image), steps=tuple(steps), padded=last)


def axis_span(
    a: float, b: float, offset: float, length: float, src0: float, src_len: float, scale: float
) -> tuple[float, float, float, float] | None:
    """One axis of a view: the crop ``[a, b)`` of a canvas whose content lies at
    ``[offset, offset + length)`` and shows ``[src0, src0 + src_len)`` of the original.

    Returns (source start, source end, padding before, padding after), padding in
    encoder pixels (``scale`` encoder pixels per canvas pixel), or None when the crop
    shows padding only. Source coordinates are rounded to 1e-6 so that tiles that meet
    on the canvas meet exactly in the source.
    """
    i0 = a if a > offset else offset
    end = offset + length
    i1 = b if b < end else end
    if i1 <= i0:
        return None
    k = src_len / length
    return (
        round(src0 + (i0 - offset) * k, 6),
        round(src0 + (i1 - offset) * k, 6),
        (i0 - a) * scale,
        (b - i1) * scale,
    )


def _view(role, canvas, crop, size, xs, ys, c: Canvas, grid, tokens, level, grids=(None, None)) -> View:
    if xs is None or ys is None:  # a view of padding only
        padding = (0.0, 0.0, float(size.width), 0.0)
        source = Box(c.source.left, c.source.top, c.source.left, c.source.top)
    else:
        padding = (xs[2], ys[2], xs[3], ys[3])
        source = Box(xs[0], ys[0], xs[1], ys[1])
    return View(role, canvas, crop, size, source, padding, grid, tokens, level, *grids)


def make_view(
    canvases: list[Canvas] | tuple[Canvas, ...],
    canvas: int,
    crop: Box,
    size: Size | None,
    role: str,
    tokens: int,
    grid: tuple[int, int] | None = None,
    level: int = 0,
    grids: tuple = (None, None),
) -> View:
    """A view cut from a canvas: padding and source box follow from the geometry.
    ``grids`` (optional): the view's (features, token_grid) when the strategy knows them
    (else ``plan()`` derives them from the connector)."""
    c = canvases[canvas]
    cl, ct, cr, cb = crop
    if size is None:
        size = Size(int(cr - cl), int(cb - ct))
    if size.width <= 0 or size.height <= 0 or cr <= cl or cb <= ct:
        raise PlanError(f"internal: zero-sized view {crop} -> {size}")
    (x0, y0), (rw, rh), src = c.offset, c.resized, c.source
    xs = axis_span(cl, cr, x0, rw, src.left, src.right - src.left, size.width / (cr - cl))
    ys = axis_span(ct, cb, y0, rh, src.top, src.bottom - src.top, size.height / (cb - ct))
    return _view(role, canvas, crop, size, xs, ys, c, grid, tokens, level, grids)


def recrop_view(
    canvases: list[Canvas] | tuple[Canvas, ...],
    canvas: int,
    crop: Box,
    recrop: Recrop,
    size: Size,
    role: str,
    tokens: int,
    grid: tuple[int, int] | None = None,
    level: int = 0,
    grids: tuple = (None, None),
) -> View:
    """A view cut from a canvas, resized to ``recrop.resized``, then cut to a ``size``
    window at (``recrop.left``, ``recrop.top``) (``Recrop``); padding and source box
    follow from the geometry (the window's pixels past the resized crop count as
    padding)."""
    c = canvases[canvas]
    cl, ct, cr, cb = crop
    rw, rh = recrop.resized
    if size.width <= 0 or size.height <= 0 or rw <= 0 or rh <= 0 or cr <= cl or cb <= ct:
        raise PlanError(f"internal: zero-sized view {crop} -> {recrop.resized} -> {size}")
    (x0, y0), (cw, ch), src = c.offset, c.resized, c.source
    xs = axis_span(cl, cr, x0, cw, src.left, src.right - src.left, rw / (cr - cl))
    ys = axis_span(ct, cb, y0, ch, src.top, src.bottom - src.top, rh / (cb - ct))
    xs = _windowed(xs, recrop.left, size.width, rw)
    ys = _windowed(ys, recrop.top, size.height, rh)
    return _view(role, canvas, crop, size, xs, ys, c, grid, tokens, level, grids)._replace(recrop=recrop)


def _windowed(span: tuple | None, start: int, length: int, full: int) -> tuple | None:
    """One axis of ``axis_span``'s answer on a resized crop ``full`` long, seen through
    the window ``[start, start + length)``: the source part it shows and its padding."""
    if span is None:
        return None
    s0, s1, before, after = span
    c0, c1 = before, full - after  # where the image lies on the resized crop
    w0, w1 = max(c0, start), min(c1, start + length)
    if w1 <= w0:
        return None
    k = (s1 - s0) / (c1 - c0)
    return (round(s0 + (w0 - c0) * k, 6), round(s0 + (w1 - c0) * k, 6), w0 - start, start + length - w1)


def grid_views(
    canvases: list[Canvas],
    canvas: int,
    rows: int,
    cols: int,
    tile: Size,
    tokens: int | Callable[[int, int], int],
    role: str = "tile",
    level: int = 1,
    grids: tuple = (None, None),
    counts: tuple[Any, Any] | None = None,
) -> list[View]:
    """Row-major tiles of ``tile`` size cut from the top-left of a canvas.

    ``tokens``: every tile's count, or a function of (row, col); ``counts`` (instead):
    (per-row, per-column) factors, tile (r, c) counting ``counts[0][r] * counts[1][c]``.
    Tiles of one column share their horizontal geometry and tiles of one row their
    vertical geometry, so each is computed once (planning speed matters: serving
    engines plan every request).
    """
    c = canvases[canvas]
    tw, th = tile
    if tw <= 0 or th <= 0:
        raise PlanError(f"internal: zero-sized tile {tile}")
    (x0, y0), (rw, rh), src = c.offset, c.resized, c.source
    sw, sh = src.right - src.left, src.bottom - src.top
    if counts is None and not callable(tokens):
        counts = ((tokens,) * rows, (1,) * cols)
    if counts is not None:
        xspans = tile_spans(cols, tw, x0, rw, src.left, sw)
        yspans = tile_spans(rows, th, y0, rh, src.top, sh)
        if xspans is not None and yspans is not None:  # every tile shows image: the common case
            return _grid_views_fast(role, canvas, tile, counts[0], counts[1], level, grids, xspans, yspans)
        row_counts, col_counts = counts
        tokens = lambda r, k: row_counts[r] * col_counts[k]  # noqa: E731
    xspans = [axis_span(k * tw, (k + 1) * tw, x0, rw, src.left, sw, 1.0) for k in range(cols)]
    yspans = [axis_span(k * th, (k + 1) * th, y0, rh, src.top, sh, 1.0) for k in range(rows)]
    out = []
    for r in range(rows):
        ys = yspans[r]
        for k in range(cols):
            crop = Box(k * tw, r * th, (k + 1) * tw, (r + 1) * th)
            n = tokens(r, k)
            g = grids if n or grids[0] is None else (grids[0], (0, 0))  # no tokens: no token grid
            out.append(_view(role, canvas, crop, tile, xspans[k], ys, c, (r, k), n, level, g))
    return out


def tile_spans(n: int, t: int, offset: int, length: int, src0: float, src_len: float) -> list | None:
    """``[axis_span(k * t, (k + 1) * t, offset, length, src0, src_len, 1.0) for k in
    range(n)]`` (the same arithmetic, each tile edge's source coordinate computed once,
    shared by the two tiles that meet there), or None when a tile shows padding only."""
    end = offset + length
    k = src_len / length
    out = []
    left = None
    for j in range(n):
        a, b = j * t, (j + 1) * t
        i0 = a if a > offset else offset
        i1 = b if b < end else end
        if i1 <= i0:
            return None
        s0 = left if left is not None and i0 == a else round(src0 + (i0 - offset) * k, 6)
        s1 = round(src0 + (i1 - offset) * k, 6)
        left = s1 if i1 == b else None
        out.append((s0, s1, float(i0 - a), float(b - i1)))
    return out


_tuple_new = tuple.__new__
NO_PADDING = (0.0, 0.0, 0.0, 0.0)  # shared by the views inside the image (fewer objects to allocate)


def _grid_views_fast(role, canvas, tile, row_counts, col_counts, level, grids, xspans, yspans) -> list[View]:
    """``grid_views``'s common case (every tile shows image), building the same
    ``View``/``Box`` tuples without the per-field constructors, with crops and cells
    shared by every plan of the grid: tiling presets plan tens of views per request, and
    this is most of their planning time."""
    rows, cols = len(row_counts), len(col_counts)
    crops, cells = _cells(rows, cols, tile[0], tile[1])
    g0, g1 = grids
    no_grid = (0, 0) if g0 is not None else g1  # the token grid of a view without tokens
    new, no_pad = _tuple_new, NO_PADDING
    out: list[View] = []
    for r, (sy0, sy1, ptop, pbottom) in enumerate(yspans):
        nr, i = row_counts[r], r * cols
        flat = not (ptop or pbottom)
        out += [
            new(View, (role, canvas, crop, tile, new(Box, (sx0, sy0, sx1, sy1)),
                       no_pad if flat and not (pleft or pright) else (pleft, ptop, pright, pbottom),
                       cell, nr * nc, level, g0, g1 if nr * nc else no_grid, None))
            for (sx0, sx1, pleft, pright), nc, crop, cell in zip(xspans, col_counts, crops[i:i + cols], cells[i:i + cols])
        ]
    return out


_CELLS: dict[tuple, tuple] = {}


def _cells(rows: int, cols: int, tw: int, th: int) -> tuple[tuple[Box, ...], tuple[tuple[int, int], ...]]:
    """The row-major crop boxes and (row, col) cells of a rows x cols grid of tw x th
    tiles (built once a grid, shared by the plans that use it)."""
    key = (rows, cols, tw, th)
    hit = _CELLS.get(key)
    if hit is None:
        if len(_CELLS) > 1024:
            _CELLS.clear()
        hit = _CELLS[key] = (
            tuple(Box(k * tw, r * th, (k + 1) * tw, (r + 1) * th) for r in range(rows) for k in range(cols)),
            tuple((r, k) for r in range(rows) for k in range(cols)),
        )
    return hit


def repeat_layout(plan, token: str) -> Layout:
    """One placeholder per visual position, in view order."""
    return Layout(tuple(Segment(token, v.tokens, VISUAL, i) for i, v in enumerate(plan.views) if v.tokens))


def image_token_layout(plan) -> Layout:
    """One ``image_token`` a visual position, in view order (the layout of every strategy
    whose prompt is just a run of placeholders)."""
    return repeat_layout(plan, plan.params["image_token"])


def text(token: str) -> Segment:
    return Segment(token, 1, TEXT)


def aspect_limit(image: Size, limit: float, preset: str) -> None:
    ratio = max(image.width, image.height) / min(image.width, image.height)
    if ratio > limit:
        raise PlanError(
            f"{preset}: image size {image} has aspect ratio {ratio:.1f}, above the reference's limit of {limit:g}"
        )


def edge_value(kw: dict[str, Any], name: str, *keys: str) -> tuple[int, ...]:
    """The ``keys`` of a reference size dict override (``size={"longest_edge": 980}``),
    popped from ``kw``; a missing key or a non-dict is a ``SpecError`` naming the shape."""
    from ...errors import SpecError

    value = kw.pop(name)
    if not isinstance(value, dict) or any(k not in value for k in keys) or set(value) - set(keys):
        shape = ", ".join(f'"{k}": int' for k in keys)
        raise SpecError(f"{name} must be a dict {{{shape}}} (as in preprocessor_config.json), got {value!r}")
    return tuple(value[k] for k in keys)


def positive_int(params: dict[str, Any], *names: str) -> None:
    from ...errors import SpecError

    for n in names:
        v = params[n]
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise SpecError(f"parameter {n} must be a positive integer, got {v!r}")

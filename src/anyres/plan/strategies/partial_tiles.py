"""AnyRes views as transformers' LLaVA-NeXT / OneVision image processors cut them for any
``size`` / ``crop_size``: tiles that need not divide the pinpoint canvas, each resized and
then centre-cropped.

The reference cuts the padded pinpoint canvas into ``tile`` x ``tile`` patches row by row
(``tile``: the crop side, else the ``size`` side); when ``tile`` does not divide the
canvas, the last column and row are partial. Every patch, and the base view (the image
squashed to an S x S square), then gets the processor's ``resize`` (``size``: the
shorter side to S keeping the aspect ratio, or an S x S square) and, when it
centre-crops, a ``base`` x ``base`` window at ``floor((resized - base) / 2)`` on each
axis, zero where the window reaches past the resized patch (``Recrop``). With a
checkpoint's settings (tile = S = crop side, pinpoints multiples of it) the resize and
crop change nothing and the views are the plain whole tiles.

Tokens: the model reads the first ``rows x cols`` tiles, in order, as its grid, where
``rows = pinpoint height // base`` and ``cols = pinpoint width // base`` (the processor's
``_get_number_of_features`` and the model's ``get_anyres_image_grid_shape`` count so), so
tile k carries the tokens of grid cell ``divmod(k, cols)`` and the tiles past the grid
carry none.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from ...errors import PlanError
from ..types import Box, Canvas, Recrop, Size, View
from .common import make_view, recrop_view
from .fixed import clip_resize


def tile_boxes(canvas: Size, tile: int) -> list[Box]:
    """Row-major ``tile`` x ``tile`` boxes covering ``canvas``, the last column and row cut
    short where ``tile`` does not divide it."""
    w, h = canvas
    return [
        Box(left, top, min(left + tile, w), min(top + tile, h))
        for top in range(0, h, tile)
        for left in range(0, w, tile)
    ]


def tile_count(canvas: Size, tile: int) -> int:
    return math.ceil(canvas.width / tile) * math.ceil(canvas.height / tile)


def resized_for(crop: Size, side: int, shortest_edge: bool) -> Size:
    """The size the reference's ``resize`` gives a ``crop``: its shorter side to ``side``
    keeping the aspect ratio (``size={"shortest_edge"}``), or a ``side`` square."""
    return clip_resize(crop, side) if shortest_edge else Size(side, side)


def resized_view(
    canvases: tuple[Canvas, ...],
    canvas: int,
    crop: Box,
    base: int,
    resize_side: int | None,
    shortest_edge: bool,
    role: str,
    tokens: int,
    grid: tuple[int, int] | None = None,
    level: int = 0,
    grids: tuple = (None, None),
) -> View:
    """The ``base`` x ``base`` view of ``crop``: resized by the reference's rule to
    ``resize_side`` and centre-cropped to it, or, without ``resize_side``, resized
    straight to it (keeping the aspect ratio with ``shortest_edge``: a crop that is not
    square then makes a view of another size, which the reference cannot stack with the
    others either, a ``PlanError``)."""
    square = Size(base, base)
    if resize_side is None:
        cw, ch = int(crop.width), int(crop.height)
        if shortest_edge and cw != ch:
            raise PlanError(
                f"a {cw}x{ch} {role} resized by its shortest edge to {base} px and not centre-cropped is "
                f"{resized_for(Size(cw, ch), base, True)}, not {square} like the other views (a pinpoint that is "
                "not a multiple of the tile side, without a crop: the reference fails to stack them too)"
            )
        return make_view(canvases, canvas, crop, square, role, tokens, grid, level, grids)
    resized = resized_for(Size(int(crop.width), int(crop.height)), resize_side, shortest_edge)
    if resized == square:  # the centre crop keeps everything: one resize
        return make_view(canvases, canvas, crop, square, role, tokens, grid, level, grids)
    window = Recrop(resized, (resized.width - base) // 2, (resized.height - base) // 2)
    return recrop_view(canvases, canvas, crop, window, square, role, tokens, grid, level, grids)


def largest_intermediate(pinpoints_hw: Any, tile: int, resize_side: int | None, shortest_edge: bool) -> int:
    """Pixels of the largest resized tile before its centre crop, over every pinpoint (a
    thin partial tile resized to a ``resize_side`` shorter side is long)."""
    if resize_side is None:
        return 0
    largest = resize_side * resize_side
    if not shortest_edge:
        return largest
    for ph, pw in pinpoints_hw:
        for w in {min(tile, pw), pw % tile or tile}:
            for h in {min(tile, ph), ph % tile or tile}:
                largest = max(largest, resized_for(Size(w, h), resize_side, True).area)
    return largest


def cut_views(
    image: Size,
    tiles_canvas: Canvas,
    p: dict[str, Any],
    grid: tuple[int, int],
    tile_tokens: Callable[[int, int], int],
    base_tokens: int,
    grids: tuple,
) -> tuple[tuple[Canvas, ...], list[View], tuple[str, ...]]:
    """The canvases and views of one image, cut as the reference cuts them (the module's
    docstring), and a warning when the tiles do not divide the pinpoint."""
    base, tile = p["base_size"], p["tile_size"] or p["base_size"]
    side, keep = p["resize_side"], p["resize_shortest_edge"]
    squashed = side or base
    canvases = (Canvas(Box(0, 0, image.width, image.height), (Size(squashed, squashed),), Size(squashed, squashed)),
                tiles_canvas)
    views = [resized_view(canvases, 0, Box(0, 0, squashed, squashed), base, side, keep, "base", base_tokens,
                          grids=grids)]
    rows, cols = grid
    boxes = tile_boxes(tiles_canvas.padded, tile)
    if rows * cols > len(boxes):
        raise PlanError(
            f"{image}: the model reads a {rows}x{cols} grid of {base} px views from the {tiles_canvas.padded} "
            f"pinpoint, but tile_size={tile} tiles cut only {len(boxes)} views from it, so no plan can say where "
            f"its tokens come from (a tile_size above base_size={base}: LLaVA-NeXT's do_center_crop=False with a "
            "crop_size larger than size)"
        )
    for k, box in enumerate(boxes):
        cell = divmod(k, cols) if k < rows * cols else None
        n = tile_tokens(*cell) if cell is not None else 0
        g = grids if n else (grids[0], (0, 0))
        views.append(resized_view(canvases, 1, box, base, side, keep, "tile", n, cell, 1, g))
    warnings: tuple[str, ...] = ()
    if len(boxes) != rows * cols or tiles_canvas.padded != Size(cols * tile, rows * tile):
        warnings = (
            f"{tile} px tiles do not divide the {tiles_canvas.padded} pinpoint evenly: {len(boxes)} tiles, some "
            f"partial; the model reads the first {rows}x{cols} of them as its grid (as the reference counts)",
        )
    return canvases, views, warnings

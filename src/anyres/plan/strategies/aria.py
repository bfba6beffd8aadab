"""Aria (transformers' Aria image processor and processor).

Each crop's rule: longest side to ``max_image_size`` (490 or 980), the other side
``int``-truncated and raised to ``min_image_size``, zero-padded bottom-right to a
``max_image_size`` square with a pixel mask of the resized part. The processor reserves
``size_conversion[max_image_size]`` tokens (490: 128, 980: 256) a crop, the queries of
Aria's cross-attention projector.

``split_image=False`` (the class default): the whole image is the one crop.

``split_image=True``: the image is first laid on the ``split_resolutions`` entry
(height, width) that LLaVA-NeXT's rule picks (``anyres_tiling.best_pinpoint``: the most
image pixels kept, then the least waste), resized to fit it keeping its aspect ratio and
centre-padded with zeros (``fit_inside``, the odd pixel bottom/right); that canvas is cut
row-major into ``max_image_size`` squares (the last row and column partial when the
resolution is not a multiple), and each piece goes through the crop rule above. There is
no global view. The crop rule's resize sees the canvas's centre padding as image, so a
piece's view is its crop resized to the rule's size; the pixel mask covers that size and
the zero padding up to the square is the output's (``pixels.processor_outputs.aria``).
"""

from __future__ import annotations

from typing import Any

from ...errors import SpecError
from ..connector import Connector
from ..knobs import Knob, listed
from ..plan import PlanParts
from ..types import Box, Canvas, Size
from .anyres_tiling import best_pinpoint, fit_inside
from .common import Strategy, image_token_layout, make_view, positive_int, whole

SIZE_CONVERSION = {490: 128, 980: 256}
# the reference's default split_resolutions: (rows, cols) multiples of 490, as (height, width)
_SPLIT_GRIDS = ((1, 2), (1, 3), (1, 4), (1, 5), (1, 6), (1, 7), (1, 8), (2, 4), (2, 3), (2, 2), (2, 1), (3, 1),
                (3, 2), (4, 1), (4, 2), (5, 1), (6, 1), (7, 1), (8, 1))
SPLIT_RESOLUTIONS = tuple((rows * 490, cols * 490) for rows, cols in _SPLIT_GRIDS)


def aria_resize(image: Size, max_size: int, min_size: int) -> Size:
    scale = max_size / max(image.width, image.height)
    if image.width >= image.height:
        return Size(max_size, max(int(image.height * scale), min_size))
    return Size(max(int(image.width * scale), min_size), max_size)


def split_canvas(image: Size, resolutions: Any) -> Canvas:
    """The image fitted into its best ``split_resolutions`` entry and centre-padded with zeros."""
    best_h, best_w = best_pinpoint(image, resolutions)
    target = Size(best_w, best_h)
    fitted = fit_inside(image, target)
    offset = ((best_w - fitted.width) // 2, (best_h - fitted.height) // 2)
    return Canvas(whole(image), (fitted,), target, offset)


def split_boxes(canvas: Size, side: int) -> list[tuple[Box, tuple[int, int]]]:
    """Row-major ``side`` squares of a canvas (partial at the right and bottom edges), with
    their (row, col)."""
    return [(Box(x, y, min(x + side, canvas.width), min(y + side, canvas.height)), (r, c))
            for r, y in enumerate(range(0, canvas.height, side)) for c, x in enumerate(range(0, canvas.width, side))]


def split_count(image: Size, resolutions: Any, side: int) -> int:
    """How many crops ``split_image=True`` makes of an image (any ``side``, as the
    reference's ``get_number_of_image_patches`` counts them)."""
    best_h, best_w = best_pinpoint(image, resolutions)
    return -(-best_h // side) * -(-best_w // side)


def _check(p: dict[str, Any]) -> None:
    positive_int(p, "min_image_size", "patch_size")
    if p["max_image_size"] not in SIZE_CONVERSION:
        raise SpecError(f"aria: max_image_size must be 490 or 980 (as the reference), got {p['max_image_size']!r}")
    if p["min_image_size"] > p["max_image_size"]:
        raise SpecError(f"aria: min_image_size={p['min_image_size']} exceeds max_image_size={p['max_image_size']}")
    if not isinstance(p["split_image"], bool):
        raise SpecError(f"aria: split_image must be True or False, got {p['split_image']!r}")
    resolutions = p["split_resolutions"]
    if not isinstance(resolutions, (list, tuple)) or not resolutions:
        raise SpecError(f"aria: split_resolutions must be a non-empty list of (height, width) pairs, "
                        f"got {resolutions!r}")
    for pair in resolutions:
        if (not isinstance(pair, (list, tuple)) or len(pair) != 2
                or any(isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 65536 for v in pair)):
            raise SpecError(f"aria: each split resolution must be a (height, width) pair of integers 1..65536, "
                            f"got {pair!r}")


def plan_aria(image: Size, p: dict[str, Any]) -> PlanParts:
    m, tokens = p["max_image_size"], SIZE_CONVERSION[p["max_image_size"]]
    if not p["split_image"]:
        size = aria_resize(image, m, p["min_image_size"])
        canvases = [Canvas(whole(image), (size,), Size(m, m))]
        view = make_view(canvases, 0, whole(Size(m, m)), None, "base", tokens)
        return PlanParts(tuple(canvases), (view,), None, info={"resized": size})
    canvas = split_canvas(image, p["split_resolutions"])
    canvases = (canvas,)
    boxes = split_boxes(canvas.padded, m)
    views = tuple(
        make_view(canvases, 0, box, aria_resize(Size(int(box.width), int(box.height)), m, p["min_image_size"]),
                  "tile", tokens, grid=cell, level=1)
        for box, cell in boxes
    )
    rows, cols = boxes[-1][1][0] + 1, boxes[-1][1][1] + 1
    return PlanParts(canvases, views, (rows, cols),
                     info={"best_resolution": canvas.padded, "resized": canvas.resized, "crops": len(views)})


def connector_aria(p: dict[str, Any], info: dict[str, Any]) -> Connector:
    """Aria's cross-attention projector: size_conversion[max_image_size] learned queries."""
    return Connector("resampler", learned=True, patch_size=p["patch_size"],
                     queries=(SIZE_CONVERSION[p["max_image_size"]],))


def translate_aria(kw: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The reference's ``split_resolutions=None`` means its default list."""
    if "split_resolutions" in kw and kw["split_resolutions"] is None:
        kw = {**kw, "split_resolutions": SPLIT_RESOLUTIONS}
    return kw


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
        "split_resolutions": SPLIT_RESOLUTIONS,
        "patch_size": 14,
        "image_token": "<|img|>",
    },
    "Aria: longest side to 980 (other side >= 336), zero-padded to 980x980 with a mask; 256 projector queries. "
    "split_image=True: fitted into the best split_resolutions entry, cut into max_image_size crops, each so.",
    _check,
    connector=connector_aria,
    translate=translate_aria,
    fit=fit_aria,
)

"""MiniCPM-V 4.6 (transformers' MiniCPMV4_6 image processor and processor).

- **Grid** (``slice_mode``): ``multiple = min(ceil(w*h / s^2), max_slice_nums)`` with
  ``s = scale_resolution``; none when ``multiple <= 1``. Among the factor pairs
  (rows, cols) of ``multiple - 1``, ``multiple`` and ``multiple + 1`` (1 and counts above
  the maximum skipped, rows ascending), the least ``|log(w/h) - log(cols/rows)|`` wins; on
  an exact tie the pair with more rows.
- **Source view**: the whole image resized to about ``s^2`` px at its aspect ratio
  (``h = int(s / sqrt(w/h))``, ``w = int(h * w/h)``; only when it is larger than ``s^2``
  or there is no grid), then each side rounded to a multiple of ``patch * m``
  (``m`` = 4 for ``downsample_mode="16x"``, 2 for ``"4x"``; at least one).
- **Slices**: the image's sides first rounded to multiples of the grid
  (``max(round(w / cols) * cols, cols)``), a slice's share of them resized as the source
  view (always), times the grid: the whole image is resized to that canvas once and cut
  into rows x cols equal slices, row-major.
- **Tokens**: ``(h / patch) * (w / patch) / 16`` a view (``/ 4`` for ``"4x"``). Prompt:
  ``<image>`` + tokens + ``</image>`` for the source view, then the rows of slices, each
  slice ``<slice>`` + tokens + ``</slice>``, rows joined by ``"\\n"``. The
  ``<image_id>N</image_id>`` prefix the processor adds when ``use_image_id`` depends on
  the image's place in the prompt and is not part of the layout.
"""

from __future__ import annotations

import math
from typing import Any

from ...errors import SpecError
from ..connector import Connector
from ..plan import PlanParts
from ..schema import Bool, Cost, Int, Text
from ..types import TEXT, VISUAL, Layout, Segment, Size
from .common import Strategy, grid_views, make_view, positive_int, resize_canvas, whole

DOWNSAMPLE_MODES = {"16x": (4, 16), "4x": (2, 4)}  # mode: (side multiple in patches, patches a token)


def ensure_divide(length: float, divisor: int) -> int:
    return max(round(length / divisor) * divisor, divisor)


def best_resize(width: float, height: float, s: int, divisor: int, allow_upscale: bool) -> Size:
    """``find_best_resize`` (its arguments as (width, height))."""
    if width * height > s * s or allow_upscale:
        aspect = width / height
        height = int(s / math.sqrt(aspect))
        width = int(height * aspect)
    return Size(ensure_divide(width, divisor), ensure_divide(height, divisor))


def sliced_grid(image: Size, max_slice_nums: int, s: int) -> tuple[int, int] | None:
    """(rows, cols) as ``get_sliced_grid``, or None when the image is not sliced."""
    log_ratio = math.log(image.width / image.height)
    multiple = min(math.ceil(image.width * image.height / (s * s)), max_slice_nums)
    if multiple <= 1:
        return None
    best, min_error = (1, 1), float("inf")
    for n in (multiple - 1, multiple, multiple + 1):
        if n == 1 or n > max_slice_nums:
            continue
        for rows in range(1, n + 1):
            if n % rows == 0:
                cols = n // rows
                error = abs(log_ratio - math.log(cols / rows))
                if error < min_error or (error == min_error and rows > best[0]):
                    best, min_error = (rows, cols), error
    return best


def refine_size(image: Size, grid: tuple[int, int], s: int, divisor: int) -> Size:
    """``get_refine_size``: the canvas the slices are cut from."""
    rows, cols = grid
    w = ensure_divide(image.width, cols)
    h = ensure_divide(image.height, rows)
    one = best_resize(w / cols, h / rows, s, divisor, True)
    return Size(one.width * cols, one.height * rows)


def _mode(p: dict[str, Any]) -> tuple[int, int]:
    mode = p["downsample_mode"]
    if mode not in DOWNSAMPLE_MODES:
        raise SpecError(f"minicpm-v-4.6: downsample_mode must be '16x' or '4x', got {mode!r}")
    return DOWNSAMPLE_MODES[mode]


def _check(p: dict[str, Any]) -> None:
    positive_int(p, "max_slice_nums", "scale_resolution", "patch_size")
    _mode(p)
    if not isinstance(p["slice_mode"], bool):
        raise SpecError(f"minicpm-v-4.6: slice_mode must be True or False, got {p['slice_mode']!r}")


SCHEMA = {
    "max_slice_nums": Int(1, 1024),
    "scale_resolution": Int(1, 8192),
    "patch_size": Int(1, 1024),
    "slice_mode": Bool(),
    "image_token": Text(),
    "image_start_token": Text(),
    "image_end_token": Text(),
    "slice_start_token": Text(),
    "slice_end_token": Text(),
}


def cost_minicpmv4_6(p: dict[str, Any]) -> Cost:
    """The source view plus at most max_slice_nums + 1 slices (the grid may take one
    slice more than the area asks), each about scale_resolution^2 px with its sides
    rounded to the divisor ``d`` (twice ``(s + d)^2`` to cover the rounding); as for
    ``slicing``, an extreme aspect ratio can make a view longer, which ``plan`` bounds
    per image."""
    m, _ = _mode(p)
    d, s = p["patch_size"] * m, p["scale_resolution"]
    view = 2 * (s + d) ** 2
    views = 1 + (p["max_slice_nums"] + 1 if p["slice_mode"] else 0)
    return Cost(views, view, views * view, max(1, views - 1) * view, drivers=("max_slice_nums", "scale_resolution"))


def plan_minicpmv4_6(image: Size, p: dict[str, Any]) -> PlanParts:
    m, per_token = _mode(p)
    patch, s = p["patch_size"], p["scale_resolution"]
    d = patch * m
    grid = sliced_grid(image, p["max_slice_nums"], s) if p["slice_mode"] else None

    def tokens(size: Size) -> int:
        return (size.height // patch) * (size.width // patch) // per_token

    source = best_resize(image.width, image.height, s, d, grid is None)
    canvases = [resize_canvas(image, source)]
    views = [make_view(canvases, 0, whole(source), None, "base", tokens(source))]
    if grid is None:
        return PlanParts(tuple(canvases), tuple(views), None, info={"grids": (0, 0)})
    rows, cols = grid
    refine = refine_size(image, grid, s, d)
    one = Size(refine.width // cols, refine.height // rows)
    canvases.append(resize_canvas(image, refine))
    views += grid_views(canvases, 1, rows, cols, one, tokens(one))
    return PlanParts(tuple(canvases), tuple(views), grid, info={"grids": grid})


def layout_minicpmv4_6(plan) -> Layout:
    p = plan.params
    tok = p["image_token"]
    segs = [Segment(p["image_start_token"], 1, TEXT), Segment(tok, plan.views[0].tokens, VISUAL, 0),
            Segment(p["image_end_token"], 1, TEXT)]
    if plan.grid is not None:
        rows, cols = plan.grid
        for r in range(rows):
            if r:
                segs.append(Segment("\n", 1, TEXT))
            for c in range(cols):
                k = 1 + r * cols + c
                segs += [Segment(p["slice_start_token"], 1, TEXT), Segment(tok, plan.views[k].tokens, VISUAL, k),
                         Segment(p["slice_end_token"], 1, TEXT)]
    return Layout(tuple(segs))


def connector_minicpmv4_6(p: dict[str, Any], info: dict[str, Any]) -> Connector:
    """Two 2x2 merges for ``"16x"`` (the tower's window-attention merger, then the
    downsample MLP), one for ``"4x"``: a 4x4 (2x2) space-to-depth a token, stood in by
    anyres' pixel shuffle and MLP over a merge-free tower."""
    m, _ = _mode(p)
    return Connector("pixel-shuffle", m, patch_size=p["patch_size"], packing_merge=1, tower_merges=(1,))


MINICPMV4_6 = Strategy(
    "minicpm-v-4.6",
    plan_minicpmv4_6,
    layout_minicpmv4_6,
    {
        "max_slice_nums": 9,
        "scale_resolution": 448,
        "patch_size": 14,
        "slice_mode": True,
        "downsample_mode": "16x",
        "image_token": "<unk>",
        "image_start_token": "<image>",
        "image_end_token": "</image>",
        "slice_start_token": "<slice>",
        "slice_end_token": "</slice>",
    },
    "MiniCPM-V 4.6: a source view of ~448^2 px + up to 9 slices by log-aspect fit, sides multiples of 56, "
    "one token a 4x4 patch block.",
    _check,
    connector=connector_minicpmv4_6,
    schema=SCHEMA,
    cost=cost_minicpmv4_6,
)

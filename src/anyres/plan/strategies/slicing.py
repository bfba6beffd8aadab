"""LLaVA-UHD slicing and MiniCPM-V, which productised it.

Both pick a slice count from the image area, a grid among the factor pairs of nearby
counts by |log(w/h) - log(cols/rows)|, add a whole-image view, and compress every view
to ``query_num`` tokens with a perceiver resampler.

- ``style="minicpm-v"`` (MiniCPM-V ``slice_image``): the source view is the image
  resized to about scale_resolution^2 pixels (upscaled only when there is no slicing),
  sides rounded to multiples of the patch size; the sliced views come from one
  resize of the whole image to the refine size, cut into equal slices.
- ``style="llava-uhd"``: slices are crops of the original at integer boundaries, each
  resized keeping its aspect ratio to at most (scale_resolution/patch)^2 patches; an
  overview of the whole image is added when there is more than one slice.
"""

from __future__ import annotations

import math
from typing import Any

from ...errors import SpecError
from ..plan import PlanParts
from ..types import TEXT, VISUAL, Box, Canvas, Layout, Segment, Size, View
from ..connector import Connector, query_grid
from ..knobs import Knob, counted
from .common import NO_PADDING, Strategy, grid_views, make_view, positive_int, whole
from ..schema import Bool, Choice, Cost, Int, Text


def ensure_divide(length: float, patch: int) -> int:
    return max(round(length / patch) * patch, patch)


def find_best_resize(w: float, h: float, scale_resolution: int, patch: int, allow_upscale: bool) -> Size:
    if w * h > scale_resolution * scale_resolution or allow_upscale:
        r = w / h
        h = int(scale_resolution / math.sqrt(r))
        w = int(h * r)
    return Size(ensure_divide(w, patch), ensure_divide(h, patch))


def sliced_grid(image: Size, scale_resolution: int, max_slices: int) -> tuple[int, int] | None:
    """(cols, rows) or None when the image is not sliced (MiniCPM-V ``get_sliced_grid``)."""
    log_ratio = math.log(image.width / image.height)
    ratio = image.width * image.height / (scale_resolution * scale_resolution)
    multiple = min(math.ceil(ratio), max_slices)
    if multiple <= 1:
        return None
    candidates = []
    for n in (multiple - 1, multiple, multiple + 1):
        if n == 1 or n > max_slices:
            continue
        candidates += [(m, n // m) for m in range(1, n + 1) if n % m == 0]
    best, best_err = (1, 1), float("inf")
    for cols, rows in candidates:
        err = abs(log_ratio - math.log(cols / rows))
        if err < best_err:
            best, best_err = (cols, rows), err
    return best


def refine_size(image: Size, grid: tuple[int, int], scale_resolution: int, patch: int) -> Size:
    cols, rows = grid
    rw = ensure_divide(image.width, cols)
    rh = ensure_divide(image.height, rows)
    cell = find_best_resize(rw / cols, rh / rows, scale_resolution, patch, allow_upscale=True)
    return Size(cell.width * cols, cell.height * rows)


def adapt_size(w: float, h: float, max_patches: int, patch: int) -> Size:
    """Keep the aspect ratio, at most ``max_patches`` patches, sides multiples of the patch."""
    r = w / h
    cols = max(1, math.floor(math.sqrt(max_patches * r)))
    rows = max(1, math.floor(math.sqrt(max_patches / r)))
    while cols * rows > max_patches:
        if cols >= rows:
            cols -= 1
        else:
            rows -= 1
    return Size(max(1, cols) * patch, max(1, rows) * patch)


def _check(p: dict[str, Any]) -> None:
    positive_int(p, "scale_resolution", "max_slice_nums", "patch_size", "query_num")
    if p["style"] not in ("minicpm-v", "llava-uhd"):
        raise SpecError(f"style must be 'minicpm-v' or 'llava-uhd', got {p['style']!r}")


SCHEMA = {
    "style": Choice("minicpm-v", "llava-uhd"),
    "scale_resolution": Int(),
    "max_slice_nums": Int(1, 65536),
    "patch_size": Int(1, 1024),
    "query_num": Int(1, 65536),
    "slice_mode": Bool(),
    "use_image_id": Bool(),
    "image_id": Int(0, 2**31),
    "unk_token": Text(),
}


def cost_slicing(p: dict[str, Any]) -> Cost:
    """The whole-image view plus at most max_slice_nums slices of about
    scale_resolution^2 each (twice that for rounding; an extreme aspect ratio can make
    one slice longer, which ``plan`` bounds per image)."""
    s, patch = p["scale_resolution"], p["patch_size"]
    view = 2 * (s + patch) ** 2
    views = 1 + (p["max_slice_nums"] if p["slice_mode"] else 0)
    return Cost(views, view, views * view, max(1, views - 1) * view, drivers=("max_slice_nums", "scale_resolution"))


def _grids(size: Size, patch: int, q: int) -> tuple:
    """A view's (features, token grid), as ``connector_slicing``'s resampler says: the
    patch grid of the view, and its ``q`` queries' grid."""
    return (size.height // patch, size.width // patch), query_grid(q)


def plan_slicing(image: Size, p: dict[str, Any]) -> PlanParts:
    if p["style"] == "llava-uhd":
        return _plan_uhd(image, p)
    s, patch, q = p["scale_resolution"], p["patch_size"], p["query_num"]
    grid = sliced_grid(image, s, p["max_slice_nums"]) if p["slice_mode"] else None
    source_size = find_best_resize(image.width, image.height, s, patch, allow_upscale=grid is None)
    canvases = [Canvas(whole(image), (source_size,), source_size)]
    views = [make_view(canvases, 0, whole(source_size), None, "base", q, grids=_grids(source_size, patch, q))]
    if grid is None:
        return PlanParts(tuple(canvases), tuple(views), None)
    cols, rows = grid
    refined = refine_size(image, grid, s, patch)
    canvases.append(Canvas(whole(image), (refined,), refined))
    cell = Size(int(refined.width / cols), int(refined.height / rows))
    views += grid_views(canvases, 1, rows, cols, cell, q, "slice", 1, _grids(cell, patch, q))
    return PlanParts(tuple(canvases), tuple(views), (rows, cols), info={"refined": refined})


def _plan_uhd(image: Size, p: dict[str, Any]) -> PlanParts:
    s, patch, q = p["scale_resolution"], p["patch_size"], p["query_num"]
    max_patches = (s // patch) ** 2
    grid = sliced_grid(image, s, p["max_slice_nums"]) if p["slice_mode"] else None
    canvases: list[Canvas] = []
    views = []
    if grid is not None:
        overview = adapt_size(image.width, image.height, max_patches, patch)
        canvases.append(Canvas(whole(image), (overview,), overview))
        views.append(make_view(canvases, 0, whole(overview), None, "base", q, grids=_grids(overview, patch, q)))
        cols, rows = grid
        xs = [image.width * c // cols for c in range(cols + 1)]
        ys = [image.height * r // rows for r in range(rows + 1)]
        queries = query_grid(q)
        new = tuple.__new__
        for r in range(rows):
            top, bottom = ys[r], ys[r + 1]
            for c in range(cols):
                left, right = xs[c], xs[c + 1]
                size = adapt_size(right - left, bottom - top, max_patches, patch)
                w, h = size
                canvases.append(new(Canvas, (new(Box, (left, top, right, bottom)), (size,), size, (0, 0), "zero")))
                # make_view(canvases, i, whole(size), None, "slice", ...): the whole canvas, so
                # the source is the slice's box as axis_span computes it, with no padding
                kx, ky = (right - left) / w, (bottom - top) / h
                source = new(Box, (round(left + 0 * kx, 6), round(top + 0 * ky, 6), round(left + w * kx, 6),
                                   round(top + h * ky, 6)))
                views.append(new(View, ("slice", len(canvases) - 1, new(Box, (0, 0, w, h)), size, source,
                                        NO_PADDING, (r, c), q, 1, (h // patch, w // patch), queries, None)))
        return PlanParts(tuple(canvases), tuple(views), (rows, cols))
    size = adapt_size(image.width, image.height, max_patches, patch)
    canvases.append(Canvas(whole(image), (size,), size))
    return PlanParts(tuple(canvases), (make_view(canvases, 0, whole(size), None, "base", q, grids=_grids(size, patch, q)),), None)


def layout_slicing(plan) -> Layout:
    p = plan.params
    unk = p["unk_token"]
    if p["style"] == "llava-uhd":
        segs = [Segment(unk, plan.views[0].tokens, VISUAL, 0)]
        if plan.grid:
            rows, cols = plan.grid
            segs.append(Segment("\n", 1, TEXT))
            for r in range(rows):
                for c in range(cols):
                    i = 1 + r * cols + c
                    segs.append(Segment(unk, plan.views[i].tokens, VISUAL, i))
                    segs.append(Segment("," if c < cols - 1 else "\n", 1, TEXT))
        return Layout(tuple(segs))
    segs = []
    if p["use_image_id"]:
        segs += [Segment("<image_id>", 1, TEXT), Segment(str(p["image_id"]), 1, TEXT), Segment("</image_id>", 1, TEXT)]
    segs += [Segment("<image>", 1, TEXT), Segment(unk, plan.views[0].tokens, VISUAL, 0), Segment("</image>", 1, TEXT)]
    if plan.grid:
        rows, cols = plan.grid
        for r in range(rows):
            if r:
                segs.append(Segment("\n", 1, TEXT))
            for c in range(cols):
                i = 1 + r * cols + c
                segs += [Segment("<slice>", 1, TEXT), Segment(unk, plan.views[i].tokens, VISUAL, i), Segment("</slice>", 1, TEXT)]
    return Layout(tuple(segs))


def connector_slicing(p: dict[str, Any], info: dict[str, Any]) -> Connector:
    """A perceiver resampler of query_num queries a view (LLaVA-UHD's with a position
    embedding interpolated from the scale_resolution patch grid)."""
    uhd = p["style"] == "llava-uhd"
    return Connector("resampler", learned=True, patch_size=p["patch_size"], queries=(p["query_num"],),
                     query_grid=p["scale_resolution"] // p["patch_size"] if uhd else 0)


def fit_slicing(p: dict[str, Any]) -> Knob:
    """``max_slice_nums`` from 1 to the preset's value."""
    return counted("max_slice_nums", 1, p["max_slice_nums"])

SLICING = Strategy(
    "slicing",
    plan_slicing,
    layout_slicing,
    {
        "style": "minicpm-v",
        "scale_resolution": 448,
        "max_slice_nums": 9,
        "patch_size": 14,
        "query_num": 64,
        "slice_mode": True,
        "use_image_id": True,
        "image_id": 0,
        "unk_token": "<unk>",
    },
    "LLaVA-UHD / MiniCPM-V slicing: slice count from the area, grid by log aspect ratio, "
    "a whole-image view, query_num resampler tokens a view.",
    _check,
    connector=connector_slicing,
    schema=SCHEMA,
    cost=cost_slicing,
    fit=fit_slicing,
)

"""Idefics3 / SmolVLM(2): longest edge to N*tile, sides up to multiples of the tile, split.

SmolVLM's image processor and prompt are Idefics3's (transformers 5.23 ships the same
rule and class defaults under both names); its checkpoints differ only in values
(``size``, ``max_image_size``, patch size, pixel-shuffle factor, ``image_seq_len``), all
parameters here, given in the reference's shapes (see ``translate_idefics3``).

Mirrors the processing path of transformers' Idefics3 image processor, which is what
fixes the prompt: resize the longest edge to ``longest_edge`` (upscaling too; the other
side ``int``-truncated and made even), cap at ``max_image_size``, then resize again so
both sides are multiples of ``tile_size`` (the short side computed from the *new*
aspect ratio, as ``resize_for_vision_encoder`` does), cut into tiles row-major and add a
tile-sized global view last. ``get_number_of_image_patches`` (used by serving engines)
computes the second resize differently; ``info['reference_count_path']`` reports when
the two disagree for a size.
"""

from __future__ import annotations

import math
from typing import Any

from ...errors import PlanError, SpecError
from ..plan import PlanParts
from ..types import TEXT, VISUAL, Layout, Segment, Size
from ..connector import Connector
from ..schema import Bool, Cost, Int, Text
from ..knobs import Knob
from .common import Strategy, edge_value, grid_views, make_view, positive_int, resize_canvas, whole


def rescale_to_max_len(h: int, w: int, max_len: int) -> tuple[int, int]:
    aspect = w / h
    if w >= h:
        w = max_len
        h = int(w / aspect)
        if h % 2 != 0:
            h += 1
    else:
        h = max_len
        w = int(h * aspect)
        if w % 2 != 0:
            w += 1
    return max(h, 1), max(w, 1)


def scale_below_upper_bound(h: int, w: int, max_len: int) -> tuple[int, int]:
    aspect = w / h
    if w >= h and w > max_len:
        w = max_len
        h = int(w / aspect)
    elif h > w and h > max_len:
        h = max_len
        w = int(h * aspect)
    return max(h, 1), max(w, 1)


def resize_for_encoder(h: int, w: int, tile: int) -> tuple[int, int]:
    aspect = w / h
    if w >= h:
        w = math.ceil(w / tile) * tile
        h = int(w / aspect)
        h = math.ceil(h / tile) * tile
    else:
        h = math.ceil(h / tile) * tile
        w = int(h * aspect)
        w = math.ceil(w / tile) * tile
    return h, w


def count_path_grid(h: int, w: int, tile: int) -> tuple[int, int]:
    """(rows, cols) as ``get_number_of_image_patches`` computes them from the resized size."""
    rh, rw = math.ceil(h / tile) * tile, math.ceil(w / tile) * tile
    if rh > tile or rw > tile:
        return math.ceil(rh / tile), math.ceil(rw / tile)
    return 0, 0


def tokens_per_view(p: dict[str, Any]) -> int:
    return (p["tile_size"] // p["patch_size"]) ** 2 // p["scale_factor"] ** 2


def _check(p: dict[str, Any]) -> None:
    positive_int(p, "longest_edge", "tile_size", "patch_size", "scale_factor", "max_image_size")
    if tokens_per_view(p) < 1:
        raise SpecError("tile_size, patch_size and scale_factor leave no token per view")
    seq = p["image_seq_len"]
    if seq is not None and seq != tokens_per_view(p):
        raise SpecError(
            f"image_seq_len={seq!r} disagrees with tile_size={p['tile_size']}, patch_size={p['patch_size']} and "
            f"scale_factor={p['scale_factor']}, which give (tile/patch)^2/scale^2 = {tokens_per_view(p)} tokens a view"
        )


def translate_idefics3(kw: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The processor's names: ``size={"longest_edge"}``, ``max_image_size={"longest_edge"}``
    (the tile side), and ``image_seq_len``, from which the pixel-shuffle factor follows
    when ``scale_factor`` is not given (SmolVLM2-2.2B: 384 tiles, 14 px patches, 81 tokens
    -> 3)."""
    if "size" in kw:
        (kw["longest_edge"],) = edge_value(kw, "size", "longest_edge")
    if "max_image_size" in kw and isinstance(kw["max_image_size"], dict):
        (kw["tile_size"],) = edge_value(kw, "max_image_size", "longest_edge")
    seq = kw.get("image_seq_len")
    if isinstance(seq, int) and not isinstance(seq, bool) and seq > 0 and "scale_factor" not in kw:
        side = kw.get("tile_size", base["tile_size"]) // kw.get("patch_size", base["patch_size"])
        factor = math.isqrt(side * side // seq) if side * side >= seq else 0
        if factor >= 1 and side * side // (factor * factor) == seq:
            kw["scale_factor"] = factor
    return kw


SCHEMA = {
    "longest_edge": Int(),
    "tile_size": Int(),
    "patch_size": Int(1, 1024),
    "scale_factor": Int(1, 64),
    "max_image_size": Int(),
    "do_image_splitting": Bool(),
    "merge_double_newline": Bool(),
    "image_token": Text(),
    "fake_image_token": Text(),
    "global_image_token": Text(),
}


def cost_idefics3(p: dict[str, Any]) -> Cost:
    """The longest edge ends at most at min(longest_edge, max_image_size) (+1 to make
    it even), rounded up to whole tiles on both sides: that many tiles + the global view."""
    t = p["tile_size"]
    first = min(p["longest_edge"], p["max_image_size"]) + 1
    side = math.ceil(first / t)
    canvas = max(first * first, (side * t) ** 2)
    if not p["do_image_splitting"]:
        return Cost(1, t * t, t * t, first * first, drivers=("longest_edge", "max_image_size"))
    views = side * side + 1
    return Cost(views, t * t, views * t * t, canvas, drivers=("longest_edge", "max_image_size", "tile_size"))


def plan_idefics3(image: Size, p: dict[str, Any]) -> PlanParts:
    t = p["tile_size"]
    n_tok = tokens_per_view(p)
    side, f = t // p["patch_size"], p["scale_factor"]
    grids = ((side, side), (side // f, side // f))  # every view's (as connector_idefics3 says)
    h1, w1 = rescale_to_max_len(image.height, image.width, p["longest_edge"])
    h1, w1 = scale_below_upper_bound(h1, w1, p["max_image_size"])
    first = Size(w1, h1)
    if not p["do_image_splitting"]:
        canvases = [resize_canvas(image, first, Size(t, t))]
        view = make_view(canvases, 0, whole(Size(t, t)), None, "base", n_tok, grids=grids)
        return PlanParts(tuple(canvases), (view,), None, info={"rows": 0, "cols": 0})
    h2, w2 = resize_for_encoder(h1, w1, t)
    if h2 < 1 or w2 < 1:
        raise PlanError(f"idefics3: image size {image} resizes to {w2}x{h2}, a zero-sized side")
    second = Size(w2, h2)
    canvases = [resize_canvas(image, first, second)]
    info: dict[str, Any] = {"resized": second}
    if h2 > t or w2 > t:
        rows, cols = (h2 - t) // t + 1, (w2 - t) // t + 1
        views = grid_views(canvases, 0, rows, cols, Size(t, t), n_tok, grids=grids)
        views.append(make_view(canvases, 0, whole(second), Size(t, t), "thumbnail", n_tok, grids=grids))
        grid: tuple[int, int] | None = (rows, cols)
    else:
        rows = cols = 0
        views = [make_view(canvases, 0, whole(second), None, "base", n_tok, grids=grids)]
        grid = None
    info.update(rows=rows, cols=cols)
    if count_path_grid(h1, w1, t) != (rows, cols):
        info["reference_count_path"] = list(count_path_grid(h1, w1, t))
    return PlanParts(tuple(canvases), tuple(views), grid, info=info)


def layout_idefics3(plan) -> Layout:
    p = plan.params
    fake, image_tok = p["fake_image_token"], p["image_token"]
    rows, cols = plan.info["rows"], plan.info["cols"]
    segs: list[Segment] = []
    for r in range(rows):
        for c in range(cols):
            segs.append(Segment(fake, 1, TEXT))
            segs.append(Segment(f"<row_{r + 1}_col_{c + 1}>", 1, TEXT))
            segs.append(Segment(image_tok, plan.views[r * cols + c].tokens, VISUAL, r * cols + c))
        if r < rows - 1 or not p["merge_double_newline"]:
            segs.append(Segment("\n", 1, TEXT))
    if rows:  # the last row's "\n" and the global view's "\n" (one token in the real tokenizer)
        segs.append(Segment("\n\n" if p["merge_double_newline"] else "\n", 1, TEXT))
    last = len(plan.views) - 1
    segs += [
        Segment(fake, 1, TEXT),
        Segment(p["global_image_token"], 1, TEXT),
        Segment(image_tok, plan.views[last].tokens, VISUAL, last),
        Segment(fake, 1, TEXT),
    ]
    return Layout(tuple(segs))


def connector_idefics3(p: dict[str, Any], info: dict[str, Any]) -> Connector:
    """Pixel shuffle by scale_factor, then the bias-free linear modality projection."""
    return Connector("pixel-shuffle", p["scale_factor"], patch_size=p["patch_size"], projector="linear_nobias")


def fit_idefics3(p: dict[str, Any]) -> Knob | None:
    """``longest_edge`` in whole tiles, up to the preset's value (SmolVLM's processor
    documents ``longest_edge = N * max_image_size``)."""
    tile, top = p["tile_size"], p["longest_edge"]
    values = {tile * k for k in range(1, top // tile + 1)} | {top}
    return Knob("longest_edge", tuple({"longest_edge": v} for v in sorted(values)))

IDEFICS3 = Strategy(
    "idefics3",
    plan_idefics3,
    layout_idefics3,
    {
        "longest_edge": 4 * 364,
        "tile_size": 364,
        "patch_size": 14,
        "scale_factor": 2,
        "max_image_size": 4096,  # the module's MAX_IMAGE_SIZE cap; a dict max_image_size={...} is the tile
        "do_image_splitting": True,
        "image_seq_len": None,  # the processor's tokens a view; None: (tile/patch)^2/scale^2
        "merge_double_newline": True,
        "image_token": "<image>",
        "fake_image_token": "<fake_token_around_image>",
        "global_image_token": "<global-img>",
    },
    "Idefics3/SmolVLM: longest edge to N tiles, sides up to tile multiples, row-major tiles + global view.",
    _check,
    connector=connector_idefics3,
    translate=translate_idefics3,
    schema=SCHEMA,
    cost=cost_idefics3,
    fit=fit_idefics3,
)

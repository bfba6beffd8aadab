"""Idefics2: the image (optionally cut into 4 quarters first), each view clamped to
[shortest_edge, longest_edge], a perceiver resampler of ``image_seq_len`` queries a view.

Mirrors transformers' Idefics2 image processor: with ``do_image_splitting`` the
*original* image is cut at its integer midpoints into top-left, top-right, bottom-left,
bottom-right quarters, followed by the whole image; then every view is resized on its
own: a longest side above ``longest_edge`` is brought down to it (the other side
``int``-truncated from the aspect ratio), then each side below ``shortest_edge`` is
raised to it on its own (a stretch). ``size={"height", "width"}`` resizes every view to
that size instead. The prompt is ``<fake>`` then, a view, ``image_seq_len`` ``<image>``
and a ``<fake>`` (the processor collapses the doubled ``<fake>`` between views).
"""

from __future__ import annotations

from typing import Any

from ...errors import PlanError, SpecError
from ..connector import Connector
from ..plan import PlanParts
from ..types import TEXT, VISUAL, Box, Canvas, Layout, Segment, Size
from ..knobs import Knob, switch
from .common import Strategy, make_view, positive_int, whole
from .idefics3 import scale_below_upper_bound


def clamp_resize(width: int, height: int, shortest: int, longest: int) -> Size:
    """``get_resize_output_image_size`` of the Idefics2 processor, as (width, height):
    Idefics3's bound on the longer side, then each side raised to ``shortest``."""
    height, width = scale_below_upper_bound(height, width, longest)
    return Size(max(width, shortest), max(height, shortest))


def view_size(width: int, height: int, p: dict[str, Any]) -> Size:
    if p["height"] is not None:
        return Size(p["width"], p["height"])
    return clamp_resize(width, height, p["shortest_edge"], p["longest_edge"])


def quarters(image: Size) -> list[Box]:
    """The four crops of ``split_images``, row-major, at the integer midpoints."""
    mw, mh = image.width // 2, image.height // 2
    w, h = image.width, image.height
    return [Box(0, 0, mw, mh), Box(mw, 0, w, mh), Box(0, mh, mw, h), Box(mw, mh, w, h)]


def _check(p: dict[str, Any]) -> None:
    positive_int(p, "shortest_edge", "longest_edge", "patch_size", "image_seq_len")
    if (p["height"] is None) != (p["width"] is None):
        raise SpecError("idefics2: give both height and width (size={'height': h, 'width': w}) or neither")
    if p["height"] is not None:
        positive_int(p, "height", "width")


def translate_idefics2(kw: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """``size`` as in preprocessor_config.json: {shortest_edge, longest_edge} or {height, width}."""
    if "size" in kw:
        size = kw.pop("size")
        if isinstance(size, dict) and set(size) == {"shortest_edge", "longest_edge"}:
            kw.update(shortest_edge=size["shortest_edge"], longest_edge=size["longest_edge"], height=None, width=None)
        elif isinstance(size, dict) and set(size) == {"height", "width"}:
            kw.update(height=size["height"], width=size["width"])
        else:
            raise SpecError(
                'idefics2: size must be {"shortest_edge": int, "longest_edge": int} or {"height": int, "width": int} '
                f"(as in preprocessor_config.json), got {size!r}"
            )
    return kw


def plan_idefics2(image: Size, p: dict[str, Any]) -> PlanParts:
    n = p["image_seq_len"]
    boxes = [whole(image)]
    if p["do_image_splitting"]:
        if image.width < 2 or image.height < 2:
            raise PlanError(
                f"idefics2: image size {image} cannot be cut in quarters (do_image_splitting needs both sides >= 2: "
                "the reference divides by zero for a height of 1 and makes black views of empty quarters for a "
                "width of 1)"
            )
        boxes = quarters(image) + boxes
    canvases, views = [], []
    for k, box in enumerate(boxes):
        size = view_size(int(box.width), int(box.height), p)
        canvases.append(Canvas(source=box, steps=(size,), padded=size))
        tile = k < len(boxes) - 1
        grid = (k // 2, k % 2) if tile else None
        views.append(make_view(canvases, k, whole(size), None, "tile" if tile else "base", n, grid, 1 if tile else 0))
    return PlanParts(tuple(canvases), tuple(views), (2, 2) if len(boxes) == 5 else None,
                     info={"views": len(views)})


def layout_idefics2(plan) -> Layout:
    p = plan.params
    fake = p["fake_image_token"]
    segs = [Segment(fake, 1, TEXT)]
    for i, v in enumerate(plan.views):
        segs.append(Segment(p["image_token"], v.tokens, VISUAL, i))
        segs.append(Segment(fake, 1, TEXT))
    return Layout(tuple(segs))


def connector_idefics2(p: dict[str, Any], info: dict[str, Any]) -> Connector:
    """The Idefics2 perceiver resampler: image_seq_len learned queries a view."""
    return Connector("resampler", learned=True, patch_size=p["patch_size"], queries=(p["image_seq_len"],))



def fit_idefics2(p: dict[str, Any]) -> Knob:
    """Image splitting (four quarters besides the whole), when the preset has it on."""
    return switch("do_image_splitting", p["do_image_splitting"])

IDEFICS2 = Strategy(
    "idefics2",
    plan_idefics2,
    layout_idefics2,
    {
        "shortest_edge": 378,
        "longest_edge": 980,
        "height": None,  # size={"height", "width"}: every view resized to it instead
        "width": None,
        "do_image_splitting": False,
        "patch_size": 14,
        "image_seq_len": 64,
        "image_token": "<image>",
        "fake_image_token": "<fake_token_around_image>",
    },
    "Idefics2: the image (or its 4 quarters + the image), each clamped to [378, 980] px a side, 64 resampler "
    "tokens a view.",
    _check,
    connector=connector_idefics2,
    translate=translate_idefics2,
    fit=fit_idefics2,
)

"""Gemma 3: a fixed square resize, and optionally pan-and-scan crops of a long image.

Mirrors transformers' Gemma3 image processor and processor. Every view is resized to
``size`` (896 x 896 for the released checkpoints) and gives ``image_seq_length`` tokens
(SigLIP 896/14 = 64 x 64 patches, average-pooled 4 x 4 to 16 x 16 = 256).

Pan-and-scan (``do_pan_and_scan=True``), decided on the original image: when the long
side is at least ``pan_and_scan_min_ratio_to_activate`` times the short side, the long
side is cut into ``n = clamp(round_half_up(long / short), 2, max_num_crops)`` strips,
fewer when ``floor(long / min_crop_size)`` is smaller (the clamp to 2 comes after that);
each strip is ``ceil(long / n)`` long, the last one what remains, and all are dropped
when a strip's shorter side is below ``pan_and_scan_min_crop_size``. The views are the
whole image first, then the strips, each resized to ``size``. The prompt of an image
with crops is the processor's sentence: "Here is the original image <image> and here
are some crops to help you see better <crop> <crop> ...", every image being
``"\\n\\n" <start_of_image> soft tokens <end_of_image> "\\n\\n"``.
"""

from __future__ import annotations

import math
from typing import Any

from ...errors import PlanError, SpecError
from ..connector import Connector
from ..frozen import FrozenDict
from ..plan import PlanParts
from ..types import TEXT, VISUAL, Box, Canvas, Layout, Segment, Size
from ..schema import Int
from ..knobs import Knob
from .common import Strategy, make_view, positive_int, resize_canvas, whole
from .hf_values import height_width

ORIGINAL_INTRO = "Here is the original image "
CROPS_INTRO = " and here are some crops to help you see better "


def pan_and_scan_crops(
    image: Size, min_crop_size: int, max_num_crops: int, min_ratio: float
) -> list[Box]:
    """The crop boxes (left, top, right, bottom) of ``Gemma3ImageProcessor.pan_and_scan``,
    row-major, clipped to the image as array slicing clips them; [] when it does not
    activate. A crop that would start past the image edge (possible only with a
    minimum crop size far below the released 256) is refused: the reference would
    resize an empty array."""
    width, height = image.width, image.height
    if width >= height:
        if width / height < min_ratio:
            return []
        cols = int(math.floor(width / height + 0.5))
        cols = min(int(math.floor(width / min_crop_size)), cols)
        cols = min(max_num_crops, max(2, cols))
        rows = 1
    else:
        if height / width < min_ratio:
            return []
        rows = int(math.floor(height / width + 0.5))
        rows = min(int(math.floor(height / min_crop_size)), rows)
        rows = min(max_num_crops, max(2, rows))
        cols = 1
    crop_w = int(math.ceil(width / cols))
    crop_h = int(math.ceil(height / rows))
    if min(crop_w, crop_h) < min_crop_size:
        return []
    boxes = []
    for r in range(rows):
        for c in range(cols):
            left, top = crop_w * c, crop_h * r
            if left >= width or top >= height:
                raise PlanError(
                    f"gemma3 pan-and-scan: image size {image} splits into {cols}x{rows} crops of {crop_w}x{crop_h}, "
                    f"the last of which starts past the image (the reference resizes an empty crop); "
                    f"raise pan_and_scan_min_crop_size (released: 256)"
                )
            boxes.append(Box(left, top, min(left + crop_w, width), min(top + crop_h, height)))
    return boxes


def pool_factor(p: dict[str, Any]) -> int:
    """The average-pool side that turns a view's patch grid into ``image_seq_length``
    tokens (Gemma3MultiModalProjector: patches per side // tokens per side)."""
    h, w = height_width(p["size"])
    side = math.isqrt(p["image_seq_length"])
    return (h // p["patch_size"]) // side


def _check(p: dict[str, Any]) -> None:
    positive_int(p, "patch_size", "image_seq_length", "pan_and_scan_min_crop_size", "pan_and_scan_max_num_crops")
    h, w = height_width(p["size"])
    if h != w:
        raise SpecError(f"gemma3: size must be square (its projector pools a square patch grid), got {w}x{h}")
    if h % p["patch_size"]:
        raise SpecError(f"gemma3: size {h} is not a multiple of patch_size {p['patch_size']}")
    seq = p["image_seq_length"]
    side = math.isqrt(seq)
    patches = h // p["patch_size"]
    if side * side != seq or patches % side:
        raise SpecError(
            f"gemma3: image_seq_length {seq} must be a square whose side divides the {patches} patches a side"
        )
    ratio = p["pan_and_scan_min_ratio_to_activate"]
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not ratio > 0 or ratio == float("inf"):
        raise SpecError(f"pan_and_scan_min_ratio_to_activate must be a positive number, got {ratio!r}")
    if not isinstance(p["do_pan_and_scan"], bool):
        raise SpecError(f"do_pan_and_scan must be True or False, got {p['do_pan_and_scan']!r}")


def plan_pan_and_scan(image: Size, p: dict[str, Any]) -> PlanParts:
    h, w = height_width(p["size"])
    target = Size(w, h)
    n = p["image_seq_length"]
    canvases = [resize_canvas(image, target)]
    views = [make_view(canvases, 0, whole(target), None, "base", n)]
    crops = []
    if p["do_pan_and_scan"]:
        crops = pan_and_scan_crops(
            image,
            p["pan_and_scan_min_crop_size"],
            p["pan_and_scan_max_num_crops"],
            p["pan_and_scan_min_ratio_to_activate"],
        )
    rows, cols = len({b.top for b in crops}), len({b.left for b in crops})
    for k, box in enumerate(crops):
        canvases.append(Canvas(box, (target,), target))
        view = make_view(canvases, k + 1, whole(target), None, "crop", n, grid=(k // cols, k % cols), level=1)
        views.append(view)
    info: dict[str, Any] = {"num_crops": len(crops)}
    warnings: tuple[str, ...] = ()
    if crops:  # Gemma3Processor._get_num_multimodal_tokens does not know pan-and-scan
        info["reference_count_path"] = n
        warnings = (
            f"Gemma3Processor._get_num_multimodal_tokens counts {n} image tokens and 1 patch for {image}; its "
            f"processing path adds {len(crops)} pan-and-scan crops ({n * (1 + len(crops))} image tokens); this "
            f"plan follows the processing path",
        )
    return PlanParts(tuple(canvases), tuple(views), (rows, cols) if crops else None, info=info, warnings=warnings)


def image_sequence(p: dict[str, Any], view: int) -> list[Segment]:
    """``full_image_sequence``: "\\n\\n", <start_of_image>, the soft tokens, <end_of_image>,
    "\\n\\n" ("\\n\\n" is one token in Gemma's vocabulary)."""
    return [
        Segment("\n\n", 1, TEXT),
        Segment(p["boi_token"], 1, TEXT),
        Segment(p["image_token"], p["image_seq_length"], VISUAL, view),
        Segment(p["eoi_token"], 1, TEXT),
        Segment("\n\n", 1, TEXT),
    ]


def layout_pan_and_scan(plan) -> Layout:
    """The processor's replacement for one image. With crops, its sentence's words are
    one text segment each (their token count is the tokenizer's: ``layout.text()`` is
    the exact string the processor inserts)."""
    p = plan.params
    if len(plan.views) == 1:
        return Layout(tuple(image_sequence(p, 0)))
    segs = [Segment(ORIGINAL_INTRO, 1, TEXT), *image_sequence(p, 0), Segment(CROPS_INTRO, 1, TEXT)]
    for k in range(1, len(plan.views)):
        if k > 1:
            segs.append(Segment(" ", 1, TEXT))
        segs += image_sequence(p, k)
    return Layout(tuple(segs))


def connector_pan_and_scan(p: dict[str, Any], info: dict[str, Any]) -> Connector:
    """Average pooling of each view's patch grid (4 x 4 for 896 px, 256 tokens), then
    Gemma3's RMS norm and bias-free projection (the tokens layer's projector)."""
    return Connector("pool", pool_factor(p), patch_size=p["patch_size"], projector="gemma_rms_linear")



def fit_pan_and_scan(p: dict[str, Any]) -> Knob:
    """Gemma 3's pan-and-scan crops: off, and (when the preset turns it on) at most
    1, 2, ... ``pan_and_scan_max_num_crops`` crops."""
    if not p["do_pan_and_scan"]:
        return Knob("pan_and_scan_max_num_crops", ({"do_pan_and_scan": False},))
    crops = tuple({"pan_and_scan_max_num_crops": k} for k in range(2, p["pan_and_scan_max_num_crops"] + 1))
    return Knob("pan_and_scan_max_num_crops", ({"do_pan_and_scan": False},) + crops)

PAN_AND_SCAN = Strategy(
    "pan-and-scan",
    plan_pan_and_scan,
    layout_pan_and_scan,
    {
        "size": FrozenDict(height=896, width=896),
        "patch_size": 14,
        "image_seq_length": 256,
        "do_pan_and_scan": False,
        "pan_and_scan_min_crop_size": 256,
        "pan_and_scan_max_num_crops": 4,
        "pan_and_scan_min_ratio_to_activate": 1.2,
        "image_token": "<image_soft_token>",
        "boi_token": "<start_of_image>",
        "eoi_token": "<end_of_image>",
    },
    "Gemma 3: square resize; pan-and-scan strips of a long image plus the whole image.",
    _check,
    connector=connector_pan_and_scan,
    schema={"pan_and_scan_max_num_crops": Int(0, 64), "pan_and_scan_min_crop_size": Int(1, 65536),
            "image_seq_length": Int(1, 1 << 20)},
    fit=fit_pan_and_scan,
)

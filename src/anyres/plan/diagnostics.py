"""What a plan costs and what it keeps, computed from its views alone.

All measures are in the original image's pixel space unless they say otherwise:

- ``padding_fraction``: encoder pixels that show pad colour, over all encoder pixels.
- ``distortion``: the largest ratio between a view's horizontal and vertical scale
  factors (1.0 means every view keeps the aspect ratio).
- ``min_effective_scale``: for every region of the image take the finest view that
  covers it (encoder pixels per source pixel along the view's coarser axis), then the
  smallest such value over the covered image: 0.5 means some part of the image is only
  ever seen at half resolution.
- ``coverage``: the fraction of the image seen by at least one view (center crops
  drop borders).
- ``overlap``: the fraction of the image seen more than once by views of the same
  level (GPT-4V's overlapping 512 tiles count objects twice).
- ``cut_lines``: the tile and slice boundaries that run through the image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .types import Box, Size, View


@dataclass(frozen=True, slots=True)
class CutLine:
    orientation: str  # "vertical" (constant x) or "horizontal" (constant y)
    position: float
    start: float
    end: float
    level: int

    def to_dict(self) -> dict:
        return {
            "orientation": self.orientation,
            "position": round(self.position, 4),
            "start": round(self.start, 4),
            "end": round(self.end, 4),
            "level": self.level,
        }


@dataclass(frozen=True, slots=True)
class Diagnostics:
    padding_fraction: float
    distortion: float
    min_effective_scale: float
    max_effective_scale: float
    coverage: float
    overlap: float
    cut_lines: tuple[CutLine, ...]
    encoder_pixels: int
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "padding_fraction": round(self.padding_fraction, 6),
            "distortion": round(self.distortion, 6),
            "min_effective_scale": round(self.min_effective_scale, 6),
            "max_effective_scale": round(self.max_effective_scale, 6),
            "coverage": round(self.coverage, 6),
            "overlap": round(self.overlap, 6),
            "cut_lines": [c.to_dict() for c in self.cut_lines],
            "encoder_pixels": self.encoder_pixels,
            "warnings": list(self.warnings),
        }


def view_scales(view: View) -> tuple[float, float]:
    """Encoder pixels per source pixel along x and y for the image part of a view."""
    left, top, right, bottom = view.padding
    content_w = view.size.width - left - right
    content_h = view.size.height - top - bottom
    src = view.source
    if src.width <= 0 or src.height <= 0 or content_w <= 0 or content_h <= 0:
        return 0.0, 0.0
    return content_w / src.width, content_h / src.height


def _edges(boxes: Sequence[Box], image: Size) -> tuple[list[float], list[float]]:
    xs = sorted({0.0, float(image.width), *(b.left for b in boxes), *(b.right for b in boxes)})
    ys = sorted({0.0, float(image.height), *(b.top for b in boxes), *(b.bottom for b in boxes)})
    return xs, ys


def _cells(boxes: Sequence[Box], image: Size):
    """Yield (cell area, indices of the boxes covering the cell) over the image."""
    xs, ys = _edges(boxes, image)
    for j in range(len(ys) - 1):
        y0, y1 = ys[j], ys[j + 1]
        if y1 <= y0:
            continue
        rows = [i for i, b in enumerate(boxes) if b.top <= y0 and b.bottom >= y1]
        for i in range(len(xs) - 1):
            x0, x1 = xs[i], xs[i + 1]
            if x1 <= x0:
                continue
            covering = [k for k in rows if boxes[k].left <= x0 and boxes[k].right >= x1]
            yield (x1 - x0) * (y1 - y0), covering


def _cut_lines(views: Sequence[View], image: Size) -> tuple[CutLine, ...]:
    raw: dict[tuple[str, float, int], list[tuple[float, float]]] = {}
    for v in views:
        if v.grid is None or v.source.area <= 0:
            continue
        s = v.source
        for x in (s.left, s.right):
            if 0 < x < image.width:
                raw.setdefault(("vertical", x, v.level), []).append((s.top, s.bottom))
        for y in (s.top, s.bottom):
            if 0 < y < image.height:
                raw.setdefault(("horizontal", y, v.level), []).append((s.left, s.right))
    lines = []
    for (orientation, pos, level), spans in sorted(raw.items()):
        spans.sort()
        start, end = spans[0]
        for a, b in spans[1:]:
            if a <= end:
                end = max(end, b)
            else:
                lines.append(CutLine(orientation, pos, start, end, level))
                start, end = a, b
        lines.append(CutLine(orientation, pos, start, end, level))
    return tuple(lines)


def diagnose(views: Sequence[View], image: Size, warnings: tuple[str, ...] = ()) -> Diagnostics:
    total_px = 0.0
    pad_px = 0.0
    distortion = 1.0
    for v in views:
        area = v.size.width * v.size.height
        left, top, right, bottom = v.padding
        content = max(0.0, v.size.width - left - right) * max(0.0, v.size.height - top - bottom)
        total_px += area
        pad_px += area - content
        sx, sy = view_scales(v)
        if sx > 0 and sy > 0:
            distortion = max(distortion, sx / sy, sy / sx)

    seen = [v for v in views if v.source.area > 0]
    boxes = [v.source for v in seen]
    scales = [min(view_scales(v)) for v in seen]
    image_area = float(image.area)
    covered = 0.0
    finest_min = float("inf")
    finest_max = 0.0
    for area, covering in _cells(boxes, image):
        if covering:
            covered += area
            best = max(scales[k] for k in covering)
            finest_min = min(finest_min, best)
            finest_max = max(finest_max, best)

    overlap = 0.0
    for level in sorted({v.level for v in seen}):
        level_boxes = [v.source for v in seen if v.level == level]
        if len(level_boxes) > 1:
            overlap += sum(a for a, c in _cells(level_boxes, image) if len(c) > 1)

    return Diagnostics(
        padding_fraction=pad_px / total_px if total_px else 0.0,
        distortion=distortion,
        min_effective_scale=finest_min if finest_min != float("inf") else 0.0,
        max_effective_scale=finest_max,
        coverage=covered / image_area,
        overlap=overlap / image_area,
        cut_lines=_cut_lines(views, image),
        encoder_pixels=int(total_px),
        warnings=warnings,
    )

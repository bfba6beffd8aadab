"""A cheap content measure for content-aware planning: where an image has ink.

``ink_map(image)`` samples the image (nearest-neighbour, at most ``SAMPLE_PIXELS``),
takes the local variance of the grey levels over 2x2 sampled pixels, and summarises
it as a row profile, a column profile and a coarse grid, in plain Python lists. Text,
lines and photographs have local variance; paper, margins and flat fills have none
(paper grain of a few grey levels stays below ``THRESHOLD``). Pillow is imported
inside the function; with only a size, planning falls back to geometry.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from typing import Any

from .types import Box, Size

SAMPLE_PIXELS = 160_000
GRID_CELLS = 48  # cells along the longer side of the coarse grid
THRESHOLD = 40.0  # local grey-level variance (std 6.3) that counts as ink


@dataclass(frozen=True)
class InkMap:
    """Ink over an image of ``size``: ``rows[i]`` covers image rows
    ``[i * row_step, (i + 1) * row_step)``; ``grid[r][c]`` covers a cell of
    ``cell_w`` x ``cell_h`` image pixels. Values are mean local variances."""

    size: Size
    rows: tuple[float, ...]
    row_step: float
    cols: tuple[float, ...]
    col_step: float
    grid: tuple[tuple[float, ...], ...]
    cell_w: float
    cell_h: float
    threshold: float = THRESHOLD

    def inked_rows(self) -> list[bool]:
        return [v > self.threshold for v in self.rows]

    def box(self, margin: float = 1.0) -> Box | None:
        """The bounding box of the inked grid cells, grown by ``margin`` cells and
        clipped to the image; None when nothing is inked."""
        hits = [(r, c) for r, row in enumerate(self.grid) for c, v in enumerate(row) if v > self.threshold]
        if not hits:
            return None
        r0, r1 = min(r for r, _ in hits), max(r for r, _ in hits) + 1
        c0, c1 = min(c for _, c in hits), max(c for _, c in hits) + 1
        w, h = self.size
        return Box(
            max(0.0, (c0 - margin) * self.cell_w),
            max(0.0, (r0 - margin) * self.cell_h),
            min(float(w), (c1 + margin) * self.cell_w),
            min(float(h), (r1 + margin) * self.cell_h),
        )

    def columns_inked(self, top: float, bottom: float) -> tuple[float, float] | None:
        """The horizontal extent (image pixels) of ink between rows ``top`` and ``bottom``."""
        r0 = max(0, int(top / self.cell_h))
        r1 = min(len(self.grid), max(r0 + 1, math.ceil(bottom / self.cell_h)))
        cols = [c for r in range(r0, r1) for c, v in enumerate(self.grid[r]) if v > self.threshold]
        if not cols:
            return None
        return min(cols) * self.cell_w, min(float(self.size.width), (max(cols) + 1) * self.cell_w)


def ink_map(image: Any) -> InkMap:
    """The ink map of a PIL image, in the displayed (EXIF-oriented) frame."""
    from PIL import Image, ImageMath, ImageOps

    if image.mode not in ("1", "L", "P", "RGB", "RGBA", "LA", "I", "F", "CMYK", "YCbCr", "RGBX"):
        from ..image.modes import to_rgb  # modes Pillow cannot turn into L (La, LAB, 16-bit)

        image = to_rgb(image)
    w, h = image.size
    k = max(1.0, math.sqrt(w * h / SAMPLE_PIXELS))
    sw, sh = max(2, round(w / k)), max(2, round(h / k))
    small = image.resize((sw, sh), Image.Resampling.NEAREST) if (sw, sh) != (w, h) else image
    small = ImageOps.exif_transpose(small.convert("L")) if _transposed(image) else small.convert("L")
    if _transposed(image):
        w, h = h, w
        sw, sh = small.size
    g = small.convert("F")
    sw2, sh2 = max(1, sw // 2), max(1, sh // 2)
    g = g.crop((0, 0, sw2 * 2, sh2 * 2)) if sw >= 2 and sh >= 2 else g
    mean = g.reduce(2) if sw >= 2 and sh >= 2 else g
    mean_sq = ImageMath.lambda_eval(lambda a: a["g"] * a["g"], g=g)
    mean_sq = mean_sq.reduce(2) if sw >= 2 and sh >= 2 else mean_sq
    var = ImageMath.lambda_eval(lambda a: a["q"] - a["m"] * a["m"], q=mean_sq, m=mean)
    vw, vh = var.size
    rows = _values(var.reduce((vw, 1)))
    cols = _values(var.reduce((1, vh)))
    cell = max(w, h) / GRID_CELLS
    gw, gh = max(1, min(vw, round(w / cell))), max(1, min(vh, round(h / cell)))
    flat = _values(var.resize((gw, gh), Image.Resampling.BOX))
    grid = tuple(tuple(flat[r * gw : (r + 1) * gw]) for r in range(gh))
    return InkMap(Size(w, h), tuple(rows), h / len(rows), tuple(cols), w / len(cols), grid, w / gw, h / gh)


def _values(image: Any) -> list[float]:
    return array("f", image.tobytes()).tolist()


def _transposed(image: Any) -> bool:
    from ..image.orientation import TRANSPOSING, orientation

    return orientation(image) in TRANSPOSING

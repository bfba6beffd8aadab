"""The value types of a plan: sizes, boxes, canvases, views and the layout.

Sizes are ``(width, height)`` like Pillow and always named. Every type is immutable:
a plan is a description, never a thing to mutate. The small types that a plan holds
many of (``Size``, ``Box``, ``View``, ``Canvas``) are named tuples, because building a
frozen dataclass costs three to four times as much and planning builds thousands of
them a second; ``w, h = size`` and ``left, top, right, bottom = box`` unpack as usual.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple


class Size(NamedTuple):
    width: int
    height: int

    @property
    def area(self) -> int:
        return self.width * self.height

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"


class Box(NamedTuple):
    """A rectangle ``[left, right) x [top, bottom)``; coordinates may be fractional."""

    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    def intersect(self, other: "Box") -> "Box":
        left, top = max(self.left, other.left), max(self.top, other.top)
        right, bottom = min(self.right, other.right), min(self.bottom, other.bottom)
        return Box(left, top, max(left, right), max(top, bottom))


class Canvas(NamedTuple):
    """An intermediate image the views are cut from.

    ``source`` (a box of the original image, in original pixels) is resized through
    ``steps`` in order (the references sometimes resize twice; an empty tuple means no
    resize), then placed at ``offset`` on a ``padded`` canvas filled with ``fill``.
    Pixel execution follows exactly this order, as the reference does.
    """

    source: Box
    steps: tuple[Size, ...]
    padded: Size
    offset: tuple[int, int] = (0, 0)
    # "zero" (black, as LLaVA-NeXT pads), "mean" (int(mean * 255), as LLaVA-1.5), "white",
    # "black", or an (r, g, b) triple of 0..255
    fill: Any = "zero"

    @property
    def resized(self) -> Size:
        """Size of the image content on the canvas, before padding."""
        if self.steps:
            return self.steps[-1]
        return Size(int(self.source.width), int(self.source.height))

    @property
    def content(self) -> Box:
        """Where the image content lies on the padded canvas."""
        x, y = self.offset
        r = self.resized
        return Box(x, y, x + r.width, y + r.height)

    def to_source(self, box: Box, clip: bool = True) -> Box:
        """Map a box on this canvas back to original pixels (clipped to the content
        unless ``clip=False``, which extrapolates into the padding)."""
        return Box(*canvas_to_source(self, box.left, box.top, box.right, box.bottom, clip))


def canvas_to_source(
    c: Canvas, left: float, top: float, right: float, bottom: float, clip: bool = True
) -> tuple[float, float, float, float]:
    """The hot path of ``Canvas.to_source`` on plain numbers (planning calls it per view)."""
    x0, y0 = c.offset
    rw, rh = c.resized
    if clip:
        left, top = max(left, x0), max(top, y0)
        right, bottom = max(left, min(right, x0 + rw)), max(top, min(bottom, y0 + rh))
    src = c.source
    sx = (src.right - src.left) / rw
    sy = (src.bottom - src.top) / rh
    # rounded so that tiles that meet in the canvas meet exactly in the source
    return (
        round(src.left + (left - x0) * sx, 6),
        round(src.top + (top - y0) * sy, 6),
        round(src.left + (right - x0) * sx, 6),
        round(src.top + (bottom - y0) * sy, 6),
    )


class Recrop(NamedTuple):
    """A view's resize-then-crop (the LLaVA-NeXT reference's per-tile ``resize`` then
    ``center_crop``): the view's crop is resized to ``resized``, then the encoder's
    ``size`` window is cut from it at (``left``, ``top``). The window may reach past the
    resized crop on any side (negative ``left``/``top``, or past its right/bottom edge);
    those pixels are zero (black), as the reference's centre crop pads them."""

    resized: Size
    left: int
    top: int


class View(NamedTuple):
    """One image the vision encoder sees.

    ``crop`` (integer box on ``plan.canvases[canvas]``) is resized to ``size`` (the
    encoder input; equal to the crop size when nothing is resized), or, when ``recrop``
    is set, resized to ``recrop.resized`` and then cut to ``size`` (``Recrop``). ``source`` is the
    part of the original image the view shows; ``padding`` (left, top, right, bottom)
    counts encoder pixels that show pad colour instead of image. ``tokens`` is the
    number of token positions this view contributes to the language model.
    ``features`` is the (rows, cols) grid of patch features the encoder gives for the
    view, ``token_grid`` the (rows, cols) grid its token positions live on after the
    plan's compression (``plan.connector``); ``(0, 0)`` for a view without tokens.
    ``plan()`` fills both from the connector unless the strategy set them.
    """

    role: str  # base | thumbnail | tile | slice | scale
    canvas: int
    crop: Box
    size: Size
    source: Box
    padding: tuple[float, float, float, float]
    grid: tuple[int, int] | None  # (row, col) in the plan's grid
    tokens: int
    level: int = 0  # 0: whole-image views; 1: the tiling level; S2: the scale index
    features: tuple[int, int] | None = None
    token_grid: tuple[int, int] | None = None
    recrop: Recrop | None = None

    def to_dict(self) -> dict:
        out = {
            "role": self.role,
            "canvas": self.canvas,
            "crop": list(self.crop),
            "size": [self.size.width, self.size.height],
            "source": [round(v, 4) for v in self.source],
            "padding": [round(v, 4) for v in self.padding],
            "grid": list(self.grid) if self.grid is not None else None,
            "tokens": self.tokens,
            "level": self.level,
            "features": list(self.features) if self.features is not None else None,
            "token_grid": list(self.token_grid) if self.token_grid is not None else None,
        }
        if self.recrop is not None:  # only where it is set: every other plan's dict is unchanged
            r = self.recrop
            out["recrop"] = {"resized": [r.resized.width, r.resized.height], "left": r.left, "top": r.top}
        return out


# The kinds of layout entries.
VISUAL = "visual"  # an encoder feature (after compression)
NEWLINE = "newline"  # a learned layout embedding at a visual position (image_newline)
TEXT = "text"  # a wrapper token from the vocabulary (<img>, <row_1_col_1>, "\n", ...)


@dataclass(frozen=True, slots=True)
class Segment:
    """``count`` consecutive copies of the prompt token ``text``."""

    text: str
    count: int
    kind: str
    view: int | None = None  # the view the visual tokens come from

    def to_dict(self) -> dict:
        return {"text": self.text, "count": self.count, "kind": self.kind, "view": self.view}


@dataclass(frozen=True, slots=True)
class Layout:
    """The placeholder sequence a prompt needs for one image, run-length encoded.

    ``len(layout)`` is the number of prompt positions the reference processor
    reserves; ``layout.num_visual`` counts the positions that hold image embeddings
    (encoder features and learned newline embeddings).
    """

    segments: tuple[Segment, ...]

    def __len__(self) -> int:
        return sum(s.count for s in self.segments)

    @property
    def num_visual(self) -> int:
        return sum(s.count for s in self.segments if s.kind != TEXT)

    def tokens(self) -> list[str]:
        """The token strings, one per position."""
        out: list[str] = []
        for s in self.segments:
            out.extend([s.text] * s.count)
        return out

    def text(self) -> str:
        """The placeholder string to splice into a prompt."""
        return "".join(s.text * s.count for s in self.segments)

    def to_dict(self) -> dict:
        return {"length": len(self), "segments": [s.to_dict() for s in self.segments]}

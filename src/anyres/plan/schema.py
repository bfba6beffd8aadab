"""Parameter schemas and worst-case costs: what every spec value is checked against.

A strategy declares, next to its defaults (``Strategy.schema``), a validator for each
parameter: its type and range. ``Strategy.cost(params)`` returns the worst case the
parameters imply over every image size (``Cost``: views, pixels of the largest view,
encoder pixels in all, pixels of the largest canvas that does not depend on the image).
``check_params`` runs once per spec in ``resolve``: the schema (a parameter without a
declared validator gets one inferred from its default's type), then the strategy's own
``check`` (relations between parameters), then the cost against ``limits``. A strategy
that declares no ``cost`` is planned on a few probe sizes instead (after its schema has
bounded every number), so a new strategy is bounded from its first day; declaring the
formula makes the bound exact.

Adopting it in a strategy file::

    from ..schema import Cost, Int, Choice
    SCHEMA = {"tile_size": Int(1, 8192), "mode": Choice("a", "b")}
    def cost(p): return Cost(views=p["max_tiles"] + 1, view_pixels=p["tile_size"] ** 2, ...,
                             drivers=("max_tiles", "tile_size"))
    MY = Strategy(..., schema=SCHEMA, cost=cost)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from ..errors import PlanError, SpecError
from .limits import Limits, current_limits, how_to_raise

MAX_SIDE = 65536  # no model's encoder, tile or canvas side comes near this
MAX_ITEMS = 1024  # list parameters (pinpoints, scales, resolutions, merges)


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


class Validator:
    """Checks one parameter value; raises ``SpecError`` naming it and the range."""

    what = "a value"

    def ok(self, v: Any) -> bool:  # pragma: no cover - overridden
        return True

    def __call__(self, name: str, v: Any) -> None:
        if not self.ok(v):
            raise SpecError(f"parameter {name}={_short(v)} must be {self.what}")


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


class Int(Validator):
    def __init__(self, lo: int = 1, hi: int = MAX_SIDE) -> None:
        self.lo, self.hi = lo, hi
        self.what = f"an integer in [{lo}, {hi}]"

    def ok(self, v: Any) -> bool:
        return _int(v) and self.lo <= v <= self.hi


class Number(Validator):
    """A finite real number in [lo, hi] (``lo_open``: (lo, hi])."""

    def __init__(self, lo: float, hi: float, lo_open: bool = False) -> None:
        self.lo, self.hi, self.lo_open = lo, hi, lo_open
        self.what = f"a finite number in {'(' if lo_open else '['}{lo:g}, {hi:g}]"

    def ok(self, v: Any) -> bool:
        if not _number(v) or v > self.hi:
            return False
        return v > self.lo if self.lo_open else v >= self.lo


class Bool(Validator):
    what = "True or False"

    def ok(self, v: Any) -> bool:
        return isinstance(v, bool)


class Text(Validator):
    def __init__(self, max_len: int = 256) -> None:
        self.max_len = max_len
        self.what = f"a string of at most {max_len} characters"

    def ok(self, v: Any) -> bool:
        return isinstance(v, str) and len(v) <= self.max_len


class Choice(Validator):
    def __init__(self, *values: Any) -> None:
        self.values = values
        self.what = "one of " + ", ".join(repr(x) for x in values)

    def ok(self, v: Any) -> bool:
        return any(type(v) is type(x) and v == x for x in self.values)


class Optional(Validator):
    """None, or what ``inner`` accepts."""

    def __init__(self, inner: Validator) -> None:
        self.inner = inner
        self.what = f"None or {inner.what}"

    def ok(self, v: Any) -> bool:
        return v is None or self.inner.ok(v)


class SizeValue(Validator):
    """An int S (S x S) or a (width, height) pair, sides in [lo, hi]."""

    def __init__(self, lo: int = 1, hi: int = MAX_SIDE) -> None:
        self.side = Int(lo, hi)
        self.what = f"an integer or a (width, height) pair of integers in [{lo}, {hi}]"

    def ok(self, v: Any) -> bool:
        if isinstance(v, tuple):
            return len(v) == 2 and all(self.side.ok(x) for x in v)
        return self.side.ok(v)


class Items(Validator):
    """A non-empty list (tuple) of 1 to ``max_items`` values that ``item`` accepts."""

    def __init__(self, item: Validator, max_items: int = MAX_ITEMS) -> None:
        self.item, self.max_items = item, max_items
        self.what = f"a list of 1 to {max_items} items, each {item.what}"

    def ok(self, v: Any) -> bool:
        return isinstance(v, tuple) and 1 <= len(v) <= self.max_items and all(self.item.ok(x) for x in v)


class Pair(Validator):
    def __init__(self, item: Validator) -> None:
        self.item = item
        self.what = f"a pair of {item.what}"

    def ok(self, v: Any) -> bool:
        return isinstance(v, tuple) and len(v) == 2 and all(self.item.ok(x) for x in v)


class Anything(Validator):
    what = "anything"


def inferred(default: Any) -> Validator:
    """The validator of a parameter that its strategy did not declare: the default's
    type (numbers finite and non-negative, strings short, None: anything)."""
    if isinstance(default, bool):
        return Bool()
    if _int(default) or isinstance(default, float):
        return _NumberOrShape(0, float(2**53))
    if isinstance(default, str):
        return Text()
    if isinstance(default, tuple):
        return _TupleLike()
    return Anything()


class _NumberOrShape(Validator):
    """A number, or the reference's dict of numbers for it (``patch_size={"height": 14,
    "width": 14}``, ``size={"longest_edge": 1540}``), each finite and in range."""

    def __init__(self, low: float, high: float) -> None:
        self.number = Number(low, high)
        self.what = f"{self.number.what}, or a dict of such numbers"

    def ok(self, v: Any) -> bool:
        if isinstance(v, dict):
            return 0 < len(v) <= MAX_ITEMS and all(isinstance(k, str) and self.number.ok(x) for k, x in v.items())
        return self.number.ok(v)


class _TupleLike(Validator):
    what = f"a list of at most {MAX_ITEMS} items"

    def ok(self, v: Any) -> bool:
        return isinstance(v, tuple) and len(v) <= MAX_ITEMS


@dataclass(frozen=True)
class Cost:
    """The worst case a strategy's parameters imply over every image size.

    ``views``: most views of one plan. ``view_pixels``: pixels of the largest view the
    encoder sees. ``total_pixels``: encoder pixels of all views together.
    ``canvas_pixels``: pixels of the largest intermediate canvas whose size follows from
    the parameters alone (canvases that follow the image are checked by ``plan``).
    ``drivers``: the parameters these follow from, named in the refusal."""

    views: int
    view_pixels: int
    total_pixels: int
    canvas_pixels: int = 0
    drivers: tuple[str, ...] = ()


MEASURES = (
    ("views", "max_views", "views"),
    ("view_pixels", "max_view_pixels", "pixels in its largest view"),
    ("total_pixels", "max_total_pixels", "encoder pixels in all"),
    ("canvas_pixels", "max_canvas_pixels", "pixels in an intermediate canvas"),
)

# probe sizes for a strategy without a cost formula: square, extreme aspects, large
PROBES = ((1024, 768), (768, 1024), (4096, 64), (64, 4096), (1, 4096), (4096, 1), (8192, 8192), (16384, 2048))


def check_params(strategy: Any, preset: str, params: dict[str, Any], limits: Limits) -> None:
    """Schema, relations, then worst-case cost; ``SpecError`` at the first violation."""
    schema = getattr(strategy, "schema", None) or {}
    for name, value in params.items():
        validator = schema.get(name)
        if validator is None:
            validator = inferred(strategy.defaults.get(name))
        try:
            validator(name, value)
        except SpecError as exc:
            raise SpecError(f"{preset}: {exc}") from None
    try:
        strategy.check(params)
    except SpecError as exc:
        message = str(exc)
        raise SpecError(message if message.startswith(preset) else f"{preset}: {message}") from None
    cost_fn = getattr(strategy, "cost", None)
    cost = cost_fn(params) if cost_fn is not None else probe_cost(strategy, params)
    for field, limit_name, what in MEASURES:
        value = getattr(cost, field)
        limit = getattr(limits, limit_name)
        if value > limit:
            given = ", ".join(f"{n}={_short(params[n])}" for n in cost.drivers if n in params) or "its parameters"
            raise SpecError(
                f"{preset}: {given} implies a plan of up to {value:,} {what}, above the limit of "
                f"{limit:,} ({limit_name}; {how_to_raise(limit_name)})"
            )


def probe_cost(strategy: Any, params: dict[str, Any]) -> Cost:
    """The largest counts over plans of ``PROBES`` (a lower bound of the worst case,
    for strategies that declare no formula)."""
    views = view_px = total = canvas = 0
    for w, h in PROBES:
        parts = _probe(strategy, params, w, h)
        if parts is None:
            continue
        views = max(views, len(parts.views))
        sizes = [v.size.width * v.size.height for v in parts.views]
        view_px = max([view_px, *sizes])
        total = max(total, sum(sizes))
        canvas = max([canvas, *(c.padded.width * c.padded.height for c in parts.canvases)])
    return Cost(views, view_px, total, 0, drivers=tuple(params))


def _probe(strategy: Any, params: dict[str, Any], w: int, h: int) -> Any:
    from .types import Size

    try:
        if getattr(strategy, "content", None) is not None:
            return strategy.plan(Size(w, h), params, None)
        return strategy.plan(Size(w, h), params)
    except PlanError:
        return None


def canvas_limit(image_pixels: int, limits: Limits) -> int:
    """The most pixels one materialised canvas may have for an image of this size."""
    return max(limits.max_canvas_pixels, 2 * image_pixels)


def check_views(preset: str, image: Any, views: Iterable[Any], limits: Limits) -> None:
    """``PlanError`` when one image's plan exceeds a view limit (the spec's worst case
    was checked by ``resolve``; a few strategies' views follow the image's aspect ratio)."""
    sizes = [v.size.width * v.size.height for v in views]
    largest, total = max(sizes, default=0), sum(sizes)
    if len(sizes) <= limits.max_views and largest <= limits.max_view_pixels and total <= limits.max_total_pixels:
        return
    for value, limit_name, what in (
        (len(sizes), "max_views", "views"),
        (largest, "max_view_pixels", "pixels in its largest view"),
        (total, "max_total_pixels", "encoder pixels in all"),
    ):
        limit = getattr(limits, limit_name)
        if value > limit:
            raise PlanError(
                f"{preset}: image size {image} plans {value:,} {what}, above the limit of {limit:,} "
                f"({limit_name}; {how_to_raise(limit_name)})"
            )


def check_canvases(plan: Any, limits: Limits | None = None) -> None:
    """``PlanError`` when executing ``plan`` would materialise a canvas above the limit
    (a 1 x 100000 image padded to a square). Called by the pixel layer before it
    allocates anything, not by ``plan``: a plan made to count tokens is not refused.

    A canvas without padding and with at most one resize step is not materialised when
    it is large (``direct_views``: each view is resampled from the source), so it costs
    its views' pixels only."""
    limits = current_limits() if limits is None else limits
    image = plan.image
    allowed = canvas_limit(image.width * image.height, limits)
    for i, c in enumerate(plan.canvases):
        if c.padded.width * c.padded.height <= allowed:  # what is materialised is at most the canvas
            continue
        mine = [v for v in plan.views if v.canvas == i]
        cost = materialised_pixels(c, mine, limits)
        if cost > allowed:
            raise PlanError(
                f"{plan.preset}: image size {image} needs an intermediate canvas of {c.padded.width}x{c.padded.height} "
                f"= {cost:,} pixels, above the limit of {allowed:,} (max_canvas_pixels; "
                f"{how_to_raise('max_canvas_pixels')})"
            )


def direct_views(canvas: Any, views: Iterable[Any], limits: Limits | None = None) -> bool:
    """Whether execution resamples each view straight from the source instead of
    building ``canvas``: a canvas without padding and with at most one resize step that
    is above ``max_canvas_pixels`` and more than four times its views' pixels (a thin
    image's CLIP canvas). Pillow's box resampling is not bit-identical to the full
    resize (rows shift by float rounding of the box: up to ~23 uint8 levels on noise,
    none on smooth content), so smaller canvases keep the reference's exact order."""
    if canvas.padded != canvas.resized or tuple(canvas.offset) != (0, 0) or len(canvas.steps) > 1:
        return False
    limit = (current_limits() if limits is None else limits).max_canvas_pixels
    area = canvas.padded.width * canvas.padded.height
    crops = sum(int(v.crop.right - v.crop.left) * int(v.crop.bottom - v.crop.top) for v in views)
    return area > 4 * crops and area > limit


def materialised_pixels(canvas: Any, views: Iterable[Any], limits: Limits | None = None) -> int:
    views = tuple(views)
    if direct_views(canvas, views, limits):
        return sum(int(v.crop.right - v.crop.left) * int(v.crop.bottom - v.crop.top) for v in views)
    return canvas.padded.width * canvas.padded.height


def schema_of(strategy: Any) -> dict[str, Validator]:
    """Every parameter's validator, declared or inferred (for docs and tests)."""
    declared = getattr(strategy, "schema", None) or {}
    return {n: declared.get(n) or inferred(d) for n, d in strategy.defaults.items()}


ValidatorFn = Callable[[str, Any], None]

__all__ = [
    "Anything", "Bool", "Choice", "Cost", "Int", "Items", "Number", "Optional", "Pair", "SizeValue", "Text",
    "Validator", "canvas_limit", "check_canvases", "check_params", "check_views", "direct_views", "inferred",
    "materialised_pixels", "probe_cost", "schema_of",
]

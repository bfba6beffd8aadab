"""The resource limits of planning, in one place.

A spec's parameters imply a worst case over every image size: how many views, how
many pixels the largest view has, how many pixels the encoder sees in all, how large
the largest intermediate canvas is. ``resolve`` refuses (``SpecError``) a spec whose
worst case exceeds a limit, before anything is planned; ``plan`` refuses (``PlanError``)
an image whose own views exceed them; the pixel layer refuses to execute a plan whose
canvas would exceed ``max_canvas_pixels`` (a 1 x 100000 image padded to a square; the
plan itself still counts its tokens). The defaults serve every reference model's
settings with room to spare:

=====================  ===========  ========================================  ==========================
limit                  default      what it bounds                            environment variable
=====================  ===========  ========================================  ==========================
``max_views``          256          views (tiles, slices, scales) of a plan   ``ANYRES_MAX_VIEWS``
``max_view_pixels``    33,554,432   pixels of the largest view (8192 x 4096)  ``ANYRES_MAX_VIEW_PIXELS``
``max_total_pixels``   67,108,864   encoder pixels of all views together      ``ANYRES_MAX_TOTAL_PIXELS``
``max_canvas_pixels``  67,108,864   pixels of an intermediate canvas that is  ``ANYRES_MAX_CANVAS_PIXELS``
                                    materialised (200 MB as RGB); a canvas
                                    at most twice the image's own pixels is
                                    always allowed (the image is decoded
                                    anyway, within the decoder's limit)
=====================  ===========  ========================================  ==========================

Raise them on purpose: set the environment variable (read on every call), or for one
block of code ``with raised_limits(max_views=1024): ...`` (a context variable, so it
is local to the thread or task). Decoding has its own limit (``anyres.image.limits``,
``ANYRES_MAX_PIXELS``) and the worker pools theirs (``ANYRES_MAX_WORKERS``).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from dataclasses import dataclass, fields, replace
from typing import Iterator

from ..errors import SpecError


@dataclass(frozen=True)
class Limits:
    max_views: int = 256
    max_view_pixels: int = 8192 * 4096  # Qwen3-VL's 16.7 MP views plus rounding at 200:1 fit
    max_total_pixels: int = 8192 * 8192
    max_canvas_pixels: int = 8192 * 8192


DEFAULT_LIMITS = Limits()
ENV = {f.name: "ANYRES_" + f.name.upper() for f in fields(Limits)}
# the largest value a limit may be raised to: beyond it arithmetic on sizes stops being
# cheap (a plan's geometry is pure Python), whatever the caller asks for
CEILING = 2**40

_OVERRIDE: contextvars.ContextVar[dict[str, int]] = contextvars.ContextVar("anyres_limits", default={})


def _positive(name: str, value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= CEILING:
        raise SpecError(f"{where}: limit {name} must be an integer in [1, {CEILING}], got {value!r}")
    return value


_FROM_ENV: Limits | None = None


def current_limits() -> Limits:
    """The limits in force: defaults, then environment variables (read once, at the first
    plan; ``reload_limits()`` reads them again), then ``raised_limits``."""
    global _FROM_ENV
    base = _FROM_ENV
    if base is None:
        base = _FROM_ENV = _limits_from_env()
    override = _OVERRIDE.get()
    return replace(base, **override) if override else base


def reload_limits() -> Limits:
    """Read the ``ANYRES_MAX_*`` environment variables again (they are read once per
    process, because planning consults the limits on every plan)."""
    global _FROM_ENV
    _FROM_ENV = None
    return current_limits()


def _limits_from_env() -> Limits:
    values = {}
    for name, env in ENV.items():
        raw = os.environ.get(env)
        if raw is not None and raw.strip():
            try:
                parsed: object = int(raw.strip().replace("_", ""))
            except ValueError:
                parsed = raw
            values[name] = _positive(name, parsed, f"environment variable {env}={raw!r}")
    return replace(DEFAULT_LIMITS, **values) if values else DEFAULT_LIMITS


@contextlib.contextmanager
def raised_limits(**limits: int) -> Iterator[Limits]:
    """Change limits for the code inside the ``with`` block (any of ``Limits``' fields)."""
    unknown = sorted(set(limits) - set(ENV))
    if unknown:
        raise SpecError(f"unknown limit {', '.join(unknown)}; limits: {', '.join(ENV)}")
    checked = {k: _positive(k, v, "raised_limits") for k, v in limits.items()}
    token = _OVERRIDE.set({**_OVERRIDE.get(), **checked})
    try:
        yield current_limits()
    finally:
        _OVERRIDE.reset(token)


def how_to_raise(name: str) -> str:
    return f"raise it with {ENV[name]} or anyres.plan.raised_limits({name}=...)"


__all__ = [
    "CEILING", "DEFAULT_LIMITS", "ENV", "Limits", "current_limits", "how_to_raise", "raised_limits", "reload_limits",
]

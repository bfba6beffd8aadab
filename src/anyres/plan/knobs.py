"""A strategy's size knob: the parameter a budget may turn, and the values it may take.

``Strategy.fit(params) -> Knob | None`` declares it next to the strategy's geometry, so
the fitter (``anyres.plan.fit``) never switches on a strategy's name. Every value is
one the model's own processor accepts, at most the preset's (and the caller's)
setting: a budget picks within what the preset allows, never beyond it.

Two shapes:

- ``choices``: a short tuple of override dicts, each planned (InternVL's tile counts,
  LLaVA-NeXT's single pinpoints, MiniCPM-V's slice counts, ...);
- ``span``: an integer range ``(lo, hi)`` along which the token count never
  decreases (Qwen's ``max_pixels``, Pixtral's longest edge, NaFlex's patch budget),
  searched by bisection; ``at(value)`` is that value's overrides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Knob:
    param: str  # the parameter fitted, as messages and reports name it
    choices: tuple[dict[str, Any], ...] = ()
    span: tuple[int, int] | None = None
    at: Callable[[int], dict[str, Any]] | None = None

    def overrides(self, value: int) -> dict[str, Any]:
        return self.at(value) if self.at is not None else {self.param: value}


def counted(param: str, lo: int, hi: int) -> Knob:
    """Every integer value of ``param`` from ``lo`` to ``hi`` (a handful: tile and slice
    counts), each planned."""
    return Knob(param, tuple({param: k} for k in range(max(1, lo), hi + 1)))


def listed(param: str, values: Any, ceiling: Any) -> Knob:
    """The ``values`` of ``param`` up to the preset's ``ceiling`` (which is always one)."""
    kept = sorted({v for v in values if v <= ceiling} | {ceiling})
    return Knob(param, tuple({param: v} for v in kept))


def switch(param: str, on: bool) -> Knob:
    """A boolean that adds views (image splitting): off, and on when the preset has it on."""
    return Knob(param, ({param: False}, {param: True}) if on else ({param: False},))

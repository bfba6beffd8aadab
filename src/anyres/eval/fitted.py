"""Fitted against naive: two ways to keep a model's own preset within a token budget.

*Fitted* is ``anyres.plan(image, preset, max_tokens=B)``: the preset's size knob set per
image to the value that keeps the most detail within ``B`` (``anyres.plan.fit``).

*Naive* is what a user does without anyres: one value of the same knob, chosen once for
every image so that no image can exceed ``B``, i.e. the largest value whose worst case
over image sizes fits. For Qwen's ``max_pixels`` that is about ``B * 28 * 28`` (the
recipe of Qwen's model cards), for InternVL's ``max_tiles`` the largest ``k`` with
``256 (k + 1) <= B``. The worst case is searched, not assumed, so the rule applies to
any knob a strategy declares (``anyres.plan.knobs``): sizes from 16 to 8192 px at every
aspect ratio on a geometric grid (quarter octaves; half octaves for a pixel-cap knob,
whose worst case is found by the next rule), plus, for a pixel-cap knob, sizes whose
area is the cap, at every width that is a multiple of the patch unit. A choice knob takes the choice with the most worst-case tokens within ``B``; a
range knob is bisected (its tokens never decrease along it).
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

from ..errors import AnyresError, PlanError

NAIVE_SIDES = tuple(sorted({round(16 * 2 ** (k / 4)) for k in range(37)}))  # 16 .. 8192 px


def _sizes(cap: int | None, unit: int) -> list[tuple[int, int]]:
    sides = NAIVE_SIDES[::2] if cap else NAIVE_SIDES
    sizes = {(w, h) for w in sides for h in sides}
    if cap:  # images whose area is the cap, at every width a multiple of the patch unit
        for w in range(unit, int(math.isqrt(cap * 50)) + 1, unit):
            h = cap // w
            if h >= 1:
                sizes.add((w, h))
    return sorted(sizes)


def worst_tokens(spec: str, overrides: dict[str, Any] | None = None, cap_param: str | None = None) -> int:
    """The most ``num_tokens`` one image takes under ``spec`` with ``overrides``, over
    the sizes of the module docstring (0 when no size can be planned)."""
    return _worst(spec, repr(sorted((overrides or {}).items())), cap_param)


def _grid_unit(spec: str, overrides: dict) -> int:
    """The pixel step of the preset's token grid (patch x packing merge), as its plans
    say: the size grid of the worst-case search is laid on it."""
    from ..plan import plan

    try:
        c = plan((1024, 1024), spec, **overrides).connector
    except PlanError:
        return 14
    return max(1, c.patch_size * max(1, c.packing_merge))


@lru_cache(maxsize=512)
def _worst(spec: str, items: str, cap_param: str | None) -> int:
    """``worst_tokens`` keyed by the overrides' repr (values may be dicts: literals only)."""
    import ast

    from ..plan import plan
    from ..plan.registry import resolve

    overrides = dict(ast.literal_eval(items))
    _, params, _ = resolve(spec, **overrides)
    cap = params.get(cap_param) if cap_param else None
    unit = _grid_unit(spec, overrides)
    most = 0
    for size in _sizes(cap if isinstance(cap, int) else None, max(1, unit)):
        try:
            most = max(most, plan(size, spec, **overrides).num_tokens)
        except PlanError:
            continue
    return most


def naive_setting(spec: str, budget: int) -> dict[str, Any]:
    """The overrides of the naive cap of ``spec`` at ``budget`` tokens: one knob value
    for every image, the largest whose worst case fits. ``PlanError`` when the preset
    has no size knob or no value fits."""
    from ..plan.fit import budget_value, knob_of

    n = budget_value(budget)
    knob = knob_of(spec, {})
    if knob is None:
        raise PlanError(f"{spec}: the preset has no size knob to cap")
    if knob.span is not None:
        lo, hi = knob.span
        cap = knob.param

        def worst(value: int) -> int:
            return worst_tokens(spec, knob.overrides(value), cap)

        if worst(hi) <= n:
            return knob.overrides(hi)
        if worst(lo) > n:
            raise PlanError(f"{spec}: even {knob.param}={lo} can take {worst(lo)} tokens, above {n}")
        while hi - lo > 1:  # invariant: lo fits, hi does not
            mid = (lo + hi) // 2
            if worst(mid) <= n:
                lo = mid
            else:
                hi = mid
        return knob.overrides(lo)
    best: tuple[int, int] | None = None
    fewest: int | None = None
    for i, choice in enumerate(knob.choices):
        try:
            most = worst_tokens(spec, choice)
        except AnyresError:
            continue
        if most > 0:
            fewest = most if fewest is None else min(fewest, most)
        if 0 < most <= n and (best is None or most >= best[0]):
            best = (most, i)
    if best is None:
        raise PlanError(f"{spec}: no {knob.param} setting keeps every image within {n} tokens (the smallest "
                        f"worst case is {fewest} tokens)")
    return dict(knob.choices[best[1]])


def naive_spec(spec: str, budget: int) -> str:
    """``spec`` with its naive cap at ``budget`` written in (``"qwen2.5-vl(max_pixels=802816)"``)."""
    from ..plan.spec import format_spec, parse_spec, split_spec

    base, _ = split_spec(spec)
    name, args = parse_spec(spec)
    return format_spec(name, {**args, **naive_setting(spec, budget)}) + spec[len(base):]

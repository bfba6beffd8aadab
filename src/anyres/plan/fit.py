"""Fit a model's own size knob to a token budget: ``plan(image, preset, max_tokens=N)``.

Among the values of the preset's knob (``anyres.plan.knobs``; its strategy declares it)
the fitter keeps the plan with the largest minimum effective scale, then the fewest
tokens, whose ``num_tokens`` (after the spec's reducers) is at most ``max_tokens``;
the plan's spec names the value, so it reproduces without the budget. When no value
fits, a ``PlanError`` names the fewest tokens the knob can reach. A range knob is
bisected (about log2 of its range plans; tokens never decrease along it), a list of
choices is planned once each (a few dozen at most).

``plan_many(images, preset, max_tokens=N)`` splits one prompt's budget over several
images in proportion to what each takes at the preset's own settings.
"""

from __future__ import annotations

import operator
from typing import Any, Callable, Sequence

from ..errors import PlanError, SpecError
from .knobs import Knob

PlanFn = Callable[..., Any]


def budget_value(max_tokens: Any) -> int:
    if isinstance(max_tokens, bool):
        raise SpecError(f"max_tokens must be a positive integer, got {max_tokens!r}")
    try:
        n = operator.index(max_tokens)
    except TypeError:
        raise SpecError(f"max_tokens must be a positive integer, got {max_tokens!r}") from None
    if n < 1:
        raise SpecError(f"max_tokens must be at least 1, got {n}")
    return n


def knob_of(spec: str, overrides: dict[str, Any]) -> Knob | None:
    """The size knob of ``spec`` with ``overrides`` applied (None: the preset has none)."""
    from .registry import resolve
    from .strategies import STRATEGIES

    chosen, params, _ = resolve(spec, **overrides)
    fit = STRATEGIES[chosen.strategy].fit
    return None if fit is None else fit(params)


def _detail(plan: Any) -> tuple[float, int]:
    """What the fitter maximises: the minimum effective scale, then fewer tokens."""
    return (plan.diagnostics.min_effective_scale, -plan.num_tokens)


def fit_plan(image: Any, spec: str, max_tokens: int, overrides: dict[str, Any], plan_fn: PlanFn) -> Any:
    """The plan of ``spec`` whose knob value keeps the most detail within ``max_tokens``."""
    n = budget_value(max_tokens)
    knob = knob_of(spec, overrides)
    if knob is None:  # no knob: the preset's one plan, if it fits
        made = plan_fn(image, spec, **overrides)
        if made.num_tokens > n:
            raise PlanError(f"{made.spec}: {made.num_tokens} tokens for image {made.image}, above max_tokens={n}, "
                            "and the preset has no size knob to fit (the fewest reachable is "
                            f"{made.num_tokens})")
        return made
    if knob.span is not None:
        return _bisect(image, spec, n, overrides, knob, plan_fn)
    return _choose(image, spec, n, overrides, knob, plan_fn)


def _try(plan_fn: PlanFn, image: Any, spec: str, overrides: dict[str, Any], extra: dict[str, Any]) -> Any:
    try:
        return plan_fn(image, spec, **{**overrides, **extra})
    except PlanError as exc:
        return exc


def _too_many(spec: str, n: int, knob: Knob, fewest: Any, setting: Any) -> PlanError:
    return PlanError(f"{spec}: no {knob.param} setting fits max_tokens={n} for image {fewest.image}; the smallest "
                     f"reachable count is {fewest.num_tokens} tokens ({setting})")


def _choose(image: Any, spec: str, n: int, overrides: dict[str, Any], knob: Knob, plan_fn: PlanFn) -> Any:
    best = fewest = None
    error: PlanError | None = None
    for extra in knob.choices:
        made = _try(plan_fn, image, spec, overrides, extra)
        if isinstance(made, PlanError):
            error = error or made
            continue
        if fewest is None or made.num_tokens < fewest[0].num_tokens:
            fewest = (made, extra)
        if made.num_tokens <= n and (best is None or _detail(made) > _detail(best)):
            best = made
    if best is not None:
        return best
    if fewest is None:
        raise error if error is not None else PlanError(f"{spec}: its {knob.param} knob offers no setting")
    setting = ", ".join(f"{k}={v!r}" for k, v in fewest[1].items())
    raise _too_many(spec, n, knob, fewest[0], setting)


def _bisect(image: Any, spec: str, n: int, overrides: dict[str, Any], knob: Knob, plan_fn: PlanFn) -> Any:
    lo, hi = knob.span
    top = _try(plan_fn, image, spec, overrides, knob.overrides(hi))
    if not isinstance(top, PlanError) and top.num_tokens <= n:
        return top
    bottom = _try(plan_fn, image, spec, overrides, knob.overrides(lo))
    if isinstance(bottom, PlanError):
        if isinstance(top, PlanError):
            raise bottom
        # the smallest settings cannot plan this image (Pixtral: a 16x257 image's short side
        # would shrink to 0 px): the smallest setting that can is the floor
        bad, good, bottom = lo, hi, top
        while good - bad > 1:
            mid = (bad + good) // 2
            made = _try(plan_fn, image, spec, overrides, knob.overrides(mid))
            if isinstance(made, PlanError):
                bad = mid
            else:
                good, bottom = mid, made
        lo = good
    if bottom.num_tokens > n:
        raise _too_many(spec, n, knob, bottom, f"{knob.param}={lo}")
    while hi - lo > 1:  # invariant: lo fits (``bottom``), hi does not
        mid = (lo + hi) // 2
        made = _try(plan_fn, image, spec, overrides, knob.overrides(mid))
        if not isinstance(made, PlanError) and made.num_tokens <= n:
            lo, bottom = mid, made
        else:
            hi = mid
    return bottom


def fewest_tokens(image: Any, spec: str, overrides: dict[str, Any], plan_fn: PlanFn) -> int:
    """The fewest tokens ``spec``'s knob reaches for ``image`` (its count at the preset's
    settings when it has no knob); ``PlanError`` when no setting can plan the image."""
    knob = knob_of(spec, overrides)
    if knob is None:
        return plan_fn(image, spec, **overrides).num_tokens
    if knob.span is not None:
        made = _try(plan_fn, image, spec, overrides, knob.overrides(knob.span[0]))
        if isinstance(made, PlanError):
            raise made
        return made.num_tokens
    counts = [m.num_tokens for m in (_try(plan_fn, image, spec, overrides, c) for c in knob.choices)
              if not isinstance(m, PlanError)]
    if not counts:
        return plan_fn(image, spec, **overrides).num_tokens  # raises the preset's own PlanError
    return min(counts)


def plan_many(images: Sequence[Any], spec: str, max_tokens: int, overrides: dict[str, Any], plan_fn: PlanFn) -> list:
    """One plan an image, their ``num_tokens`` summing to at most ``max_tokens``.

    Each image's share is proportional to its count at the preset's own settings (its
    need), raised to the fewest its knob reaches (taken from the others); a share an
    image does not use (its knob's steps are coarse) goes to the images after it, in
    the order of their need. ``PlanError`` when even the fewest counts exceed the
    budget, naming their sum."""
    n = budget_value(max_tokens)
    images = list(images)
    if not images:
        return []
    natural = [plan_fn(im, spec, **overrides) for im in images]
    need = [p.num_tokens for p in natural]
    if sum(need) <= n:
        return natural
    floor = [fewest_tokens(im, spec, overrides, plan_fn) for im in images]
    if sum(floor) > n:
        raise PlanError(f"{spec}: {len(images)} images need at least {sum(floor)} tokens together "
                        f"(each at its knob's fewest: {floor}), above max_tokens={n}")
    shares = _shares(need, floor, n)
    out: list = [None] * len(images)
    spare = 0
    for i in sorted(range(len(images)), key=lambda i: need[i]):  # the smallest first: their rounding feeds the rest
        budget = shares[i] + spare
        out[i] = fit_plan(images[i], spec, budget, overrides, plan_fn) if budget < need[i] else natural[i]
        spare = budget - out[i].num_tokens
    return out


def _shares(need: list[int], floor: list[int], n: int) -> list[int]:
    """Integer shares summing to at most ``n``: proportional to ``need`` and never below
    ``floor`` (an image at its floor gives up the rest, which the others share)."""
    fixed: dict[int, int] = {}
    while True:
        free = [i for i in range(len(need)) if i not in fixed]
        left = n - sum(fixed.values())
        total = max(1, sum(need[i] for i in free))
        shares = {i: left * need[i] // total for i in free}
        low = [i for i in free if shares[i] < floor[i]]
        if not low:
            break
        for i in low:
            fixed[i] = floor[i]
    return [fixed[i] if i in fixed else shares[i] for i in range(len(need))]

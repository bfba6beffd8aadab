"""Fitting a model's own size knob to a token budget (issue 17, part 3)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import anyres
from anyres import PlanError, SpecError
from anyres.plan import STRATEGIES, presets, resolve
from anyres.plan.fit import knob_of

KNOBBED = [p for p in presets() if STRATEGIES[resolve(p)[0].strategy].fit is not None]
REDUCED = ["llava-next+pool(2)", "internvl+visionzip(keep=64)", "qwen2.5-vl+tome(r=0.5)",
           "llava-onevision+pool(2)+visionzip(keep=0.25)"]


def test_every_preset_with_a_size_knob_declares_it():
    families = {"qwen2-vl", "qwen2.5-vl", "qwen3-vl", "glm4v", "paddleocr-vl", "internvl", "internvl3.5",
                "llava-next", "llava-onevision", "idefics3", "smolvlm", "pixtral", "mistral3", "gemma3",
                "minicpm-v", "siglip2", "gemma4", "mllama", "llama4"}
    assert families <= set(KNOBBED)


def _settings(spec: str, size) -> list:
    """Every plan the knob reaches for ``size`` (the span knobs at their ends and a few
    values between): what the fitter chooses among."""
    knob = knob_of(spec.split("+")[0], {})
    values = list(knob.choices)
    if knob.span is not None:
        lo, hi = knob.span
        values = [knob.overrides(v) for v in {lo, hi, (lo + hi) // 2, lo + (hi - lo) // 7}]
    out = []
    for v in values:
        try:
            out.append(anyres.plan(size, spec, **v))
        except PlanError:
            pass
    return out


sizes = st.tuples(st.integers(16, 5000), st.integers(16, 5000))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=st.sampled_from(KNOBBED + REDUCED), size=sizes, budget=st.integers(1, 6000))
def test_fitted_plans_stay_within_the_budget_or_name_the_fewest_reachable(spec, size, budget):
    reached = _settings(spec, size)
    try:
        made = anyres.plan(size, spec, max_tokens=budget)
    except PlanError as exc:
        if not reached:  # no setting can plan this size at all
            return
        fewest = min(p.num_tokens for p in reached)
        assert fewest > budget  # nothing reachable fits ...
        assert f"smallest reachable count is {fewest} tokens" in str(exc)  # ... and the error names the floor
        return
    assert made.num_tokens <= budget
    # a plan the model was trained to see: its spec (the knob's value) reproduces it without the budget
    assert anyres.plan(size, made.spec) == made
    # no reachable setting within the budget keeps more detail
    best = max((p.diagnostics.min_effective_scale for p in reached if p.num_tokens <= budget), default=0.0)
    assert made.diagnostics.min_effective_scale >= best - 1e-12  # scales are ratios near 1: absolute 1e-12


def test_a_knob_whose_smallest_values_cannot_plan_the_image_starts_where_it_can():
    """Pixtral's smallest longest_edge shrinks a 16x257 image's short side to 0 px (refused);
    the fitter's floor is the smallest setting that plans it (found by hypothesis)."""
    made = anyres.plan((16, 257), "pixtral", max_tokens=10)
    assert made.num_tokens <= 10
    assert anyres.plan((16, 257), made.spec) == made
    with pytest.raises(PlanError, match=r"smallest reachable count is 2 tokens \(longest_edge=17\)"):
        anyres.plan((16, 257), "pixtral", max_tokens=1)  # 17 is the smallest edge that plans it


@pytest.mark.parametrize("spec", ["qwen2.5-vl", "qwen2-vl", "mistral3", "siglip2"])
def test_a_range_knob_stops_at_the_last_value_that_fits(spec):
    """Bisection's answer is the largest value within budget: one more exceeds it."""
    size, budget = (4000, 3000), 200
    made = anyres.plan(size, spec, max_tokens=budget)
    knob = knob_of(spec, {})
    value = made.overrides["size"]["longest_edge"] if knob.param == "longest_edge" else made.overrides[knob.param]
    assert made.num_tokens <= budget
    assert anyres.plan(size, spec, **knob.overrides(value + 1)).num_tokens > budget


def test_worked_examples():
    # Qwen2.5-VL on a 12 MP photo: max_pixels shrinks until the merged grid holds 1,024 tokens at most
    made = anyres.plan((4000, 3000), "qwen2.5-vl", max_tokens=1024)
    assert made.num_tokens <= 1024 and made.overrides["max_pixels"] < 12845056
    # InternVL: a 1344x336 strip fits 3 tiles + thumbnail = 1,024 tokens, its default 12 tiles would take 1,280
    assert anyres.plan((1344, 336), "internvl").num_tokens == 1280
    made = anyres.plan((1344, 336), "internvl", max_tokens=1024)
    assert (made.num_tokens, made.overrides["max_tiles"]) == (1024, 3)
    # LLaVA-NeXT with 2x2 pooling, given a 1x4 pinpoint among its choices: 4 x 144 + 144 base = 720
    # tokens fit 720 (the seed's example) and keep more detail than the 1x3 pinpoint's 468
    spec = "llava-next(image_newline=False, image_grid_pinpoints=((336, 672), (336, 1008), (336, 1344)))+pool(2)"
    made = anyres.plan((1344, 336), spec, max_tokens=720)
    assert made.num_tokens == 720 and made.overrides["image_grid_pinpoints"] == ((336, 1344),)
    assert anyres.plan((1344, 336), spec, max_tokens=719).num_tokens == 468


def test_no_fit_names_the_smallest_reachable_count():
    with pytest.raises(PlanError, match="smallest reachable count is 1026 tokens"):
        anyres.plan((800, 600), "llava-next", max_tokens=1000)
    with pytest.raises(PlanError, match="no size knob"):  # fixed resolution: one setting only
        anyres.plan((800, 600), "fixed", max_tokens=100)
    assert anyres.plan((800, 600), "fixed", max_tokens=576).num_tokens == 576


def test_budget_values_are_checked_and_budget_keeps_its_own_parameter():
    with pytest.raises(SpecError):
        anyres.plan((800, 600), "qwen2-vl", max_tokens=0)
    with pytest.raises(SpecError):
        anyres.plan((800, 600), "qwen2-vl", max_tokens=1.5)
    # the budget planner has a max_tokens parameter of its own: passed through, not fitted
    assert anyres.plan((800, 600), "budget", max_tokens=256).params["max_tokens"] == 256


def test_a_range_knob_is_bisected_not_scanned(monkeypatch):
    import anyres.plan as plan_module

    calls = []
    real = plan_module.plan

    def counting(*a, **k):
        calls.append(k)
        return real(*a, **k)

    from anyres.plan import fit

    fit.fit_plan((4000, 3000), "qwen2.5-vl", 1024, {}, counting)
    assert len(calls) <= 2 + 24  # ends, then log2(12845056 - 3136) halvings


def test_plan_many_splits_one_budget_in_proportion_to_need():
    images = [(4000, 3000), (800, 600), (300, 2000)]
    alone = [anyres.plan(s, "qwen2.5-vl").num_tokens for s in images]
    plans = anyres.plan_many(images, "qwen2.5-vl", max_tokens=4000)
    counts = [p.num_tokens for p in plans]
    assert sum(counts) <= 4000
    assert counts[0] > counts[2] > counts[1]  # the order of their needs
    assert all(c <= a for c, a in zip(counts, alone))
    # within budget already: every image at the preset's own settings
    assert [p.num_tokens for p in anyres.plan_many(images[1:], "qwen2.5-vl", max_tokens=4000)] == alone[1:]
    with pytest.raises(PlanError, match="at least 3078 tokens"):
        anyres.plan_many([(800, 600)] * 3, "llava-next", max_tokens=2000)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=st.sampled_from(["qwen2.5-vl", "internvl", "llava-onevision", "minicpm-v", "mistral3"]),
       images=st.lists(sizes, min_size=1, max_size=4), budget=st.integers(1, 8000))
def test_plan_many_never_exceeds_the_budget(spec, images, budget):
    try:
        plans = anyres.plan_many(images, spec, max_tokens=budget)
    except PlanError:
        return
    assert len(plans) == len(images)
    assert sum(p.num_tokens for p in plans) <= budget


def test_compare_fits_each_presets_knob():
    from anyres.reports.compare import compare

    rows = compare((1344, 1344), ["qwen2.5-vl", "internvl", "llava-next", "fixed"], max_tokens=1024)
    by = {r["preset"].split("(")[0]: r for r in rows}
    assert by["qwen2.5-vl"]["tokens"] <= 1024 and "max_pixels=" in by["qwen2.5-vl"]["preset"]
    assert by["internvl"]["tokens"] <= 1024
    assert "smallest reachable count is" in by["llava-next"]["error"]  # 1,026 at least: no pinpoint fits
    assert by["fixed"]["tokens"] == 576  # no knob, and it fits

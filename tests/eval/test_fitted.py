"""Fitted against naive: the naive cap is the largest knob value whose worst case fits,
and the fitted plan keeps at least as much detail within the same budget."""

from __future__ import annotations

import pytest

from anyres import PlanError
from anyres.eval.fitted import naive_setting, naive_spec, worst_tokens
from anyres.plan import plan

SIZES = ((620, 1240), (1040, 1471), (2000, 580), (700, 2460), (1280, 800), (3840, 2160), (500, 500), (90, 3000))


@pytest.mark.parametrize("budget", [512, 1024, 2048])
def test_qwen_naive_cap_is_the_largest_max_pixels_whose_worst_case_fits(budget):
    cap = naive_setting("qwen2.5-vl", budget)["max_pixels"]
    # the model card's recipe, max_pixels = B * 28 * 28, up to the rounding it tolerates (a
    # count just above B may need a grid like 3 x 683, past the aspect-ratio limit)
    assert budget * 28 * 28 <= cap < (budget + 4) * 28 * 28
    assert 0 < worst_tokens("qwen2.5-vl", {"max_pixels": cap}, "max_pixels") <= budget
    assert worst_tokens("qwen2.5-vl", {"max_pixels": cap + 1}, "max_pixels") > budget


def test_internvl_naive_cap_counts_the_thumbnail():
    # k tiles + a thumbnail of 256 tokens each when k > 1: the largest k with 256 (k + 1) <= B
    assert {b: naive_setting("internvl", b) for b in (256, 512, 1024, 2048, 4096)} == {
        256: {"max_tiles": 1}, 512: {"max_tiles": 1}, 1024: {"max_tiles": 3}, 2048: {"max_tiles": 7},
        4096: {"max_tiles": 12}}


def test_naive_spec_writes_the_cap_into_the_spec_and_keeps_reducers():
    assert naive_spec("internvl", 1024) == "internvl(max_tiles=3)"
    assert naive_spec("internvl+visionzip(keep=64)", 1024) == "internvl(max_tiles=12)+visionzip(keep=64)"
    assert plan((3000, 3000), naive_spec("internvl+visionzip(keep=64)", 1024)).num_tokens <= 1024


def test_naive_needs_a_knob_and_a_fitting_value():
    with pytest.raises(PlanError, match="no size knob"):
        naive_setting("fixed", 1024)
    with pytest.raises(PlanError, match="256"):
        naive_setting("internvl", 100)  # one 448 tile is 256 tokens


@pytest.mark.parametrize("spec", ["qwen2.5-vl", "internvl"])
@pytest.mark.parametrize("budget", [512, 1024, 2048])
def test_fitted_keeps_at_least_the_naive_detail_within_the_budget(spec, budget):
    capped = naive_spec(spec, budget)
    for size in SIZES:
        naive = plan(size, capped)
        fitted = plan(size, spec, max_tokens=budget)
        assert naive.num_tokens <= budget and fitted.num_tokens <= budget, size
        assert fitted.diagnostics.min_effective_scale >= naive.diagnostics.min_effective_scale - 1e-9, size


def test_the_qwen_fit_uses_what_the_worst_case_cap_leaves():
    # one cap for every image leaves tokens unused where smart_resize rounds down; the
    # per-image fit takes them: 1280x800 at 512 tokens, 476 -> 504 tokens, scale 0.595 -> 0.6125
    naive = plan((1280, 800), naive_spec("qwen2.5-vl", 512))
    fitted = plan((1280, 800), "qwen2.5-vl", max_tokens=512)
    assert (naive.num_tokens, fitted.num_tokens) == (476, 504)
    assert fitted.diagnostics.min_effective_scale > naive.diagnostics.min_effective_scale


def test_the_worst_case_is_searched_not_assumed():
    # smart_resize keeps a thin side at 28 px and rescales the long one *up* when it
    # divides by the cap's factor: at max_pixels = 64 * 28 * 28 a 16x2048 strip takes
    # 90 tokens, so the recipe B * 28 * 28 does not keep small budgets; the naive cap does
    assert plan((16, 2048), "qwen2.5-vl", max_pixels=64 * 28 * 28).num_tokens == 90
    cap = naive_setting("qwen2.5-vl", 64)["max_pixels"]
    assert cap < 64 * 28 * 28 and plan((16, 2048), "qwen2.5-vl", max_pixels=cap).num_tokens <= 64

"""Token reducers in the spec: parsing, counts, grids, layout and cost (pure plan)."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import anyres
from anyres.errors import SpecError
from anyres.plan.spec import parse_spec, split_spec

ONE_BY_FOUR = "llava-next(image_grid_pinpoints=((336, 1344),), image_newline=False)"


def test_issue_examples_parse_and_plan():
    for spec in ("llava-next+pool(2)", "internvl+visionzip(keep=64)", "qwen2-vl+tome(r=0.5)", "llava-next+prumerge",
                 "llava-onevision+pool(2)+visionzip(keep=0.25)"):
        p = anyres.plan((1000, 600), spec)
        assert p.num_tokens < p.unreduced.num_tokens
        assert anyres.plan((1000, 600), p.spec) == p  # the spec reproduces the plan
    assert split_spec("internvl(max_tiles=6)+visionzip(64)") == ("internvl(max_tiles=6)", (("visionzip", (64,), {}),))
    assert parse_spec("internvl(max_tiles=6)+tome(r=0.5)") == ("internvl", {"max_tiles": 6})


def test_seed_example_pool_gives_720_without_newlines():
    p = anyres.plan((1344, 336), ONE_BY_FOUR + "+pool(2)")
    assert p.unreduced.num_tokens == 2880 and p.num_tokens == len(p.layout) == 720
    assert p.newline_tokens == 0 and [v.token_grid for v in p.views] == [(12, 12)] * 5


def test_newlines_follow_the_pooled_grid():
    p = anyres.plan((1344, 336), "llava-next(image_grid_pinpoints=((336, 1344),))+pool(2)")
    assert p.newline_tokens == 12 and p.num_tokens == 720 + 12
    segs = p.layout.segments
    assert [s.kind for s in segs[1:6]] == ["visual"] * 4 + ["newline"]  # a pooled row across 4 tiles, then \n
    assert [s.count for s in segs[1:5]] == [12] * 4


def test_declared_counts():
    internvl = anyres.plan((1000, 600), "internvl+visionzip(keep=64)")
    assert all(v.tokens == 64 for v in internvl.views)
    assert anyres.plan((1000, 600), "internvl+visionzip(0.25)").views[0].tokens == 64
    qwen = anyres.plan((1000, 600), "qwen2-vl")
    assert anyres.plan((1000, 600), "qwen2-vl+tome(r=0.5)").num_tokens == qwen.num_tokens - qwen.num_tokens // 2
    assert anyres.plan((1000, 600), "qwen2-vl+tome(100)").num_tokens == qwen.num_tokens - 100
    base = anyres.plan((336, 336), "fixed")
    assert anyres.plan((336, 336), "fixed+prumerge").num_tokens == 576 // 8 + 1 == base.num_tokens // 8 + 1
    assert anyres.plan((336, 336), "fixed+prumerge(0.25, summary=False)").num_tokens == 144


@pytest.mark.parametrize("spec,message", [
    ("llava-next+squeeze(2)", "unknown token reducer"),
    ("llava-next+pool(0)", "k must be a positive integer"),
    ("llava-next+pool(2, 3)", "at most 1 positional"),
    ("llava-next+pool(k=2, j=1)", "no parameter 'j'"),
    ("llava-next+visionzip(keep=64)+pool(2)", "pool must come before"),
    ("llava-next+tome(r=-1)", "r must be"),
    ("llava-next+prumerge(ratio=2)", "ratio must be"),
    ("llava-next+", "empty reducer"),
    ("llava-next+pool(__import__('os'))", "must be literals"),
])
def test_bad_reducers_are_spec_errors(spec, message):
    with pytest.raises(SpecError, match=message):
        anyres.plan((1000, 600), spec)


def test_reduced_plans_pickle_and_cost_less():
    p = anyres.plan((1000, 600), "llava-next+pool(2)")
    q = pickle.loads(pickle.dumps(p))
    assert q == p and len(q.layout) == len(p.layout) and q.unreduced.num_tokens == p.unreduced.num_tokens
    full = anyres.plan((1000, 600), "llava-next").cost("clip-l/336", "llama-2-7b", 4096)
    pooled = p.cost("clip-l/336", "llama-2-7b", 4096)
    assert pooled.encoder_flops == full.encoder_flops  # the encoder sees the same views
    assert pooled.kv_cache_bytes * full.prompt_tokens == full.kv_cache_bytes * pooled.prompt_tokens
    assert pooled.context_share == p.num_tokens / 4096


REDUCED = ("+pool(2)", "+pool(3)", "+visionzip(keep=16)", "+tome(r=0.5)", "+prumerge", "+pool(2)+tome(7)",
           "+pool(2)+visionzip(keep=0.25)", "+matryoshka(100)", "+vitar(5)")
side = st.integers(min_value=1, max_value=20000)
thin = st.tuples(st.integers(1, 40), st.integers(1, 20000)).flatmap(lambda t: st.sampled_from([t, (t[1], t[0])]))


@pytest.mark.parametrize("preset", anyres.presets())
def test_token_invariant_over_reducers(preset):
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(size=st.one_of(st.tuples(side, side), thin), reducers=st.sampled_from(REDUCED))
    def check(size, reducers):
        try:
            p = anyres.plan(size, preset + reducers)
        except anyres.PlanError:
            return
        except SpecError as exc:
            assert any(m in str(exc) for m in ("pool needs a token grid", "not in the prompt", "pools a token grid", "merges"))
            return
        assert p.num_tokens == sum(v.tokens for v in p.views) + p.newline_tokens == p.layout.num_visual
        assert sum(1 for s in p.layout.segments for _ in range(s.count) if s.kind == "newline") == p.newline_tokens
        assert p.num_tokens <= p.unreduced.num_tokens
        assert len(p.layout) - p.layout.num_visual == len(p.unreduced.layout) - p.unreduced.layout.num_visual

    check()

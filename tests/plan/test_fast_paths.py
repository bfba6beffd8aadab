"""The planners rewritten for speed give what their straightforward restatements
(``restated.py``) give: every field of the strategy's output, on thousands of sizes
(1x1 to 20000x20000, extreme aspect ratios) and under overrides."""

from __future__ import annotations

import random

import pytest

import anyres
from anyres.plan import STRATEGIES, Size, resolve, with_grids
from anyres.plan.strategies import anyres_tiling, s2, slicing

from . import restated
from .sizes import sample_sizes

SIZES = [Size(w, h) for w, h in sample_sizes(3000, seed=12)]


def _parts(parts) -> tuple:
    return (parts.canvases, parts.views, parts.grid, parts.newline_tokens, parts.info, parts.warnings)


def _types(views) -> list:
    """The number types in each view's boxes (an int where a float was is a change too)."""
    return [type(x) for v in views for part in (v.crop, v.source, v.padding) for x in part]


def _first_difference(fast, slow, preset: str, sizes) -> list:
    """The sizes where ``fast`` and ``slow`` differ (the restatements leave each view's
    feature and token grids to ``plan``, which fills them from the connector)."""
    chosen, params, _ = resolve(preset)
    connector = STRATEGIES[chosen.strategy].connector(params, {})
    bad = []
    for s in sizes:
        a = _parts(fast(s, params))
        b = _parts(slow(s, params))
        b = (b[0], with_grids(b[1], connector), *b[2:])
        if a != b or _types(a[1]) != _types(b[1]):
            bad.append((s, preset))
            if len(bad) > 3:
                break
    return bad


ANYRES_SPECS = [
    ("llava-next", SIZES),
    ("llava-onevision", SIZES),
    ("llava-next(feature_select_strategy='full', image_newline=False)", SIZES[:400]),
    ("llava-onevision(max_views=4, shrink_threshold=1.0)", SIZES[:400]),
    ("llava-next(image_grid_pinpoints=[[336, 336], [672, 336], [336, 336], [336, 1344], [1344, 336], [1008, 1008]])",
     SIZES[:400]),
    ("llava-onevision(base_size=336, patch_size=14, image_grid_pinpoints=[[336, 1008], [1008, 336], [672, 672]])",
     SIZES[:400]),
]


@pytest.mark.parametrize("spec,sizes", ANYRES_SPECS, ids=[s for s, _ in ANYRES_SPECS])
def test_fast_anyres_tiling_equals_its_restatement(spec, sizes):
    bad = _first_difference(anyres_tiling.plan_anyres, restated.plan_anyres, spec, sizes)
    assert not bad, f"fast and restated anyres planners differ: {bad}"


OTHER_SPECS = [
    (slicing.plan_slicing, restated.plan_slicing, "minicpm-v", SIZES),
    (slicing.plan_slicing, restated.plan_slicing, "llava-uhd", SIZES),
    (slicing.plan_slicing, restated.plan_slicing, "minicpm-v(slice_mode=False)", SIZES[:300]),
    (slicing.plan_slicing, restated.plan_slicing, "llava-uhd(max_slice_nums=4, query_num=144)", SIZES[:600]),
    (s2.plan_s2, restated.plan_s2, "s2", SIZES),
    (s2.plan_s2, restated.plan_s2, "s2(crop=False)", SIZES[:600]),
    (s2.plan_s2, restated.plan_s2, "s2(scales=(224, 448, 672), split_size=224)", SIZES[:600]),
]


@pytest.mark.parametrize("fast,slow,spec,sizes", OTHER_SPECS, ids=[s for _, _, s, _ in OTHER_SPECS])
def test_fast_slicing_and_s2_equal_their_restatements(fast, slow, spec, sizes):
    bad = _first_difference(fast, slow, spec, sizes)
    assert not bad, f"fast and restated planners differ: {bad}"


def test_best_pinpoint_equals_select_best_resolution_on_ties_and_lists():
    rng = random.Random(3)
    pinsets = [
        anyres_tiling.ONEVISION_PINPOINTS,
        anyres_tiling.LLAVA_NEXT_PINPOINTS,
        ((336, 336), (336, 336), (672, 336), (336, 672), (672, 672)),  # a duplicate: the first wins
        [[384, 768], [768, 384], [384, 384]],  # lists, as a preprocessor_config.json gives them
        ((672, 672), (336, 1344), (1344, 336), (336, 336)),  # equal areas in several orders
    ]
    for _ in range(4000):
        s = Size(int(10 ** rng.uniform(0, 4.3)), int(10 ** rng.uniform(0, 4.3)))
        for pins in pinsets:
            assert anyres_tiling.best_pinpoint(s, pins) == restated.select_best_resolution(s, pins), (s, pins)


def test_tile_counts_equal_the_row_by_row_count():
    rng = random.Random(5)
    for _ in range(20000):
        side = rng.choice([24, 27, 14, 1, 2])
        n = rng.randint(1, 7)
        kept = rng.randint(1, n * side)
        start = rng.randint(0, n * side - kept)
        out = rng.randint(0, kept)
        assert anyres_tiling.tile_counts(start, kept, out, side, n) == restated.owner_counts(
            start, kept, out, side, n
        ), (start, kept, out, side, n)


def test_plans_through_the_public_api_are_unchanged():
    """The whole plan (views, layout length, tokens) through ``anyres.plan``."""
    for s in SIZES[:300]:
        for preset in ("llava-next", "llava-onevision"):
            p = anyres.plan(s, preset)
            _, params, _ = resolve(preset)
            ref = restated.plan_anyres(s, params)
            assert p.views == ref.views and p.num_tokens == sum(v.tokens for v in ref.views) + ref.newline_tokens
            assert len(p.layout) == p.num_tokens


def test_best_canvas_equals_the_four_pass_rule():
    from anyres.plan.strategies.fit_canvas import best_canvas, f32, grid_canvases, llama4_grids, mllama_grids

    tables = [grid_canvases(llama4_grids(16), 336), grid_canvases(llama4_grids(5), 336),
              grid_canvases(mllama_grids(4), 560), grid_canvases(mllama_grids(8), 448)]
    for s in SIZES:
        for canvases in tables:
            for in_f32 in (False, True):
                division = (lambda t, n: f32(t / n)) if in_f32 else (lambda t, n: t / n)
                for to_max in (False, True):
                    assert best_canvas(s, canvases, in_f32, to_max) == restated.best_canvas(
                        s, canvases, division, to_max
                    ), (s, canvases[:3], in_f32, to_max)

"""The planners rewritten for speed give what their straightforward restatements
(``restated.py``) give: every field of the strategy's output, on thousands of sizes
(1x1 to 20000x20000, extreme aspect ratios) and under overrides."""

from __future__ import annotations

import random

import pytest

import anyres
from anyres.plan import Size, resolve
from anyres.plan.strategies import anyres_tiling

from . import restated
from .sizes import sample_sizes

SIZES = [Size(w, h) for w, h in sample_sizes(3000, seed=12)]


def _parts(parts) -> tuple:
    return (parts.canvases, parts.views, parts.grid, parts.newline_tokens, parts.info, parts.warnings)


def _types(views) -> list:
    """The number types in each view's boxes (an int where a float was is a change too)."""
    return [type(x) for v in views for part in (v.crop, v.source, v.padding) for x in part]


def _first_difference(fast, slow, preset: str, sizes) -> list:
    _, params, _ = resolve(preset)
    bad = []
    for s in sizes:
        a, b = _parts(fast(s, params)), _parts(slow(s, params))
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

"""The plan's connector and each view's grids: what the layers after planning read."""

from __future__ import annotations

import pickle
import random

import pytest

import anyres
from anyres.plan import STRATEGIES, Connector, preset_connector, view_grids
from anyres.plan.connector import check_connector


@pytest.mark.parametrize("preset", anyres.presets())
def test_grids_a_strategy_sets_are_the_ones_its_connector_gives(preset):
    rng = random.Random(preset)
    for _ in range(300):
        size = (rng.randint(1, 6000), rng.randint(1, 6000))
        try:
            plan = anyres.plan(size, preset)
        except anyres.PlanError:
            continue
        check_connector(plan.connector, plan.strategy)
        for v in plan.views:
            assert (v.features, v.token_grid) == view_grids(v, plan.connector), (preset, size, v)
            rows, cols = v.token_grid
            # every token of a view has a cell (a kept CLS and OneVision's shrink aside, never more)
            assert v.tokens <= rows * cols + plan.connector.keep_cls or plan.connector.kind == "unpad-newline"


def test_the_connector_of_a_preset_before_any_image():
    assert preset_connector("internvl") == Connector("pixel-shuffle", 2, patch_size=14, projector="norm_mlp")
    assert preset_connector("qwen2-vl").position_ids == "mrope"
    assert preset_connector("llava-next(feature_select_strategy='full')").keep_cls == 1
    assert preset_connector("idefics3").projector == "linear_nobias"
    assert preset_connector("s2").channels == 3


def test_a_plan_pickles_with_its_connector_grids_and_pixel_settings():
    plan = anyres.plan((1000, 600), "llava-next")
    back = pickle.loads(pickle.dumps(plan))
    import dataclasses

    assert set(plan.__dict__) >= {f.name for f in dataclasses.fields(plan)}  # plan() sets every field
    assert back == plan and back.connector == plan.connector and back.pixels == plan.pixels
    assert [v.token_grid for v in back.views] == [v.token_grid for v in plan.views]
    assert len(back.layout) == len(plan.layout)


def test_a_strategy_connector_that_is_not_one_is_refused():
    with pytest.raises(anyres.SpecError, match="connector kind 'swirl'"):
        check_connector(Connector("swirl"), "x")
    with pytest.raises(anyres.SpecError, match="factor must be a positive integer"):
        check_connector(Connector("pool", 0), "x")
    assert set(STRATEGIES) >= {"anyres", "native", "internvl"}

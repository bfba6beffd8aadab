"""The README's coverage table claims only what the tests check: every test file a family
names exists and names its preset; tower types are those transformers 5.23 configures."""

from __future__ import annotations

from pathlib import Path

import pytest

import anyres
from anyres.reports.coverage import FAMILIES, coverage_table, tower_support

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.family)
def test_claimed_tests_exist_and_check_the_preset(family):
    for path in (family.plan_test, family.pixel_test, family.tower_test):
        if not path:
            continue
        text = (ROOT / path).read_text()
        assert family.preset is not None
        assert any(q + family.preset + e in text for q in ('"', "'") for e in ('"', "'", "(")), (family, path)
    if family.tower_test:
        text = (ROOT / family.tower_test).read_text()
        assert "get_image_features" in text and "from_preset" in text, (family, family.tower_test)
        assert tower_support(family).startswith("verified"), "an end-to-end test needs a tower anyres loads"
    if family.preset is not None:
        anyres.get_preset(family.preset)  # a registered preset
    assert family.plan_check in ("processor", "formula", "")
    assert bool(family.plan_check) == bool(family.plan_test)


def test_tower_types_are_transformers_vision_configs():
    from transformers import CONFIG_MAPPING

    checked = 0
    for f in FAMILIES:
        if not f.tower or f.model_type not in CONFIG_MAPPING:
            continue
        vision = getattr(CONFIG_MAPPING[f.model_type], "sub_configs", {}).get("vision_config")
        declared = getattr(vision, "model_type", "")
        if declared:  # an AutoConfig sub-config has no fixed type: the checkpoint's config names it
            assert declared == f.tower, (f.family, declared)
            checked += 1
    assert checked >= 15


def test_every_transformers_preset_is_listed_once():
    listed = [f.preset for f in FAMILIES if f.preset]
    assert len(listed) == len(set(listed))
    references = [p for p in anyres.presets() if anyres.get_preset(p).reference.startswith("transformers")]
    missing = sorted(set(references) - set(listed))
    assert not missing, f"presets with a transformers reference missing from the coverage table: {missing}"


def test_table_is_computed_from_the_registries():
    table = coverage_table()
    assert "| Ovis2 | `ovis2` | tested vs processor | max diff 0 | stand-in | exact |" in table
    assert "| Qwen2-VL | `qwen2-vl` | tested vs processor | max diff 0 | verified (qwen2_vl) | exact |" in table
    assert "| Aria | `aria` | tested vs processor | max diff 0 | loads (idefics3) |" in table
    assert "| LLaVA-UHD | `llava-uhd` | formula | refused (no transformers processor) | stand-in | formula |" in table
    assert "| LFM2-VL | - | - | - | - | missing |" in table

"""Every strategy is served, or refused on purpose, by every layer after planning; and
no layer outside ``anyres.plan`` switches on a strategy's name or re-derives geometry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import anyres
from anyres.layers import LAYERS, missing_entries
from anyres.plan import STRATEGIES

pytest.importorskip("torch")
pytest.importorskip("transformers")

SRC = Path(anyres.__file__).parent


def _load_layers() -> None:
    import anyres.hf  # noqa: F401
    import anyres.pipeline  # noqa: F401
    import anyres.pixels  # noqa: F401
    import anyres.tokens  # noqa: F401


def test_every_registered_strategy_has_an_entry_in_every_layer():
    _load_layers()
    assert set(LAYERS) >= {"pixels output='hf'", "tokens assembly", "pipeline encoder check",
                           "transformers image processor (anyres.hf)"}
    assert missing_entries(STRATEGIES) == []


def test_a_layer_that_refuses_a_strategy_says_which_layer_and_why():
    _load_layers()
    with pytest.raises(anyres.SpecError, match=r"pixels output='hf' does not support strategy 'slicing'"):
        anyres.pixels.HF_OUTPUTS.get("slicing")
    import numpy as np

    with pytest.raises(anyres.SpecError, match=r"pixels output='hf' does not support strategy 'slicing'"):
        anyres.preprocess(np.zeros((64, 64, 3), np.uint8), "minicpm-v", output="hf")
    from anyres.hf import AnyresImageProcessor

    with pytest.raises(anyres.SpecError, match=r"transformers image processor .* does not support strategy 'gpt4v'"):
        AnyresImageProcessor("gpt4v")


def test_a_strategy_a_layer_does_not_know_is_a_spec_error_naming_the_layer():
    _load_layers()
    for name, registry in LAYERS.items():
        with pytest.raises(anyres.SpecError, match=re.escape(name) + r" has no entry for strategy 'no-such'"):
            registry.get("no-such")


def _code_outside_plan():
    for path in sorted(SRC.rglob("*.py")):
        if "plan" not in path.relative_to(SRC).parts[:1]:
            yield path, path.read_text()


def test_no_layer_outside_plan_switches_on_a_strategy_name():
    hits = [f"{p.relative_to(SRC)}:{n}" for p, text in _code_outside_plan()
            for n, line in enumerate(text.splitlines(), 1) if re.search(r"strategy\s*(==|!=)|strategy in \(", line)]
    assert hits == []


def test_no_geometry_defaults_outside_plan():
    pattern = re.compile(r"""params\.get\(\s*["'](patch_size|merge_size|temporal_patch_size|scale_factor|"""
                         r"""downsample_ratio|tile_size|keep_cls)["']""")
    hits = [f"{p.relative_to(SRC)}:{n}" for p, text in _code_outside_plan()
            for n, line in enumerate(text.splitlines(), 1) if pattern.search(line)]
    assert hits == []

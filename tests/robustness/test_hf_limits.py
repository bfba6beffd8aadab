"""Spec values that arrive through preprocessor_config.json meet the same bounds."""

from __future__ import annotations

import json

import pytest

import anyres

pytest.importorskip("transformers")


@pytest.mark.parametrize(
    "preset", ["internvl(max_tiles=30000)", "fixed(size=30000)", "gpt4v(tile_size=1)", "internvl(use_thumbnail='no')"]
)
def test_from_pretrained_refuses_unbounded_specs(tmp_path, preset):
    from anyres.hf import AnyresImageProcessor

    AnyresImageProcessor("internvl").save_pretrained(tmp_path)
    path = tmp_path / "preprocessor_config.json"
    config = json.loads(path.read_text())
    config["preset"] = preset
    path.write_text(json.dumps(config))
    with pytest.raises(anyres.SpecError):
        AnyresImageProcessor.from_pretrained(tmp_path)

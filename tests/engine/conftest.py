from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("pyarrow")


@pytest.fixture(scope="session")
def tiny_clip_folder(tmp_path_factory):
    from transformers import CLIPVisionConfig, CLIPVisionModel

    from ..encode.conftest import randomize, save

    cfg = CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                           image_size=28, patch_size=14)
    return save(randomize(CLIPVisionModel(cfg), 21), tmp_path_factory.mktemp("engine_clip"))

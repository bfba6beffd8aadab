"""M-RoPE ids for prompts with several images equal get_rope_index of Qwen2.5-VL, Qwen3-VL
and GLM-4.1V (for images all three follow Qwen2-VL's rule: text counts up on three axes,
an image spans its merged grid from the running position, the text after it resumes at
start + max(h, w) / merge), and VisualTokens.position_ids covers a wrapped layout."""

from __future__ import annotations

import types

import pytest
import torch

import anyres
from anyres.tokens import rope_index

from .test_mrope import IMAGE, LAYOUTS, _sequence

pytest.importorskip("transformers")


def _reference(module: str, cls: str):
    import importlib

    model_cls = getattr(importlib.import_module(f"transformers.models.{module}.modeling_{module}"), cls)
    fake = types.SimpleNamespace(config=types.SimpleNamespace(vision_config=types.SimpleNamespace(
        spatial_merge_size=2, tokens_per_second=2)))
    fake.get_vision_position_ids = types.MethodType(model_cls.get_vision_position_ids, fake)
    return lambda ids, grids: model_cls.get_rope_index(fake, ids, (ids == IMAGE).int(), image_grid_thw=grids)


@pytest.mark.parametrize("module,cls", [("qwen2_5_vl", "Qwen2_5_VLModel"), ("qwen3_vl", "Qwen3VLModel"),
                                        ("glm4v", "Glm4vModel")])
@pytest.mark.parametrize("parts", LAYOUTS)
def test_rope_index_matches_each_family(module, cls, parts):
    input_ids, grids = _sequence(parts)
    ref_pos, ref_delta = _reference(module, cls)(input_ids, grids)
    pos, delta = rope_index(input_ids, IMAGE, grids)
    assert torch.equal(pos, ref_pos) and torch.equal(delta.reshape(-1), ref_delta.reshape(-1))


@pytest.mark.parametrize("preset", ["qwen2.5-vl", "qwen3-vl", "glm4v", "paddleocr-vl"])
def test_visual_tokens_position_ids_cover_the_wrapped_layout(preset):
    from anyres.pipeline import VisualTokens

    p = anyres.plan((500, 300), preset)
    n = p.num_tokens
    t = VisualTokens(torch.zeros(n, 1), torch.zeros(n, 3, dtype=torch.int64), torch.zeros(n, dtype=torch.int8), p)
    ids = t.position_ids(start=5)
    assert ids.shape == (3, len(p.layout)) == (3, n + 2)
    input_ids, grids = _sequence([5, p.info["image_grid_thw"]])  # 5 text tokens, then the wrapped image
    want, _ = rope_index(input_ids, IMAGE, grids, merge_size=p.connector.factor)
    assert torch.equal(ids, want[:, 0, 5:])

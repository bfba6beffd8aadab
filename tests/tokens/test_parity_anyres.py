"""Assembly of LLaVA-NeXT / LLaVA-OneVision plans == transformers' pack_image_features.

The same random features go through transformers' ``LlavaNextModel.pack_image_features``
/ ``LlavaOnevisionModel.pack_image_features`` (models built from tiny configs, no
weights downloaded) and through our assembler; the outputs must agree row for row.
``get_image_features`` (projector, then packing) is compared too, with the vision tower
replaced by a stub that returns the given features.
"""

from __future__ import annotations

import pytest
import torch

import anyres
from anyres.tokens import NEWLINE_ROW, Assembler

from ..plan.sizes import EDGE_SIZES, sample_sizes
from ..tolerance import assert_close_rel
from .helpers import random_features

transformers = pytest.importorskip("transformers")
from transformers.modeling_outputs import BaseModelOutputWithPooling  # noqa: E402

WIDTH = 16
TINY_TEXT = dict(hidden_size=WIDTH, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, vocab_size=64)
THIN = [(1, 20000), (20000, 1), (13, 2600), (2600, 13), (1, 3), (3, 1), (5, 2000), (2000, 5), (40, 20000), (20000, 40)]


def _llava_next(plan_params):
    cfg = transformers.LlavaNextConfig(
        vision_config=dict(model_type="clip_vision_model", hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                           num_attention_heads=2, image_size=plan_params["base_size"], patch_size=plan_params["patch_size"]),
        text_config=dict(model_type="llama", **TINY_TEXT),
        image_grid_pinpoints=[list(p) for p in plan_params["image_grid_pinpoints"]],
    )
    return transformers.LlavaNextModel(cfg).eval()


def _llava_onevision(plan_params):
    cfg = transformers.LlavaOnevisionConfig(
        vision_config=dict(model_type="siglip_vision_model", hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                           num_attention_heads=2, image_size=plan_params["base_size"], patch_size=plan_params["patch_size"]),
        text_config=dict(model_type="qwen2", **TINY_TEXT),
        image_grid_pinpoints=[list(p) for p in plan_params["image_grid_pinpoints"]],
    )
    return transformers.LlavaOnevisionModel(cfg).eval()


@pytest.fixture(scope="module")
def next_model():
    return _llava_next(anyres.plan((100, 100), "llava-next").params)


@pytest.fixture(scope="module")
def ov_model():
    return _llava_onevision(anyres.plan((100, 100), "llava-onevision").params)


def _check_rows(plan, seq, ref):
    assert len(seq) == plan.num_tokens == ref.shape[0], (plan, len(seq), ref.shape)
    # the same projector (a 2-layer MLP) and newline rows as the reference, unpadding exact:
    # float32 rounding of the MLP's sums in perhaps other kernels
    assert_close_rel(seq.embeddings, ref, ulps=8, what="rows")


def _pack(model, plan, feats, **kw):
    stacked = torch.stack(feats)  # (views, n, d), what the model's projector emits
    image_sizes = torch.tensor([[plan.image.height, plan.image.width]])
    with torch.no_grad():
        out, lens = model.pack_image_features([stacked], image_sizes, image_newline=model.image_newline, **kw)
    return out[0]


def _assembler(model, plan):
    return Assembler.for_plan(plan, WIDTH).load_reference(model.state_dict())


SIZES_NEXT = sample_sizes(140, seed=11) + THIN
SIZES_OV = sample_sizes(110, seed=12) + THIN


def test_llava_next_pack_parity(next_model):
    g = torch.Generator().manual_seed(0)
    checked = 0
    for size in SIZES_NEXT:
        plan = anyres.plan(size, "llava-next")
        feats = random_features(plan, WIDTH, 14, g)
        asm = _assembler(next_model, plan)
        with torch.no_grad():
            seq = asm(plan, feats)
        _check_rows(plan, seq, _pack(next_model, plan, feats, vision_feature_select_strategy="default"))
        checked += 1
    assert checked == len(SIZES_NEXT)


def test_onevision_pack_parity(ov_model):
    g = torch.Generator().manual_seed(1)
    shrunk = 0
    for size in SIZES_OV:
        plan = anyres.plan(size, "llava-onevision")
        feats = random_features(plan, WIDTH, 14, g)
        with torch.no_grad():
            seq = _assembler(ov_model, plan)(plan, feats)
        _check_rows(plan, seq, _pack(ov_model, plan, feats))
        shrunk += "interpolated_map" in plan.info
    assert shrunk > 10  # the bilinear shrink was exercised


def test_onevision_multi_image_parity(ov_model):
    g = torch.Generator().manual_seed(2)
    for size in [(1000, 600), (1, 20000), (384, 384), (5000, 7)]:
        plan = anyres.plan(size, "llava-onevision", multi_image=True)
        feats = random_features(plan, WIDTH, 14, g)
        with torch.no_grad():
            seq = _assembler(ov_model, plan)(plan, feats)
        _check_rows(plan, seq, _pack(ov_model, plan, feats))
        assert int(seq.kind[-1]) == NEWLINE_ROW and len(seq) == 730


class _StubTower(torch.nn.Module):
    """Stands in for the vision tower: returns the features it was given."""

    def __init__(self, features: torch.Tensor) -> None:
        super().__init__()
        self.features = features

    def forward(self, pixel_values, **kwargs):
        assert pixel_values.shape[0] == self.features.shape[0]
        h = self.features
        return BaseModelOutputWithPooling(last_hidden_state=h, hidden_states=(h, h, h))


@pytest.mark.parametrize("preset", ["llava-next", "llava-onevision"])
def test_get_image_features_with_projector(preset):
    """Projector (mlp2x_gelu, vision width 8 -> 16) then packing, weights from the model."""
    base = anyres.plan((10, 10), preset).params
    model = _llava_next(base) if preset == "llava-next" else _llava_onevision(base)
    torch.manual_seed(3)
    for size in [(1000, 600), (600, 1000), (1, 20000), (4032, 3024), (2600, 13)]:
        plan = anyres.plan(size, preset)
        feats = random_features(plan, 8, 14, with_prefix=preset == "llava-next")  # CLIP gives a CLS row
        model.vision_tower = _StubTower(torch.stack(feats))
        pixel_values = torch.zeros(len(feats), 3, 1, 1)
        image_sizes = torch.tensor([[plan.image.height, plan.image.width]])
        with torch.no_grad():
            ref = model.get_image_features(pixel_values, image_sizes, vision_feature_layer=-1).pooler_output[0]
            asm = Assembler.for_plan(plan, 8, WIDTH).load_reference(model.state_dict())
            seq = asm(plan, feats)
        _check_rows(plan, seq, ref)


def test_edge_sizes_are_in_the_samples():
    assert set(EDGE_SIZES) <= set(SIZES_NEXT)

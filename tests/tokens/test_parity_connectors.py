"""InternVL, Idefics3 and Qwen2-VL connectors against transformers (tiny random models)."""

from __future__ import annotations

import pytest
import torch

import anyres
from anyres.tokens import (
    Assembler,
    MLPProjector,
    NormMLPProjector,
    PatchMerger,
    block_order,
    idefics3_pixel_shuffle,
    load_projector,
    pixel_shuffle,
)

from ..tolerance import assert_close_rel
from .helpers import random_features

transformers = pytest.importorskip("transformers")
from transformers.modeling_outputs import BaseModelOutputWithPooling  # noqa: E402
from transformers.models.idefics3.modeling_idefics3 import Idefics3Connector  # noqa: E402
from transformers.models.internvl.modeling_internvl import InternVLModel  # noqa: E402
from transformers.models.qwen2_vl.modeling_qwen2_vl import PatchMerger as RefPatchMerger  # noqa: E402

TINY_TEXT = dict(hidden_size=24, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, vocab_size=64)


class _Stub(torch.nn.Module):
    def __init__(self, features):
        super().__init__()
        self.features = features

    def forward(self, *args, **kwargs):
        return BaseModelOutputWithPooling(last_hidden_state=self.features, hidden_states=(self.features,))


def test_pixel_shuffles_match_transformers():
    x = torch.randn(3, 6, 10, 5)  # not square: InternVL's shuffle works on any even map
    torch.testing.assert_close(pixel_shuffle(x, 0.5), InternVLModel.pixel_shuffle(None, x, 0.5), rtol=0, atol=0)
    seq = torch.randn(2, 36, 7)
    torch.testing.assert_close(idefics3_pixel_shuffle(seq, 2), Idefics3Connector.pixel_shuffle(None, seq, 2), rtol=0, atol=0)
    seq3 = torch.randn(2, 81, 4)
    torch.testing.assert_close(idefics3_pixel_shuffle(seq3, 3), Idefics3Connector.pixel_shuffle(None, seq3, 3), rtol=0, atol=0)
    # the two references agree on a square map: same block order
    sq = torch.randn(2, 8, 8, 3)
    torch.testing.assert_close(  # both are permutations: exact
        InternVLModel.pixel_shuffle(None, sq, 0.5).reshape(2, 16, 12), Idefics3Connector.pixel_shuffle(None, sq.reshape(2, 64, 3), 2),
        rtol=0, atol=0,
    )


def test_internvl_vision_path_parity():
    cfg = transformers.InternVLConfig(
        vision_config=dict(hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
                           image_size=[448, 448], patch_size=[14, 14]),
        text_config=dict(model_type="qwen2", **TINY_TEXT),
    )
    model = InternVLModel(cfg).eval()
    torch.manual_seed(0)
    for size in [(1000, 600), (300, 4000), (448, 448), (20000, 1), (1, 1)]:
        plan = anyres.plan(size, "internvl")
        feats = random_features(plan, 8, 14, with_prefix=True)  # InternViT's CLS row, dropped by "default"
        model.vision_tower = _Stub(torch.stack(feats))
        with torch.no_grad():
            ref = model.get_image_features(torch.zeros(len(feats), 3, 1, 1), vision_feature_layer=-1,
                                           vision_feature_select_strategy="default").pooler_output
            seq = Assembler.for_plan(plan, 8, 24).load_reference(model.state_dict())(plan, feats)
        assert ref.shape[:2] == (len(plan.views), 256)
        assert len(seq) == plan.num_tokens
        # shuffle (exact), then LayerNorm + 2-layer MLP of width 32 -> 24, the same float32 ops
        # (bit-equal here); 8 ulps for kernels that block the length-32 sums differently
        assert_close_rel(seq.embeddings, ref.reshape(-1, 24), ulps=8, what=f"internvl {size}")


def test_internvl_original_mlp1_names_load():
    """The original InternVL checkpoints name the connector mlp1.{0,1,3}."""
    ref = torch.nn.Sequential(torch.nn.LayerNorm(32), torch.nn.Linear(32, 24), torch.nn.GELU(), torch.nn.Linear(24, 24))
    ours = NormMLPProjector(32, 24)
    load_projector(ours, {f"mlp1.{k}": v for k, v in ref.state_dict().items()})
    x = torch.randn(5, 32)
    with torch.no_grad():  # the same modules' weights: the same kernels, equal up to threading
        assert_close_rel(ours(x), ref(x), ulps=4, what="mlp1")


def test_idefics3_connector_parity():
    cfg = transformers.Idefics3Config(
        vision_config=dict(hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
                           image_size=364, patch_size=14),
        text_config=dict(model_type="llama", **TINY_TEXT),
        scale_factor=2,
    )
    model = transformers.Idefics3Model(cfg).eval()
    torch.manual_seed(1)
    for size in [(1000, 600), (300, 4000), (364, 364), (20000, 1), (1, 1)]:
        plan = anyres.plan(size, "idefics3")
        feats = random_features(plan, 8, 14)
        model.vision_model = _Stub(torch.stack(feats))
        pixel_values = torch.ones(1, len(feats), 3, 14, 14)
        with torch.no_grad():
            ref = model.get_image_features(pixel_values).pooler_output[0]
            seq = Assembler.for_plan(plan, 8, 24).load_reference(model.state_dict())(plan, feats)
        assert len(seq) == plan.num_tokens == ref.shape[0]
        # shuffle (exact), then one linear layer of width 32: as above
        assert_close_rel(seq.embeddings, ref, ulps=8, what=f"idefics3 {size}")


def test_llava_projector_parity():
    cfg = transformers.LlavaNextConfig(
        vision_config=dict(model_type="clip_vision_model", hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2),
        text_config=dict(model_type="llama", **TINY_TEXT),
    )
    model = transformers.LlavaNextModel(cfg).eval()
    ours = MLPProjector(8, 24)
    load_projector(ours, model.state_dict())
    x = torch.randn(7, 8)
    with torch.no_grad():
        # the same two linear layers and GELU: equal up to threading
        assert_close_rel(ours(x), model.multi_modal_projector(x), ulps=4, what="llava projector")
    # the original LLaVA naming (mm_projector.0 / .2) loads into the same module
    seq = torch.nn.Sequential(torch.nn.Linear(8, 24), torch.nn.GELU(), torch.nn.Linear(24, 24))
    load_projector(ours, {f"model.mm_projector.{k}": v for k, v in seq.state_dict().items()})
    with torch.no_grad():
        assert_close_rel(ours(x), seq(x), ulps=4, what="mm_projector names")  # as above


def test_patch_merger_parity():
    torch.manual_seed(2)
    ref = RefPatchMerger(dim=12, context_dim=8, spatial_merge_size=2).eval()
    with torch.no_grad():  # non-trivial LayerNorm parameters
        ref.ln_q.weight.normal_()
        ref.ln_q.bias.normal_()
    ours = PatchMerger(8, 12).load_reference({f"visual.merger.{k}": v for k, v in ref.state_dict().items()})
    rows, cols = 6, 10
    x_row_major = torch.randn(rows * cols, 8)
    x_blocks = x_row_major[block_order(rows, cols)]  # Qwen2-VL's patch order
    with torch.no_grad():
        expected = ref(x_blocks)
        # the same LayerNorm and MLP (width 32) on the same rows: equal up to summation order
        assert_close_rel(ours(x_blocks), expected, ulps=8, what="merger")
        assert_close_rel(ours(x_row_major, grid=(rows, cols)), expected, ulps=8, what="merger, row-major")
    assert expected.shape == (15, 12)

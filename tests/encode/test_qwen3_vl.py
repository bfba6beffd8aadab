"""Qwen3-VL's vision tower (interpolated learned positions + RoPE, DeepStack) against
transformers' own, on the same random weights.

One tiny random Qwen3VLForConditionalGeneration (4 layers, DeepStack after layers 0 and
2, a 6x6 learned position grid so that test images are both larger and smaller than it)
is saved twice: the whole VLM folder and its bare vision tower.
"""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")

from anyres.encode import DeepstackOutput, interpolated_positions, load_encoder  # noqa: E402
from anyres.errors import SpecError  # noqa: E402

from .conftest import (  # noqa: E402
    TEXT,
    assert_config_refused,
    assert_limits_reach_the_config,
    qwen_processed,
    randomize,
)
from .test_qwen2_5_vl import close  # noqa: E402

VISION = dict(
    depth=4, hidden_size=64, intermediate_size=96, num_heads=4, out_hidden_size=48, patch_size=16,
    num_position_embeddings=36, deepstack_visual_indexes=[0, 2],
)  # fmt: skip
SIZES = [(64, 96), (200, 64), (128, 128)]  # grids 4x6, 12x4, 8x8 patches after smart_resize


@pytest.fixture(scope="module")
def qwen3(tmp_path_factory):
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

    text = dict(TEXT, num_key_value_heads=2, head_dim=8, rope_parameters={"rope_type": "default", "mrope_section": [2, 1, 1]})
    model = randomize(Qwen3VLForConditionalGeneration(Qwen3VLConfig(text_config=text, vision_config=VISION)), 12)
    vlm, tower = tmp_path_factory.mktemp("qwen3_vl"), tmp_path_factory.mktemp("qwen3_vision")
    model.save_pretrained(vlm)
    model.model.visual.save_pretrained(tower)
    return vlm, tower, model


def processed(sizes, seed=0):
    return qwen_processed(sizes, 16, seed)


def reference(model, pixels, grid):
    out = model.model.get_image_features(pixels, grid)
    return torch.cat(out.pooler_output), [torch.cat(level) for level in out.deepstack_features]


@pytest.mark.parametrize("grid", [(4, 6), (12, 4), (6, 6), (2, 2), (10, 14)])
def test_interpolated_positions_are_transformers(grid):
    from transformers.vision_utils import get_vision_interpolation_indices_and_weights

    table = torch.randn(36, 8, generator=torch.Generator().manual_seed(0))
    index, weights = get_vision_interpolation_indices_and_weights(
        torch.tensor([[1, *grid]]), 6, mode="bilinear", align_corners=True, spatial_merge_size=2
    )
    expected = (table[index] * weights[:, :, None]).sum(1)
    assert torch.equal(interpolated_positions(table, *grid, merge_size=2), expected)


def test_vlm_folder_equals_get_image_features_with_deepstack(qwen3):
    vlm, _, ref = qwen3
    encoder = load_encoder(vlm)
    assert (encoder.family, encoder.patch_size, encoder.hidden_size, encoder.deepstack_levels) == ("qwen3_vl", 16, 48, 2)
    pixels, grid = processed(SIZES)
    assert sorted(map(tuple, grid[:, 1:].tolist())) == [(4, 6), (8, 8), (12, 4)]
    with torch.no_grad():
        main, levels = reference(ref, pixels, grid)
        mixed = encoder.forward_packed(pixels, grid, deepstack=True)  # the three images in one call
        assert isinstance(mixed, DeepstackOutput) and len(mixed.deepstack) == 2
        close(mixed.features, main)
        for ours, theirs in zip(mixed.deepstack, levels):
            close(ours, theirs)
        close(encoder.forward_packed(pixels, grid), main)  # without deepstack: the main tokens only
        for patches, row in zip(pixels.split(grid.prod(-1).tolist()), grid):  # each image alone
            alone_main, alone_levels = reference(ref, patches, row[None])
            alone = encoder.forward_packed(patches, row[None], deepstack=True)
            close(alone.features, alone_main)
            for ours, theirs in zip(alone.deepstack, alone_levels):
                close(ours, theirs)


def test_bare_tower_folder(qwen3):
    _, tower, ref = qwen3
    encoder = load_encoder(tower)
    assert encoder.cfg.deepstack_indexes == (0, 2) and encoder.cfg.num_position_embeddings == 36
    pixels, grid = processed([(96, 160), (64, 64)], seed=1)
    with torch.no_grad():
        out = ref.model.visual(pixels, grid_thw=grid)
        ours = encoder.forward_packed(pixels, grid, deepstack=True)
    close(ours.features, out.pooler_output)
    for a, b in zip(ours.deepstack, out.deepstack_features):
        close(a, b)


def test_moe_tower_folder(tmp_path):
    """Qwen3-VL-MoE's vision tower is Qwen3-VL's under another model_type."""
    from transformers.models.qwen3_vl_moe.configuration_qwen3_vl_moe import Qwen3VLMoeVisionConfig
    from transformers.models.qwen3_vl_moe.modeling_qwen3_vl_moe import Qwen3VLMoeVisionModel

    model = randomize(Qwen3VLMoeVisionModel(Qwen3VLMoeVisionConfig(**VISION)), 13)
    model.save_pretrained(tmp_path)
    encoder = load_encoder(tmp_path)
    pixels, grid = processed(SIZES[:2], seed=5)
    with torch.no_grad():
        out = model(pixels, grid_thw=grid)
        ours = encoder.forward_packed(pixels, grid, deepstack=True)
    close(ours.features, out.pooler_output)
    for a, b in zip(ours.deepstack, out.deepstack_features):
        close(a, b)


def test_views_carry_deepstack_rows(qwen3):
    """forward_views(deepstack=True): per view, levels with the main tokens' rows, equal to
    the view alone through forward_features; the pipeline concatenates them like the main tokens."""
    encoder = load_encoder(qwen3[1])
    gen = torch.Generator().manual_seed(3)
    views = [torch.randn(3, h, w, generator=gen) for h, w in [(64, 96), (128, 64), (96, 96)]]
    with torch.no_grad():
        packed = encoder.forward_views(views, deepstack=True)
        alone = [encoder.forward_features(v[None], deepstack=True) for v in views]
        plain = encoder.forward_views(views)
    for p, a, f, (h, w) in zip(packed, alone, plain, [(64, 96), (128, 64), (96, 96)]):
        assert p.features.shape == (h // 32 * w // 32, 48) and all(level.shape == p.features.shape for level in p.deepstack)
        close(p.features, a.features[0], rel=1e-5)
        close(f, a.features[0], rel=1e-5)
        for x, y in zip(p.deepstack, a.deepstack):
            close(x, y[0], rel=1e-5)


def test_feature_layer_must_cover_deepstack(qwen3):
    with pytest.raises(SpecError, match="DeepStack reads layers"):
        load_encoder(qwen3[1], feature_layer=2)  # layer 2 would not run
    assert load_encoder(qwen3[1], feature_layer=3).deepstack_levels == 2


def test_bfloat16_against_float32(qwen3):
    """As for Qwen2.5-VL: ours in bfloat16 no worse than twice transformers' own bfloat16
    error (plus 1% of the scale for chance differences between two bfloat16 orderings)."""
    vlm, _, ref = qwen3
    encoder = load_encoder(vlm, dtype=torch.bfloat16)
    pixels, grid = processed(SIZES, seed=4)
    with torch.no_grad():
        exact = reference(ref, pixels, grid)
        ours = encoder.forward_packed(pixels, grid, deepstack=True)
        # a copy: casting the module fixture to bfloat16 and back would round its weights
        theirs = reference(copy.deepcopy(ref).to(torch.bfloat16), pixels, grid)
    for e, o, t in zip([exact[0], *exact[1]], [ours.features, *ours.deepstack], [theirs[0], *theirs[1]]):
        assert o.dtype == torch.bfloat16
        scale = e.abs().max().item()
        ours_err, ref_err = (o.float() - e).abs().max().item(), (t.float() - e).abs().max().item()
        print(f"bfloat16 error: ours {ours_err / scale:.2e}, transformers {ref_err / scale:.2e} (scale {scale:.2f})")
        assert ours_err <= 2 * ref_err + 0.01 * scale



@pytest.mark.parametrize(
    "field,value,message",
    [
        ("num_position_embeddings", 35, "not a square grid"),
        ("deepstack_visual_indexes", "8", "list of layer indexes"),
        ("deepstack_visual_indexes", [1, 1], "distinct"),
        ("deepstack_visual_indexes", [99], "list of layer indexes"),
        ("depth", True, "depth=True must be an integer"),
        ("intermediate_size", 2**30, "intermediate_size=1073741824 must be an integer in 1..262144"),
    ],
)
def test_bad_tower_configs_are_checkpoint_errors(qwen3, tmp_path, field, value, message):
    assert_config_refused(qwen3[1], tmp_path, field, value, message)


def test_config_limits_reach_the_tower_config(qwen3):
    """load_encoder's limits bound this tower's config too, before any weight is read."""
    assert_limits_reach_the_config(qwen3[1])


def test_pipeline_equals_get_image_features_with_deepstack(qwen3):
    """VisionPipeline.from_preset on three images of different sizes in one call: the
    embeddings and every DeepStack level equal get_image_features' on transformers'
    processor output (Qwen3-VL's checkpoints: patch 16, mean and std 0.5)."""
    from .conftest import qwen_pipeline_against_reference

    vlm, _, ref = qwen3
    sizes = [(64, 96), (200, 64), (128, 128)]
    tokens, expected = qwen_pipeline_against_reference("qwen3-vl(min_pixels=1024, max_pixels=40960)", vlm, ref,
                                                       sizes, 16, mean_std=(0.5, 0.5, 0.5))
    for k, t in enumerate(tokens):
        assert len(t) == t.plan.num_tokens and len(t.deepstack) == 2
        close(t.embeddings, expected.pooler_output[k])
        for ours, level in zip(t.deepstack, expected.deepstack_features):
            close(ours, level[k])

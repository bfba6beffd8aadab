"""Qwen2.5-VL's windowed vision tower against transformers' own, on the same random weights.

One tiny random Qwen2_5_VLForConditionalGeneration (4 layers, full attention at layer 1
only, windows of 2x2 merged tokens so that every test image is cut into several windows,
partial ones included) is saved twice: the whole VLM folder and its bare vision tower.
"""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")

from anyres.encode import load_encoder  # noqa: E402
from anyres.encode.qwen2_5_vl import window_order  # noqa: E402

from .conftest import (  # noqa: E402
    TEXT,
    assert_config_refused,
    assert_limits_reach_the_config,
    qwen_processed,
    randomize,
)

VISION = dict(
    depth=4, hidden_size=64, intermediate_size=96, num_heads=4, out_hidden_size=48,
    window_size=56, fullatt_block_indexes=[1],
)  # fmt: skip
# (h, w) of the test images: after the processor's smart_resize, grids of 4x6, 10x4 and
# 6x6 patches... (merged 2x3, 5x2, 3x3: several windows of 2x2 merged tokens, partial at the edges)
SIZES = [(60, 90), (130, 50), (84, 84)]


def close(ours, ref, rel=1e-4):
    """Max abs error within ``rel`` of the reference's largest magnitude (float32 rounding
    through 4 layers of width 64 is ~1e-6 relative; 1e-4 is the issue's bar)."""
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    err, scale = (ours - ref).abs().max().item(), ref.abs().max().item()
    print(f"max abs error {err:.2e}, reference scale {scale:.2f}")
    assert err <= rel * scale, f"max abs error {err:.2e} > {rel} x {scale:.2f}"
    return err / scale


@pytest.fixture(scope="module")
def qwen2_5(tmp_path_factory):
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    text = dict(TEXT, num_key_value_heads=2, rope_parameters={"rope_type": "default", "mrope_section": [2, 1, 1]})
    model = randomize(Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig(text_config=text, vision_config=VISION)), 11)
    vlm, tower = tmp_path_factory.mktemp("qwen2_5_vl"), tmp_path_factory.mktemp("qwen2_5_vision")
    model.save_pretrained(vlm)
    model.model.visual.save_pretrained(tower)
    return vlm, tower, model


def processed(sizes, seed=0):
    return qwen_processed(sizes, 14, seed)


def test_window_order_is_transformers_window_index():
    from transformers.vision_utils import get_vision_window_index

    rows = [(1, 4, 6), (1, 10, 4), (2, 6, 6), (1, 8, 8)]  # partial windows, a 2-frame video, exact fit
    order, lengths = window_order(rows, merge_size=2, window=2)
    ref_order, ref_cu = get_vision_window_index(torch.tensor(rows), 2, 56, 14)
    assert torch.equal(order, ref_order)
    cu = torch.tensor([0, *lengths]).cumsum(0) * 4
    assert torch.equal(cu.int(), ref_cu) and min(lengths) > 0


def test_vlm_folder_equals_get_image_features(qwen2_5):
    vlm, _, ref = qwen2_5
    encoder = load_encoder(vlm)
    assert (encoder.family, encoder.hidden_size, encoder.feature_layer, encoder.merge_size) == ("qwen2_5_vl", 48, 4, 2)
    pixels, grid = processed(SIZES)
    assert len(set(map(tuple, grid.tolist()))) == 3
    counts = (grid.prod(-1) // 4).tolist()
    with torch.no_grad():
        expected = ref.model.get_image_features(pixels, grid).pooler_output  # one tensor per image
        mixed = encoder.forward_packed(pixels, grid)  # the three images in one call
        close(mixed, torch.cat(expected))
        for image, (patches, row) in enumerate(zip(pixels.split(grid.prod(-1).tolist()), grid)):
            alone = encoder.forward_packed(patches, row[None])  # each image alone
            assert alone.shape[0] == counts[image]
            close(alone, expected[image])


def test_bare_tower_folder(qwen2_5):
    _, tower, ref = qwen2_5
    encoder = load_encoder(tower)
    assert encoder.family == "qwen2_5_vl" and encoder.cfg.fullatt_blocks == (1,) and encoder.cfg.window_tokens == 2
    pixels, grid = processed([(100, 70), (56, 140)], seed=1)
    with torch.no_grad():
        close(encoder.forward_packed(pixels, grid), ref.model.visual(pixels, grid_thw=grid).pooler_output)


def test_earlier_feature_layer(qwen2_5):
    """The merger on hidden_states[-2] (a window layer), put back in merge-block order."""
    from transformers.vision_utils import get_vision_window_index

    _, tower, ref = qwen2_5
    encoder = load_encoder(tower, feature_layer=-2)
    assert len(encoder.blocks) == 3
    pixels, grid = processed(SIZES[:2], seed=2)
    window_index, _ = get_vision_window_index(grid, 2, 56, 14)
    with torch.no_grad():
        states = ref.model.visual(pixels, grid_thw=grid, output_hidden_states=True).hidden_states
        close(encoder.forward_packed(pixels, grid), ref.model.visual.merger(states[-2])[torch.argsort(window_index)])


def test_views_batched_packed_and_alone_agree(qwen2_5):
    """forward_features (a batch of one shape), forward_views (mixed shapes packed) and
    each view alone give the same tokens; the attention probe comes back in merge-block order."""
    encoder = load_encoder(qwen2_5[1])
    gen = torch.Generator().manual_seed(3)
    views = [torch.randn(3, h, w, generator=gen) for h, w in [(56, 84), (112, 56), (84, 140)]]
    with torch.no_grad():
        packed = encoder.forward_views(views)
        alone = [encoder.forward_features(v[None])[0] for v in views]
        batch = encoder.forward_features(torch.stack([views[0], views[0]]))
        probed = encoder.forward_features(views[2][None], output_attention=True)
    for a, b in zip(packed, alone):
        close(a, b, rel=1e-5)
    close(batch[1], alone[0], rel=1e-5)
    close(probed.features[0], alone[2], rel=1e-5)
    n = (84 // 14) * (140 // 14)
    assert probed.attention.shape == (1, n, n) and probed.keys.shape == (1, n, 64)
    assert torch.allclose(probed.attention.sum(-1), torch.ones(1, n), atol=1e-5)
    # the last layer is a window layer: a patch attends only to the 16 patches of its window
    assert int((probed.attention[0] > 0).sum(-1).max()) <= 16


def test_bfloat16_against_float32(qwen2_5):
    """bfloat16 keeps 8 significant bits (rounding 2^-9 = 0.2% a value); every layer rounds
    its inputs and outputs, so its error is set against transformers' own bfloat16 error on
    the same inputs: ours must be no worse than twice it (plus 1% of the scale, since two
    bfloat16 computations of different operation orders differ by chance)."""
    vlm, _, ref = qwen2_5
    encoder = load_encoder(vlm, dtype=torch.bfloat16)
    assert encoder.dtype == torch.bfloat16
    pixels, grid = processed(SIZES, seed=4)
    with torch.no_grad():
        exact = torch.cat(ref.model.get_image_features(pixels, grid).pooler_output)
        ours = encoder.forward_packed(pixels, grid)
        # a copy: casting the module fixture to bfloat16 and back would round its weights
        # for every later test of this module
        half = copy.deepcopy(ref).to(torch.bfloat16)
        ref_bf16 = torch.cat(half.model.get_image_features(pixels, grid).pooler_output)
    assert ours.dtype == torch.bfloat16
    scale = exact.abs().max().item()
    ours_err, ref_err = (ours.float() - exact).abs().max().item(), (ref_bf16.float() - exact).abs().max().item()
    print(f"bfloat16 error: ours {ours_err / scale:.2e}, transformers {ref_err / scale:.2e} (relative to {scale:.2f})")
    assert ours_err <= 2 * ref_err + 0.01 * scale



@pytest.mark.parametrize(
    "field,value,message",
    [
        ("window_size", 27, "smaller than one merged token"),
        ("fullatt_block_indexes", 1, "list of layer indexes"),
        ("depth", 10**5, "depth=100000 must be an integer in 1..1000"),
        ("hidden_size", 66, "is not divisible by num_heads"),
        ("hidden_act", "relu", "hidden_act='relu' is not supported"),
        ("rope_parameters", {"rope_theta": "x"}, "rope_parameters.rope_theta='x' must be a finite number"),
    ],
)
def test_bad_tower_configs_are_checkpoint_errors(qwen2_5, tmp_path, field, value, message):
    assert_config_refused(qwen2_5[1], tmp_path, field, value, message)


def test_config_limits_reach_the_tower_config(qwen2_5):
    """load_encoder's limits bound this tower's config too, before any weight is read."""
    assert_limits_reach_the_config(qwen2_5[1])


def test_window_order_refuses_an_empty_window():
    from anyres.errors import SpecError

    with pytest.raises(SpecError, match="at least one merged token"):
        window_order([(1, 4, 4)], 2, 0)


def test_pipeline_equals_get_image_features(qwen2_5):
    """The issue's standard: VisionPipeline.from_preset(spec, folder) on three images of
    different sizes and aspect ratios in one call, against the model's own
    get_image_features on transformers' processor output for the same images."""
    from .conftest import qwen_pipeline_against_reference

    vlm, _, ref = qwen2_5
    sizes = [(60, 90), (130, 50), (84, 84), (300, 40)]
    tokens, expected = qwen_pipeline_against_reference("qwen2.5-vl(min_pixels=3136, max_pixels=31360)", vlm, ref,
                                                       sizes, 14)
    assert len({t.plan.num_tokens for t in tokens}) == len(sizes)
    for t, e in zip(tokens, expected.pooler_output):
        assert len(t) == t.plan.num_tokens
        close(t.embeddings, e)

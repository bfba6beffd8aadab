"""The Idefics3 / SmolVLM vision tower against transformers' own, on the same random weights.

A tiny random Idefics3ForConditionalGeneration (3 layers, width 64, 14 px patches, a 4x4
position table) saved as a whole VLM folder, and a SmolVLM tower saved alone with a 5x5
table, so that the 4x4 grids of the tests are bucketed onto a table of another size.
"""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")

from anyres.encode import load_encoder  # noqa: E402
from anyres.encode.idefics3 import bucket_position_ids  # noqa: E402
from anyres.errors import ShapeError  # noqa: E402

from .conftest import TEXT, VISION, assert_config_refused, assert_limits_reach_the_config, randomize  # noqa: E402
from .test_qwen2_5_vl import close  # noqa: E402

IDEFICS_VISION = dict(VISION, patch_size=14)  # image_size 56: a 4x4 position table
VIEW_SIZES = [(42, 70), (56, 56), (112, 28), (98, 84)]  # (h, w): grids 3x5, 4x4, 8x2, 7x6


@pytest.fixture(scope="module")
def idefics3(tmp_path_factory):
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration

    text = dict(TEXT, model_type="llama", num_key_value_heads=2)
    config = Idefics3Config(vision_config=IDEFICS_VISION, text_config=text, scale_factor=2)
    model = randomize(Idefics3ForConditionalGeneration(config), 21)
    folder = tmp_path_factory.mktemp("idefics3")
    model.save_pretrained(folder)
    return folder, model


@pytest.fixture(scope="module")
def smolvlm_tower(tmp_path_factory):
    from transformers import SmolVLMVisionConfig
    from transformers.models.smolvlm.modeling_smolvlm import SmolVLMVisionTransformer

    model = randomize(SmolVLMVisionTransformer(SmolVLMVisionConfig(**dict(IDEFICS_VISION, image_size=70))), 22)
    folder = tmp_path_factory.mktemp("smolvlm_vision")
    model.save_pretrained(folder)
    return folder, model


def views(seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(3, h, w, generator=gen) for h, w in VIEW_SIZES]


def test_vlm_folder_equals_the_vision_model(idefics3):
    folder, ref = idefics3
    encoder = load_encoder(folder)
    assert (encoder.family, encoder.patch_size, encoder.hidden_size, encoder.feature_layer) == ("idefics3", 14, 64, 3)
    batch = torch.randn(2, 3, 56, 56, generator=torch.Generator().manual_seed(1))
    vs = views()
    with torch.no_grad():
        close(encoder.forward_features(batch), ref.model.vision_model(batch).last_hidden_state)
        mixed = encoder.forward_views(vs)  # four grids in one packed call
        for v, ours in zip(vs, mixed):
            close(ours, ref.model.vision_model(v[None]).last_hidden_state[0])


def test_bare_smolvlm_tower_buckets_positions_onto_another_table(smolvlm_tower):
    folder, ref = smolvlm_tower
    encoder = load_encoder(folder)
    assert encoder.family == "idefics3" and encoder.cfg.position_side == 5
    vs = views(2)
    with torch.no_grad():
        for v, ours in zip(vs, encoder.forward_views(vs)):
            close(ours, ref(v[None]).last_hidden_state[0])


def test_padded_images_follow_the_patch_mask(idefics3):
    """transformers' padded layout: the valid grid from the mask, padded patches masked as
    keys; every row equals transformers' (padded ones too), and the valid rows equal the
    valid crop encoded alone."""
    folder, ref = idefics3
    encoder = load_encoder(folder)
    pixels = torch.randn(3, 3, 84, 70, generator=torch.Generator().manual_seed(3))
    mask = torch.zeros(3, 6, 5, dtype=torch.bool)
    mask[0, :4, :3] = True
    mask[1] = True
    mask[2, :1, :5] = True
    with torch.no_grad():
        ours = encoder.forward_masked(pixels, mask)
        close(ours, ref.model.vision_model(pixels, patch_attention_mask=mask).last_hidden_state)
        crop = encoder.forward_views([pixels[0, :, :56, :42]])[0]
    close(ours[0][mask[0].flatten()], crop, rel=1e-5)  # packed vs masked batch: float32 rounding only
    with pytest.raises(ShapeError, match="patch_attention_mask of shape"):
        encoder.forward_masked(pixels, mask[:, :5])
    with pytest.raises(ShapeError, match="valid first patch"):
        encoder.forward_masked(pixels, ~mask)


@pytest.mark.parametrize("side", [4, 5, 7])
def test_bucketed_position_ids_are_transformers(side):
    """The embeddings module on zero pixels is its conv bias + the position rows it chose."""
    from transformers import Idefics3VisionConfig
    from transformers.models.idefics3.modeling_idefics3 import Idefics3VisionEmbeddings

    config = Idefics3VisionConfig(hidden_size=8, patch_size=2, image_size=2 * side)
    emb = randomize(Idefics3VisionEmbeddings(config), 23)
    mask = torch.zeros(4, 9, 6, dtype=torch.bool)
    for i, (h, w) in enumerate([(9, 6), (1, 1), (4, 5), (7, 2)]):
        mask[i, :h, :w] = True
    with torch.no_grad():
        theirs = emb(torch.zeros(4, 3, 18, 12), mask)
    ours = emb.position_embedding.weight[bucket_position_ids(mask, side)] + emb.patch_embedding.bias
    assert torch.equal(ours, theirs)


def test_bfloat16_against_float32(idefics3):
    """Ours in bfloat16 no worse than twice transformers' own bfloat16 error (plus 1% of the
    scale for chance differences between two bfloat16 orderings), as for the Qwen towers."""
    folder, ref = idefics3
    encoder = load_encoder(folder, dtype=torch.bfloat16)
    batch = torch.randn(2, 3, 56, 56, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        exact = ref.model.vision_model(batch).last_hidden_state
        ours = encoder.forward_features(batch)
        low = copy.deepcopy(ref.model.vision_model).to(torch.bfloat16)  # the fixture keeps its float32 weights
        theirs = low(batch.bfloat16()).last_hidden_state
    assert ours.dtype == torch.bfloat16
    scale = exact.abs().max().item()
    ours_err, ref_err = (ours.float() - exact).abs().max().item(), (theirs.float() - exact).abs().max().item()
    print(f"bfloat16 error: ours {ours_err / scale:.2e}, transformers {ref_err / scale:.2e}")
    assert ours_err <= 2 * ref_err + 0.01 * scale


def test_to_dtype_moves_the_tower_and_inputs_follow(idefics3):
    encoder = load_encoder(idefics3[0])
    vs = views(5)
    with torch.no_grad():
        exact = encoder.forward_views(vs)
        encoder.to(torch.float64)
        wide = encoder.forward_views(vs)  # float32 views follow the float64 weights
        assert all(w.dtype == torch.float64 for w in wide)
        for a, b in zip(wide, exact):
            close(a.float(), b, rel=1e-5)  # float64 vs float32 arithmetic: float32 rounding
        encoder.to(torch.float32)
        assert all(torch.equal(a, b) for a, b in zip(encoder.forward_views(vs), exact))


def test_post_norm_only_at_the_last_layer(idefics3):
    """hidden_states[k] of transformers (k < L) has no post-norm; the last layer has it."""
    folder, ref = idefics3
    batch = torch.randn(1, 3, 56, 56, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        states = ref.model.vision_model(batch, output_hidden_states=True).hidden_states
        close(load_encoder(folder, feature_layer=2).forward_features(batch), states[2])
        close(load_encoder(folder, feature_layer=0).forward_features(batch), states[0])


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("image_size", 7, "image_size=7 is smaller than patch_size=14"),
        ("hidden_size", 66, "hidden_size=66 is not divisible by num_attention_heads=4"),
        ("hidden_act", "relu6", "hidden_act='relu6' is not supported"),
        ("num_hidden_layers", 0, "num_hidden_layers=0 must be an integer in 1..1000"),
    ],
)
def test_bad_tower_configs_are_checkpoint_errors(smolvlm_tower, tmp_path, field, value, message):
    assert_config_refused(smolvlm_tower[0], tmp_path, field, value, message)


def test_config_limits_reach_the_tower_config(smolvlm_tower):
    assert_limits_reach_the_config(smolvlm_tower[0])


def test_attention_probe_of_the_feature_layer(idefics3):
    """output_attention (token pruning): the last layer's head-averaged probabilities, rows
    summing to 1, with the same features as without the probe."""
    encoder = load_encoder(idefics3[0])
    batch = torch.randn(2, 3, 56, 56, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        out = encoder.forward_features(batch, output_attention=True)
        plain = encoder.forward_features(batch)
    assert out.attention.shape == (2, 16, 16) and out.keys.shape == (2, 16, 64) and out.num_prefix_tokens == 0
    close(out.attention.sum(-1), torch.ones(2, 16), rel=1e-5)  # softmax rows: float32 rounding
    close(out.features, plain, rel=1e-5)  # explicit softmax vs SDPA: float32 rounding

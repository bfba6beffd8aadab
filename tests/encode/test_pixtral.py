"""The Pixtral vision tower against transformers' own, on the same random weights.

Three folders hold the tower: a bare ``PixtralVisionModel`` (conftest ``pixtral_vision``),
a tiny random ``Mistral3ForConditionalGeneration`` and a ``LlavaForConditionalGeneration``
with a Pixtral tower (Pixtral-12B's layout, 16 px patches). transformers encodes a batch
padded to its largest image with ``image_sizes``, packs the images into one sequence and
masks attention across them; ours packs the views as they are.
"""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")

from anyres.encode import load_encoder  # noqa: E402
from anyres.encode.pixtral import pixtral_state_dict  # noqa: E402
from anyres.encode.rope import grid_positions, rope_axial  # noqa: E402
from anyres.errors import CheckpointError, ShapeError  # noqa: E402

from ..tolerance import assert_close_rel  # noqa: E402
from .conftest import (  # noqa: E402
    PIXTRAL_VISION,
    TEXT,
    assert_config_refused,
    assert_limits_reach_the_config,
    randomize,
)

# (H, W) of the test images: different aspect ratios, one not a whole number of patches
# (transformers and we both leave the last 60 % 14 and 90 % 14 pixels out)
SIZES = [(56, 84), (112, 42), (60, 90)]
# float32 through 3 blocks of width 64, our fused kernels vs transformers' modules: the
# same arithmetic in other orders, measured up to ~20 ulps of the output's magnitude (1e-4
# relative, the bar, is ~840 ulps)
ULPS = 64


@pytest.fixture(scope="module")
def mistral3(tmp_path_factory):
    from transformers import Mistral3Config, Mistral3ForConditionalGeneration

    config = Mistral3Config(
        vision_config=dict(PIXTRAL_VISION, model_type="pixtral"),
        text_config=dict(TEXT, model_type="mistral", num_key_value_heads=2),
    )
    model = randomize(Mistral3ForConditionalGeneration(config), 12)
    folder = tmp_path_factory.mktemp("mistral3")
    model.save_pretrained(folder)
    return folder, model


@pytest.fixture(scope="module")
def llava_pixtral(tmp_path_factory):
    from transformers import LlavaConfig, LlavaForConditionalGeneration

    config = LlavaConfig(
        vision_config=dict(PIXTRAL_VISION, model_type="pixtral", patch_size=16),
        text_config=dict(TEXT, model_type="mistral", num_key_value_heads=2),
        vision_feature_layer=-1, vision_feature_select_strategy="full",
    )  # fmt: skip
    model = randomize(LlavaForConditionalGeneration(config), 13)
    folder = tmp_path_factory.mktemp("llava_pixtral")
    model.save_pretrained(folder)
    return folder, model


def padded_batch(sizes, seed=0):
    """Random normalised images zero-padded to the largest (as the processor batches
    them), their ``image_sizes`` (h, w), and each image cut to its own size."""
    gen = torch.Generator().manual_seed(seed)
    H, W = max(h for h, _ in sizes), max(w for _, w in sizes)
    pixels = torch.zeros(len(sizes), 3, H, W)
    views = []
    for i, (h, w) in enumerate(sizes):
        pixels[i, :, :h, :w] = torch.randn(3, h, w, generator=gen)
        views.append(pixels[i, :, :h, :w])
    return pixels, torch.tensor(sizes), views


def reference_states(tower, sizes, seed=0):
    pixels, image_sizes, views = padded_batch(sizes, seed)
    with torch.no_grad():
        states = tower(pixels, image_sizes=image_sizes, output_hidden_states=True).hidden_states
    counts = [(h // tower.patch_size) * (w // tower.patch_size) for h, w in sizes]
    return [s[0].split(counts) for s in states], views


def test_axial_rope_is_transformers_rotary_embedding():
    from transformers import PixtralVisionConfig
    from transformers.models.pixtral.modeling_pixtral import PixtralVisionRotaryEmbedding

    config = PixtralVisionConfig(hidden_size=96, num_attention_heads=4, rope_parameters={"rope_theta": 500.0,
                                                                                        "rope_type": "axial"})
    positions = grid_positions(5, 7)
    ref_cos, ref_sin = PixtralVisionRotaryEmbedding(config)(torch.zeros(1), positions)
    cos, sin = rope_axial(positions, 24, 500.0)
    assert torch.equal(positions[8], torch.tensor([1, 1]))  # row-major (row, col)
    # the same float32 products and cos/sin: exact up to one rounding of the angle
    assert_close_rel(cos, ref_cos, ulps=4)
    assert_close_rel(sin, ref_sin, ulps=4)


@pytest.mark.parametrize("which", ["mistral3", "llava_pixtral"])
def test_vlm_folders_equal_the_vision_tower(which, request):
    folder, model = request.getfixturevalue(which)
    encoder = load_encoder(folder)
    tower = model.model.vision_tower
    assert (encoder.family, encoder.hidden_size, encoder.feature_layer) == ("pixtral", 64, 3)
    assert (encoder.merge_size, encoder.has_cls, encoder.patch_size) == (1, False, tower.patch_size)
    sizes = SIZES if tower.patch_size == 14 else [(64, 96), (128, 48), (70, 90)]
    states, views = reference_states(tower, sizes)
    with torch.no_grad():
        mixed = encoder.forward_views(views)  # the three images packed in one call
        for image, view in enumerate(views):
            alone = encoder.forward_features(view[None])[0]
            assert_close_rel(alone, states[-1][image], ulps=ULPS, what=f"{which} image {image} alone")
    for image, ours in enumerate(mixed):
        assert_close_rel(ours, states[-1][image], ulps=ULPS, what=f"{which} image {image} packed")


@pytest.mark.parametrize("layer", [0, -2])
def test_earlier_feature_layers(pixtral_vision, layer):
    """hidden_states[0] is ln_pre's output; -2 the input of the last block."""
    folder, model = pixtral_vision
    encoder = load_encoder(folder, feature_layer=layer)
    assert len(encoder.blocks) == layer % 4
    states, views = reference_states(model, SIZES[:2], seed=1)
    with torch.no_grad():
        for ours, ref in zip(encoder.forward_views(views), states[layer]):
            assert_close_rel(ours, ref, ulps=ULPS)


def test_batched_packed_and_alone_agree_and_the_probe(pixtral_vision):
    encoder = load_encoder(pixtral_vision[0])
    gen = torch.Generator().manual_seed(3)
    views = [torch.randn(3, h, w, generator=gen) for h, w in [(56, 84), (112, 56), (84, 140)]]
    with torch.no_grad():
        packed = encoder.forward_views(views)
        alone = [encoder.forward_features(v[None])[0] for v in views]
        batch = encoder.forward_features(torch.stack([views[0], views[0]]))
        probed = encoder.forward_features(views[2][None], output_attention=True)
    for a, b in zip(packed, alone):
        # packed vs alone: one SDPA per image either way, float32 order only (PACKED_ULPS)
        assert_close_rel(a, b, ulps=64)
    assert_close_rel(batch[1], alone[0], ulps=64)
    assert_close_rel(probed.features[0], alone[2], ulps=64)
    n = (84 // 14) * (140 // 14)
    assert probed.attention.shape == (1, n, n) and probed.keys.shape == (1, n, 64) and probed.num_prefix_tokens == 0
    assert torch.allclose(probed.attention.sum(-1), torch.ones(1, n), atol=1e-5)


def test_bfloat16_against_float32_and_to(mistral3):
    """bfloat16 keeps 8 significant bits (rounding 2^-9 = 0.2% a value); every layer rounds
    its inputs and outputs, so our error is set against transformers' own bfloat16 error on
    the same inputs: ours must be no worse than twice it (plus 1% of the scale, since two
    bfloat16 computations of different operation orders differ by chance). transformers
    also rounds RoPE's cos/sin to bfloat16; we rotate in float32."""
    folder, model = mistral3
    tower = model.model.vision_tower
    encoder = load_encoder(folder, dtype=torch.bfloat16)
    assert encoder.dtype == torch.bfloat16
    pixels, image_sizes, views = padded_batch(SIZES, seed=4)
    with torch.no_grad():
        exact = tower(pixels, image_sizes=image_sizes).last_hidden_state[0]
        ours = torch.cat(encoder.forward_views(views))  # float32 views follow the weights' dtype
        half = copy.deepcopy(tower).to(torch.bfloat16)  # a copy: the round trip would round the fixture
        ref_bf16 = half(pixels, image_sizes=image_sizes).last_hidden_state[0]
        cast = load_encoder(folder).to(torch.bfloat16)  # .to(dtype) after loading: the same weights
        assert torch.equal(torch.cat(cast.forward_views(views)), ours)
    assert ours.dtype == torch.bfloat16
    scale = exact.abs().max().item()
    ours_err, ref_err = (ours.float() - exact).abs().max().item(), (ref_bf16.float() - exact).abs().max().item()
    print(f"bfloat16 error: ours {ours_err / scale:.2e}, transformers {ref_err / scale:.2e} (relative to {scale:.2f})")
    assert ours_err <= 2 * ref_err + 0.01 * scale


def test_packed_input_checks(pixtral_vision):
    encoder = load_encoder(pixtral_vision[0])
    patches, grid = encoder.patchify(torch.randn(3, 28, 42))
    assert grid == (1, 2, 3) and patches.shape == (6, 3 * 14 * 14)
    with pytest.raises(ShapeError, match=r"grid rows \(1, h, w\)"):
        encoder.forward_packed(torch.cat([patches, patches]), [(2, 2, 3)])
    with pytest.raises(ShapeError, match="describes 12"):
        encoder.forward_packed(patches, [(1, 2, 6)])
    with pytest.raises(ShapeError, match="smaller than one 14x14 patch"):
        encoder.forward_views([torch.randn(3, 10, 40)])


def test_incomplete_attention_weights_are_named(pixtral_vision):
    state = {k: v for k, v in pixtral_vision[1].state_dict().items() if k != "transformer.layers.1.attention.k_proj.weight"}
    converted = pixtral_state_dict(state)
    assert "blocks.0.attn.qkv.weight" in converted and "blocks.1.attn.qkv.weight" not in converted
    assert "transformer.layers.1.attention.q_proj.weight" in converted  # left for the strict load to report


def test_missing_weights_are_a_checkpoint_error(pixtral_vision, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    shutil.copytree(pixtral_vision[0], tmp_path, dirs_exist_ok=True)
    state = load_file(tmp_path / "model.safetensors")
    del state["transformer.layers.2.feed_forward.up_proj.weight"]
    save_file(state, tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"missing weights: blocks\.2\.mlp\.up_proj\.weight"):
        load_encoder(tmp_path)
    load_encoder(tmp_path, feature_layer=-2)  # the last block is not needed for the layer before it


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("rope_parameters", {"rope_type": "default", "rope_theta": 1e4}, "rope_parameters.rope_type='default' is not"),
        ("rope_parameters", {"rope_type": "axial", "rope_theta": "x"}, "rope_theta='x' must be a finite number"),
        ("num_hidden_layers", 10**5, "num_hidden_layers=100000 must be an integer in 1..1000"),
        ("hidden_size", 66, "is not divisible by num_attention_heads"),
        ("hidden_size", 72, "gives heads of width 18"),
        ("hidden_act", "relu", "hidden_act='relu' is not supported"),
        ("patch_size", 0, "patch_size=0 must be an integer"),
        ("image_size", -1, "image_size=-1 must be an integer"),
    ],
)
def test_bad_tower_configs_are_checkpoint_errors(pixtral_vision, tmp_path, field, value, message):
    assert_config_refused(pixtral_vision[0], tmp_path, field, value, message)


def test_config_limits_reach_the_tower_config(pixtral_vision):
    assert_limits_reach_the_config(pixtral_vision[0])

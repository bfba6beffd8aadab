"""InternVL end to end: InternViT (CLS, layer scale, LayerNorm or RMSNorm, QK norm where
configured), its last_hidden_state, pixel shuffle 0.5 and the LayerNorm-MLP projector,
against a tiny random InternVLForConditionalGeneration's own ``get_image_features``.

The tower is built at the presets' real geometry (448 px tiles of 14 px patches, 256
tokens a tile after the shuffle) with a narrow width, and the reference pixels come
from transformers' own GotOcr2ImageProcessorPil (crop_to_patches, 1..12 tiles), so
the whole way from an image to its tokens is covered, thumbnail included.
"""

from __future__ import annotations

import copy
import json
import shutil

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import anyres  # noqa: E402
from anyres.encode import load_encoder  # noqa: E402
from anyres.errors import CheckpointError  # noqa: E402
from anyres.pipeline import VisionPipeline  # noqa: E402

from ..pixels.test_hf_parity import make_image  # noqa: E402
from ..tolerance import assert_close_rel  # noqa: E402
from .conftest import (  # noqa: E402
    assert_config_refused,
    assert_limits_reach_the_config,
    check_cli_encode,
    randomize,
)

VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
              image_size=[448, 448], patch_size=[14, 14])  # fmt: skip
# InternViT-6B's variant: RMSNorm blocks, QK norm, no q/k/v bias, a final LayerNorm
VISION_6B = dict(VISION, norm_type="rms_norm", use_qk_norm=True, attention_bias=False, use_mean_pooling=False)
TEXT = dict(vocab_size=64, hidden_size=48, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
            num_key_value_heads=2)  # fmt: skip
# wide (2 tiles + thumbnail), tall (2 + thumbnail), small square (1 tile), a strip (5 + thumbnail)
IMAGES = [make_image(600, 300, 1), make_image(200, 420, 2), make_image(64, 64, 3), make_image(1200, 250, 4)]
# float32: our fused blocks (layer scale folded into the projections) and connector vs
# transformers' modules on the same weights, the same arithmetic in other orders
ULPS = 64


def _model(vision: dict, seed: int, tmp_path_factory, name: str):
    from transformers import InternVLConfig, InternVLForConditionalGeneration

    config = InternVLConfig(vision_config=vision, text_config=dict(TEXT, model_type="qwen2"))
    model = randomize(InternVLForConditionalGeneration(config), seed)
    with torch.no_grad():  # layer scales away from 1 (randomize leaves them near 0.1 * noise)
        for layer in model.model.vision_tower.encoder.layer:
            layer.lambda_1.normal_(0.5, 0.3)
            layer.lambda_2.normal_(0.5, 0.3)
    folder = tmp_path_factory.mktemp(name)
    model.save_pretrained(folder)
    return folder, model


@pytest.fixture(scope="module")
def internvl(tmp_path_factory):
    return _model(VISION, 31, tmp_path_factory, "internvl")


@pytest.fixture(scope="module")
def internvl_6b(tmp_path_factory):
    return _model(VISION_6B, 32, tmp_path_factory, "internvl_6b")


def reference(model, images) -> list[torch.Tensor]:
    """transformers' processor and get_image_features: one (tiles * 256, width) per image."""
    from ..plan.oracles import internvl_image_processor

    px = anyres.get_preset("internvl").pixels
    processor = internvl_image_processor()
    processor.image_mean, processor.image_std = list(px.mean), list(px.std)
    batch = processor(images=images, return_tensors="pt")
    with torch.no_grad():
        out = model.model.get_image_features(batch["pixel_values"]).pooler_output  # (tiles, 256, width)
    return [x.flatten(0, 1) for x in out.split(batch["num_patches"].tolist())]


@pytest.mark.parametrize(
    "preset,fixture", [("internvl", "internvl"), ("internvl", "internvl_6b"), ("internvl3.5", "internvl")]
)
def test_pipeline_equals_get_image_features(preset, fixture, request):
    folder, model = request.getfixturevalue(fixture)
    pipe = VisionPipeline.from_preset(preset, folder)
    enc = pipe.encoder
    assert (enc.family, enc.feature_layer, enc.has_cls, pipe.assembler.out_width) == ("internvit", 2, True, 48)
    assert (enc.final_norm is not None) == (fixture == "internvl_6b")  # use_mean_pooling=False has a layernorm
    expected = reference(model, IMAGES)
    tokens = pipe(IMAGES)  # a mixed batch in one call
    assert [len(t.plan.views) for t in tokens] == [3, 3, 1, 6]
    for t, ref in zip(tokens, expected):
        assert len(t) == t.plan.num_tokens == ref.shape[0]
        assert_close_rel(t.embeddings, ref, ulps=ULPS, what=f"{preset} {fixture} {t.plan.image}")
    [alone] = pipe(IMAGES[1:2])  # one image a call gives the same
    assert_close_rel(alone.embeddings, expected[1], ulps=ULPS)
    if fixture == "internvl_6b":  # every view in one packed sequence (CLS rows included) gives the same
        packed = VisionPipeline.from_preset(preset, folder, packing="packed")(IMAGES[:2])
        for t, ref in zip(packed, expected):
            assert_close_rel(t.embeddings, ref, ulps=ULPS)


def test_bare_tower_and_feature_layers(internvl):
    """A bare InternVLVisionModel folder, hidden_states at every layer, and views of
    mixed shapes packed (the position embeddings resampled bicubically, as transformers
    does for a grid other than the native one)."""
    folder, model = internvl
    tower_folder = folder.parent / "internvl_tower"
    model.model.vision_tower.save_pretrained(tower_folder)
    gen = torch.Generator().manual_seed(0)
    pixels = torch.randn(2, 3, 448, 448, generator=gen)
    with torch.no_grad():
        states = model.model.vision_tower(pixel_values=pixels, output_hidden_states=True).hidden_states
        for layer in (-1, -2, 0):
            enc = load_encoder(tower_folder, feature_layer=layer)
            assert_close_rel(enc.forward_features(pixels, keep_cls=True), states[layer], ulps=ULPS)
        enc = load_encoder(tower_folder)
        assert enc.feature_layer == 2 and enc.final_norm is None
        views = [torch.randn(3, h, w, generator=gen) for h, w in [(448, 448), (224, 336), (448, 224)]]
        packed = enc.forward_views(views, keep_cls=True)
        for v, got in zip(views, packed):
            ref = model.model.vision_tower(pixel_values=v[None], output_hidden_states=True).hidden_states[-1]
            assert_close_rel(got, ref[0], ulps=ULPS, what=f"{tuple(v.shape)}")


def test_bfloat16_and_to(internvl_6b):
    """bfloat16 keeps 8 significant bits (2^-9 = 0.2% a rounding): our error against
    float32 is set against transformers' own bfloat16 error on the same inputs, no worse
    than twice it plus 1% of the scale (two bfloat16 computations in different orders,
    ours with the layer scales folded into the weights in float32, differ by chance)."""
    folder, model = internvl_6b
    images = IMAGES[:2]
    expected = torch.cat(reference(model, images))
    pipe = VisionPipeline.from_preset("internvl", folder, dtype=torch.bfloat16)
    ours = torch.cat([t.embeddings for t in pipe(images)])
    assert ours.dtype == torch.bfloat16
    ref_bf16 = torch.cat(reference(copy.deepcopy(model).to(torch.bfloat16), images))
    scale = expected.abs().max().item()
    ours_err, ref_err = (ours.float() - expected).abs().max().item(), (ref_bf16.float() - expected).abs().max().item()
    print(f"bfloat16 error: ours {ours_err / scale:.2e}, transformers {ref_err / scale:.2e} (relative to {scale:.2f})")
    assert ours_err <= 2 * ref_err + 0.01 * scale
    pipe = VisionPipeline.from_preset("internvl", folder)
    pipe.encoder.to("cpu", torch.float64)
    pipe.assembler.to("cpu", torch.float64)
    [t] = pipe(images[:1])
    assert t.embeddings.dtype == torch.float64
    assert_close_rel(t.embeddings, expected[: len(t)].double(), ulps=ULPS)


def test_projector_activation_comes_from_the_config(internvl, tmp_path):
    folder, model = internvl
    shutil.copytree(folder, tmp_path, dirs_exist_ok=True)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps(dict(config, projector_hidden_act="gelu_pytorch_tanh")))
    pipe = VisionPipeline.from_preset("internvl", tmp_path)
    assert pipe.assembler.projector.act.name == "gelu_pytorch_tanh"
    (tmp_path / "config.json").write_text(json.dumps(dict(config, projector_hidden_act="swish2")))
    with pytest.raises(CheckpointError, match="projector_hidden_act='swish2' is not supported"):
        VisionPipeline.from_preset("internvl", tmp_path)


def _tower(internvl):
    folder, model = internvl
    tower_folder = folder.parent / "internvl_tower_cfg"
    if not tower_folder.exists():
        model.model.vision_tower.save_pretrained(tower_folder)
    return tower_folder


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("norm_type", "batch_norm", "norm_type='batch_norm' is not supported (supported: layer_norm, rms_norm)"),
        ("use_qk_norm", 1, "use_qk_norm=1 must be true or false"),
        ("attention_bias", "no", "attention_bias='no' must be true or false"),
        ("use_mean_pooling", None, "use_mean_pooling=None must be true or false"),
        ("image_size", [448, 224], "image_size=[448, 224] must be an integer"),
        ("patch_size", 500, "image_size=448 is smaller than patch_size=500"),
        ("num_hidden_layers", 10**5, "num_hidden_layers=100000 must be an integer in 1..1000"),
        ("hidden_size", 33, "hidden_size=33 is not divisible by num_attention_heads=2"),
        ("hidden_act", "relu", "hidden_act='relu' is not supported"),
        ("layer_norm_eps", -1, "layer_norm_eps=-1 must be a finite number"),
    ],
)
def test_bad_tower_configs_are_checkpoint_errors(internvl, tmp_path, field, value, message):
    assert_config_refused(_tower(internvl), tmp_path, field, value, message)


def test_config_limits_reach_the_tower_config(internvl):
    assert_limits_reach_the_config(_tower(internvl))


def test_layer_scale_that_does_not_fit_is_a_checkpoint_error(internvl, tmp_path):
    from safetensors.torch import load_file, save_file

    tower = _tower(internvl)
    shutil.copytree(tower, tmp_path, dirs_exist_ok=True)
    state = load_file(tmp_path / "model.safetensors")
    state["encoder.layer.0.lambda_1"] = torch.ones(5)
    save_file(state, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="layer scale lambda_1 of shape \\(5,\\) for attn.proj of width 32"):
        load_encoder(tmp_path)
    del state["encoder.layer.0.lambda_2"]
    state["encoder.layer.0.lambda_1"] = torch.ones(32)
    save_file(state, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="layer scale lambda_2 of shape None"):
        load_encoder(tmp_path)



def test_cli_encode_and_encode_dataset(internvl, tmp_path):
    check_cli_encode("internvl", internvl[0], IMAGES[:2], tmp_path)


def test_the_folder_is_the_spec(internvl, tmp_path):
    """An InternVL folder with its image processor (GotOcr2, ImageNet mean and std, up to
    2 tiles) plans and encodes like the spelled-out spec."""
    from ..plan.oracles import internvl_image_processor

    folder = tmp_path / "internvl"
    shutil.copytree(internvl[0], folder)
    processor = internvl_image_processor(max_patches=2)
    px = anyres.get_preset("internvl").pixels
    processor.image_mean, processor.image_std = list(px.mean), list(px.std)
    processor.save_pretrained(folder)
    from_folder = VisionPipeline.from_preset(str(folder), folder)
    by_name = VisionPipeline.from_preset("internvl(max_tiles=2)", folder)
    for a, b in zip(from_folder(IMAGES[3:]), by_name(IMAGES[3:])):
        assert len(a.plan.views) == len(b.plan.views) == 3  # the strip: 2 tiles + thumbnail (6 views at 12)
        assert torch.equal(a.embeddings, b.embeddings)


def test_tower_without_position_embeddings_and_with_a_mask_token(tmp_path):
    """use_absolute_position_embeddings=False adds nothing; the pre-training mask token is not read."""
    from transformers import InternVLVisionConfig, InternVLVisionModel

    config = InternVLVisionConfig(**dict(VISION, image_size=56, patch_size=14), use_absolute_position_embeddings=False,
                                  use_mask_token=True)
    model = randomize(InternVLVisionModel(config), 33)
    model.save_pretrained(tmp_path)
    enc = load_encoder(tmp_path, final_norm=True)  # use_mean_pooling: the final norm is an identity
    assert enc.pos_embed is None and enc.final_norm is None
    pixels = torch.randn(2, 3, 56, 84, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = model(pixel_values=pixels).last_hidden_state
        assert_close_rel(enc.forward_features(pixels, keep_cls=True), ref, ulps=ULPS)
        assert_close_rel(torch.cat(enc.forward_views(list(pixels), keep_cls=True)), ref.flatten(0, 1), ulps=ULPS)

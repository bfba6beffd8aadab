"""Tiny random VLM folders at the presets' real geometry (CLIP 336/14, SigLIP 384/14,
Qwen2-VL 14 px patches with 2x2 merge), every parameter redrawn, saved as hub folders."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from ..encode.conftest import randomize, save  # noqa: E402

VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
TEXT = dict(vocab_size=64, hidden_size=48, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
            num_key_value_heads=2)


@pytest.fixture(scope="session")
def llava_next_folder(tmp_path_factory):
    from transformers import LlavaNextConfig, LlavaNextForConditionalGeneration

    import anyres

    pins = [list(x) for x in anyres.get_preset("llava-next").resolved()["image_grid_pinpoints"]]
    config = LlavaNextConfig(vision_config=dict(VISION, model_type="clip_vision_model", image_size=336, patch_size=14),
                             text_config=dict(TEXT, model_type="llama"), image_grid_pinpoints=pins)
    model = randomize(LlavaNextForConditionalGeneration(config), 11)
    return save(model, tmp_path_factory.mktemp("llava_next")), model


@pytest.fixture(scope="session")
def onevision_folder(tmp_path_factory):
    from transformers import LlavaOnevisionConfig, LlavaOnevisionForConditionalGeneration

    config = LlavaOnevisionConfig(vision_config=dict(VISION, model_type="siglip_vision_model", image_size=384,
                                                     patch_size=14),
                                  text_config=dict(TEXT, model_type="qwen2"))
    model = randomize(LlavaOnevisionForConditionalGeneration(config), 12)
    return save(model, tmp_path_factory.mktemp("onevision")), model


@pytest.fixture(scope="session")
def qwen2_vl_folder(tmp_path_factory):
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    text = dict(TEXT, rope_parameters={"rope_type": "default", "mrope_section": [2, 1, 1]})
    vision = dict(depth=2, embed_dim=32, hidden_size=48, num_heads=2, patch_size=14, spatial_merge_size=2)
    model = randomize(Qwen2VLForConditionalGeneration(Qwen2VLConfig(text_config=text, vision_config=vision)), 13)
    return save(model, tmp_path_factory.mktemp("qwen2_vl")), model


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory):
    """A 1-layer CLIP tower (patch 14) for properties over every preset."""
    from transformers import CLIPVisionConfig, CLIPVisionModel

    cfg = CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                           image_size=28, patch_size=14)
    return save(randomize(CLIPVisionModel(cfg), 14), tmp_path_factory.mktemp("tiny_clip"))


@pytest.fixture(scope="session")
def tiny_qwen(tmp_path_factory):
    from transformers import Qwen2VLVisionConfig
    from transformers.models.qwen2_vl.modeling_qwen2_vl import Qwen2VisionTransformerPretrainedModel

    cfg = Qwen2VLVisionConfig(depth=1, embed_dim=16, hidden_size=16, num_heads=2, patch_size=14, spatial_merge_size=2)
    return save(randomize(Qwen2VisionTransformerPretrainedModel(cfg), 15), tmp_path_factory.mktemp("tiny_qwen"))


@pytest.fixture(scope="session")
def tiny_pixtral(tmp_path_factory):
    """A 1-layer Pixtral tower (patch 14) for the properties of the presets it serves."""
    from transformers import PixtralVisionConfig, PixtralVisionModel

    cfg = PixtralVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                              patch_size=14)
    return save(randomize(PixtralVisionModel(cfg), 16), tmp_path_factory.mktemp("tiny_pixtral"))

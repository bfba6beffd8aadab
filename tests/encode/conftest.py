"""Tiny randomly initialised transformers models saved as model folders, built once per session.

Every parameter is redrawn at random (transformers initialises biases to 0 and norms to 1,
which would hide a swapped bias or a forgotten norm), then ``save_pretrained`` writes
config.json + model.safetensors like a hub folder.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

VISION = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4, image_size=56)
TEXT = dict(vocab_size=99, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4)
PIXTRAL_VISION = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4, patch_size=14,
                      image_size=112)  # fmt: skip
QWEN_VISION = dict(depth=3, embed_dim=64, hidden_size=48, num_heads=4, patch_size=14, spatial_merge_size=2)


def randomize(model, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            noise = torch.randn(param.shape, generator=gen)
            if param.dim() == 1 and "norm" in name or name.endswith("ln_q.weight"):
                param.copy_((1 + 0.1 * noise) if name.endswith("weight") else 0.1 * noise)
            else:
                param.copy_(0.1 * noise)
    return model.eval()


def save(model, folder, **kwargs):
    model.save_pretrained(folder, **kwargs)
    return folder


@pytest.fixture(scope="session")
def clip_vision(tmp_path_factory):
    from transformers import CLIPVisionConfig, CLIPVisionModel

    model = randomize(CLIPVisionModel(CLIPVisionConfig(**VISION, patch_size=14)), 1)
    return save(model, tmp_path_factory.mktemp("clip_vision")), model


@pytest.fixture(scope="session")
def siglip_vision(tmp_path_factory):
    from transformers import SiglipVisionConfig, SiglipVisionModel

    model = randomize(SiglipVisionModel(SiglipVisionConfig(**VISION, patch_size=14)), 2)
    return save(model, tmp_path_factory.mktemp("siglip_vision")), model


@pytest.fixture(scope="session")
def internvit_vision(tmp_path_factory):
    from transformers import InternVLVisionConfig, InternVLVisionModel

    model = randomize(InternVLVisionModel(InternVLVisionConfig(**VISION, patch_size=14, attention_bias=True)), 9)
    return save(model, tmp_path_factory.mktemp("internvit_vision")), model


@pytest.fixture(scope="session")
def gemma3_model(tmp_path_factory):
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    config = Gemma3Config(vision_config=dict(VISION, patch_size=14, vision_use_head=False), mm_tokens_per_image=4,
                          text_config=dict(TEXT, num_key_value_heads=2, head_dim=8))
    model = randomize(Gemma3ForConditionalGeneration(config), 10)
    return save(model, tmp_path_factory.mktemp("gemma3_model")), model


@pytest.fixture(scope="session")
def clip_model(tmp_path_factory):
    from transformers import CLIPConfig, CLIPModel

    config = CLIPConfig(text_config=TEXT, vision_config=dict(VISION, patch_size=16, image_size=64))
    model = randomize(CLIPModel(config), 3)
    return save(model, tmp_path_factory.mktemp("clip_model")), model


@pytest.fixture(scope="session")
def siglip_model(tmp_path_factory):
    from transformers import SiglipConfig, SiglipModel

    config = SiglipConfig(text_config=TEXT, vision_config=dict(VISION, patch_size=16, image_size=64))
    model = randomize(SiglipModel(config), 4)
    return save(model, tmp_path_factory.mktemp("siglip_model")), model


@pytest.fixture(scope="session")
def llava_next(tmp_path_factory):
    from transformers import LlavaNextConfig, LlavaNextForConditionalGeneration

    config = LlavaNextConfig(
        vision_config=dict(VISION, model_type="clip_vision_model", patch_size=14),
        text_config=dict(TEXT, model_type="llama", num_key_value_heads=2),
        image_grid_pinpoints=[[56, 112], [112, 56]],
    )
    model = randomize(LlavaNextForConditionalGeneration(config), 5)
    return save(model, tmp_path_factory.mktemp("llava_next")), model


@pytest.fixture(scope="session")
def onevision(tmp_path_factory):
    from transformers import LlavaOnevisionConfig, LlavaOnevisionForConditionalGeneration

    config = LlavaOnevisionConfig(
        vision_config=dict(VISION, model_type="siglip_vision_model", patch_size=14),
        text_config=dict(TEXT, model_type="qwen2", num_key_value_heads=2),
    )
    model = randomize(LlavaOnevisionForConditionalGeneration(config), 6)
    return save(model, tmp_path_factory.mktemp("onevision")), model


@pytest.fixture(scope="session")
def qwen2_vision(tmp_path_factory):
    from transformers import Qwen2VLVisionConfig
    from transformers.models.qwen2_vl.modeling_qwen2_vl import Qwen2VisionTransformerPretrainedModel

    model = randomize(Qwen2VisionTransformerPretrainedModel(Qwen2VLVisionConfig(**QWEN_VISION)), 7)
    return save(model, tmp_path_factory.mktemp("qwen2_vision")), model


@pytest.fixture(scope="session")
def qwen2_vl(tmp_path_factory):
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    text = dict(TEXT, num_key_value_heads=2, rope_parameters={"rope_type": "default", "mrope_section": [2, 1, 1]})
    config = Qwen2VLConfig(text_config=text, vision_config=dict(QWEN_VISION, hidden_size=32))
    model = randomize(Qwen2VLForConditionalGeneration(config), 8)
    return save(model, tmp_path_factory.mktemp("qwen2_vl")), model


@pytest.fixture(scope="session")
def pixtral_vision(tmp_path_factory):
    from transformers import PixtralVisionConfig, PixtralVisionModel

    model = randomize(PixtralVisionModel(PixtralVisionConfig(**PIXTRAL_VISION)), 9)
    return save(model, tmp_path_factory.mktemp("pixtral_vision")), model


def assert_config_refused(folder, tmp_path, field, value, message):
    """A copy of ``folder`` whose config.json sets ``field=value`` is a CheckpointError
    matching ``message``, raised before any weight is read."""
    import json
    import re
    import shutil
    from unittest import mock

    from anyres.encode import load, load_encoder
    from anyres.errors import CheckpointError

    shutil.copytree(folder, tmp_path, dirs_exist_ok=True)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps(dict(config, **{field: value})))
    with mock.patch.object(load, "Checkpoint", side_effect=AssertionError("weights read before the config check")):
        with pytest.raises(CheckpointError, match=re.escape(message)):
            load_encoder(tmp_path)


def assert_limits_reach_the_config(folder):
    """load_encoder's limits bound the tower's config, before any weight is read."""
    from unittest import mock

    from anyres.encode import ConfigLimits, load, load_encoder
    from anyres.errors import CheckpointError

    with mock.patch.object(load, "Checkpoint", side_effect=AssertionError("weights read before the config check")):
        with pytest.raises(CheckpointError, match=r"must be an integer in 1\.\.1\b"):
            load_encoder(folder, limits=ConfigLimits(num_layers=1))
        with pytest.raises(CheckpointError, match=r"over the limit of 1,000 \(ConfigLimits\.parameters\)"):
            load_encoder(folder, limits=ConfigLimits(parameters=1000))


def qwen_processed(sizes, patch: int = 14, seed: int = 0):
    """``pixel_values`` and ``image_grid_thw`` of random images of ``sizes`` (h, w) from
    transformers' Qwen2VLImageProcessorPil at ``patch`` px (up to 40 merged tokens each)."""
    import numpy as np
    from PIL import Image
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    unit = patch * 2
    rng = np.random.default_rng(seed)
    images = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in sizes]
    processor = Qwen2VLImageProcessorPil(patch_size=patch, min_pixels=unit * unit, max_pixels=unit * unit * 40)
    batch = processor(images=images, return_tensors="pt")
    return batch["pixel_values"], batch["image_grid_thw"]


def check_cli_encode(spec, folder, images, tmp_path):
    """``anyres encode`` and ``anyres encode-dataset`` with ``spec`` on a whole VLM folder
    write what the pipeline gives for ``images`` (PIL)."""
    import pyarrow.parquet as pq
    from safetensors.torch import load_file

    from anyres.cli import main
    from anyres.engine import encode_dataset
    from anyres.engine.store import load_embeddings
    from anyres.pipeline import VisionPipeline

    from ..tolerance import assert_close_rel

    src = tmp_path / "src"
    src.mkdir()
    paths = []
    for k, image in enumerate(images):
        image.save(src / f"{k}.png")
        paths.append(str(src / f"{k}.png"))
    expected = VisionPipeline.from_preset(spec, folder)(paths)
    out = tmp_path / "t.safetensors"
    assert main(["encode", *paths, "--preset", spec, "--encoder", str(folder), "--out", str(out)]) == 0
    saved = load_file(out)
    for k, ref in enumerate(expected):
        assert torch.equal(saved[f"image{k}.embeddings"], ref.embeddings)
    assert encode_dataset(src, tmp_path / "job", spec, folder)["encoded"] == len(images)
    rows = {r["source"]: r for r in pq.read_table(tmp_path / "job" / "manifest.parquet").to_pylist()}
    for k, ref in enumerate(expected):
        # the same modules on the same pixels, batched in other groups: float32 summation order
        assert_close_rel(load_embeddings(tmp_path / "job", rows[f"{k}.png"]), ref.embeddings, ulps=64)


def qwen_pipeline_against_reference(spec, folder, model, sizes, patch, mean_std=None, seed=3):
    """``VisionPipeline.from_preset(spec, folder)`` on PIL images of ``sizes`` (h, w), all in
    one call, against ``model.model.get_image_features`` on transformers' own processor
    output for the same images (Qwen2VLImageProcessorPil at the spec's settings): one
    ``(ours, reference)`` pair of VisualTokens and reference output per image."""
    import numpy as np
    from PIL import Image
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from anyres.pipeline import VisionPipeline

    rng = np.random.default_rng(seed)
    images = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in sizes]
    params = __import__("anyres").plan.resolve(spec)[1]
    extra = {"image_mean": list(mean_std), "image_std": list(mean_std)} if mean_std else {}
    processor = Qwen2VLImageProcessorPil(patch_size=patch, min_pixels=params["min_pixels"],
                                         max_pixels=params["max_pixels"], **extra)
    batch = processor(images=images, return_tensors="pt")
    with torch.no_grad():
        expected = model.model.get_image_features(batch["pixel_values"], batch["image_grid_thw"])
    tokens = VisionPipeline.from_preset(spec, folder)(images)
    return tokens, expected

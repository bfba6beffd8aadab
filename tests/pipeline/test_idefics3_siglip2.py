"""VisionPipeline on Idefics3 / SmolVLM and SigLIP2 folders (tiny, random, saved by
transformers) against the models' own get_image_features, on the same pixels: the tower,
Idefics3's pixel shuffle and bias-free projection read from the checkpoint's connector,
and SigLIP2 NaFlex's valid patches."""

from __future__ import annotations

import pytest
import torch

from anyres.pipeline import VisionPipeline
from anyres.pixels import preprocess

from ..encode.conftest import randomize
from ..pixels.test_hf_parity import make_image
from .test_parity import _close

TEXT = dict(vocab_size=99, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
            num_key_value_heads=2, model_type="llama")
VISION = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, patch_size=14)
IMAGES = [make_image(200, 120, 1), make_image(60, 150, 2), make_image(30, 30, 3), make_image(400, 40, 4)]
# 112 px longest edge in 56 px tiles of 4x4 patches, 2x2 pixel shuffle: 4 tokens a view
SPEC = "{}(size={{'longest_edge': 112}}, max_image_size={{'longest_edge': 56}})"


def _vlm(tmp_path_factory, name: str, image_size: int, seed: int):
    import transformers

    prefix = {"idefics3": "Idefics3", "smolvlm": "SmolVLM"}[name]
    config = getattr(transformers, f"{prefix}Config")(vision_config=dict(VISION, image_size=image_size),
                                                       text_config=TEXT, scale_factor=2)
    model = randomize(getattr(transformers, f"{prefix}ForConditionalGeneration")(config), seed)
    folder = tmp_path_factory.mktemp(name)
    model.save_pretrained(folder)
    return folder, model


@pytest.fixture(scope="module", params=[("idefics3", 56), ("smolvlm", 70)], ids=["idefics3", "smolvlm"])
def idefics_family(request, tmp_path_factory):
    """(preset, folder, model); SmolVLM's table is 5x5 for 4x4 tiles: positions bucketed."""
    name, image_size = request.param
    return (name, *_vlm(tmp_path_factory, name, image_size, 41 if name == "idefics3" else 42))


@pytest.fixture(scope="module")
def siglip2_folder(tmp_path_factory):
    from transformers import Siglip2Config, Siglip2Model

    text = dict(TEXT)
    text.pop("model_type"), text.pop("num_key_value_heads")
    vision = dict(VISION, patch_size=16, num_patches=16)
    model = randomize(Siglip2Model(Siglip2Config(text_config=text, vision_config=vision)), 43)
    folder = tmp_path_factory.mktemp("siglip2")
    model.save_pretrained(folder)
    return folder, model


def test_idefics3_and_smolvlm_match_get_image_features(idefics_family):
    preset, folder, model = idefics_family
    spec = SPEC.format(preset)
    pipe = VisionPipeline.from_preset(spec, folder)
    assert pipe.encoder.family == "idefics3" and pipe.assembler.out_width == 32  # the text width: projector loaded
    assert torch.equal(pipe.assembler.projector.proj.weight, model.model.connector.modality_projection.proj.weight)
    tokens = pipe(IMAGES)
    assert sorted({len(t.plan.views) for t in tokens}) == [3, 5]
    hf = preprocess(IMAGES, spec, output="hf", return_tensors="pt")
    with torch.no_grad():
        ref = model.model.get_image_features(hf["pixel_values"], hf["pixel_attention_mask"]).pooler_output
    for t, r in zip(tokens, torch.cat(list(ref)).split([len(t) for t in tokens])):  # one sample: split per image
        assert len(t) == t.plan.num_tokens
        _close(t.embeddings, r)


def test_padding_images_of_a_batch_are_dropped_as_transformers_does(idefics_family):
    """Two samples of 5 and 3 views padded to 5: the all-zero padding views are not encoded."""
    preset, folder, model = idefics_family
    spec = SPEC.format(preset)
    pipe = VisionPipeline.from_preset(spec, folder)
    tokens = pipe(IMAGES[:2])
    parts = [preprocess([im], spec, output="hf", return_tensors="pt") for im in IMAGES[:2]]
    n = max(p["pixel_values"].shape[1] for p in parts)
    pixels = torch.zeros(2, n, 3, 56, 56)
    mask = torch.zeros(2, n, 56, 56, dtype=torch.long)
    for i, p in enumerate(parts):
        k = p["pixel_values"].shape[1]
        pixels[i, :k], mask[i, :k] = p["pixel_values"][0], p["pixel_attention_mask"][0]
    assert n == 5 and parts[1]["pixel_values"].shape[1] == 3
    with torch.no_grad():
        ref = model.model.get_image_features(pixels, mask).pooler_output
    for t, r in zip(tokens, ref):
        _close(t.embeddings, r)


def test_siglip2_matches_get_image_features(siglip2_folder):
    folder, model = siglip2_folder
    spec = "siglip2(max_num_patches=24)"
    pipe = VisionPipeline.from_preset(spec, folder)
    assert pipe.encoder.family == "siglip2" and pipe.assembler.projector is None
    tokens = pipe(IMAGES)
    hf = preprocess(IMAGES, spec, output="hf", return_tensors="pt")
    with torch.no_grad():
        ref = model.get_image_features(pixel_values=hf["pixel_values"], pixel_attention_mask=hf["pixel_attention_mask"],
                                       spatial_shapes=hf["spatial_shapes"]).last_hidden_state
    assert len({len(t) for t in tokens}) > 1  # grids of different sizes
    for t, r, m in zip(tokens, ref, hf["pixel_attention_mask"]):
        assert len(t) == t.plan.num_tokens
        _close(t.embeddings, r[m.bool()])
    # the tower's own NaFlex entry point gives the same rows from the same processor outputs
    with torch.no_grad():
        packed = pipe.encoder.forward_naflex(hf["pixel_values"], hf["pixel_attention_mask"], hf["spatial_shapes"],
                                             packed=True)
    _close(torch.cat([t.embeddings for t in tokens]), packed)


SIZES = [(1, 1), (7, 900), (900, 7), (333, 333), (1000, 20), (64, 48)]


def _invariant_and_packing(spec, folder):
    """rows == plan.num_tokens, and packed, per-view and shape-grouped encoding agree."""
    images = [make_image(w, h, k) for k, (w, h) in enumerate(SIZES)]
    runs = [VisionPipeline.from_preset(spec, folder, packing=m)(images) for m in ("packed", "single", "groups")]
    for per_mode in zip(*runs):
        for t in per_mode:
            assert len(t) == t.plan.num_tokens and t.positions.shape == (len(t), 3)
        for t in per_mode[1:]:
            _close(t.embeddings, per_mode[0].embeddings)


def test_idefics_token_invariant_and_packing_modes(idefics_family):
    preset, folder, _ = idefics_family
    _invariant_and_packing(SPEC.format(preset), folder)


def test_siglip2_token_invariant_and_packing_modes(siglip2_folder):
    _invariant_and_packing("siglip2(max_num_patches=24)", siglip2_folder[0])


def test_encode_and_encode_dataset_commands(idefics_family, siglip2_folder, tmp_path):
    """`anyres encode` and `anyres encode-dataset` on these folders write the pipeline's rows."""
    import json

    import pyarrow.parquet as pq
    from safetensors import safe_open

    from anyres.cli import main
    from anyres.engine.store import load_embeddings

    preset, folder, _ = idefics_family
    src = tmp_path / "src"
    src.mkdir()
    for k, im in enumerate(IMAGES[:2]):
        im.save(src / f"{k}.png")
    for spec, model in ((SPEC.format(preset), folder), ("siglip2(max_num_patches=24)", siglip2_folder[0])):
        expected = VisionPipeline.from_preset(spec, model)(IMAGES[:2])
        out = tmp_path / f"{spec[:7]}.safetensors"
        assert main(["encode", str(src / "0.png"), str(src / "1.png"), "--preset", spec, "--encoder", str(model),
                     "--out", str(out)]) == 0
        with safe_open(str(out), framework="pt") as f:
            assert [m["num_tokens"] for m in json.loads(f.metadata()["images"])] == [len(t) for t in expected]
            for k, t in enumerate(expected):
                _close(f.get_tensor(f"image{k}.embeddings"), t.embeddings)
        dest = tmp_path / f"{spec[:7]}_job"
        assert main(["encode-dataset", str(src), "--out", str(dest), "--preset", spec, "--encoder", str(model),
                     "--quiet"]) == 0
        rows = sorted(pq.read_table(dest / "manifest").to_pylist(), key=lambda r: r["source"])
        assert [r["source"] for r in rows] == ["0.png", "1.png"]
        for row, t in zip(rows, expected):
            _close(load_embeddings(dest, row), t.embeddings)


def test_a_folder_is_the_spec_and_the_encoder(idefics_family, siglip2_folder, tmp_path):
    """A SmolVLM / Idefics3 or SigLIP2 folder with its image processor config plans with the
    checkpoint's own values: VisionPipeline.from_preset(folder, folder) equals the spec by name."""
    import shutil

    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil
    from transformers.models.siglip2.image_processing_pil_siglip2 import Siglip2ImageProcessorPil
    from transformers.models.smolvlm.image_processing_pil_smolvlm import SmolVLMImageProcessorPil

    preset, folder, _ = idefics_family
    processor = {"idefics3": Idefics3ImageProcessorPil, "smolvlm": SmolVLMImageProcessorPil}[preset]
    cases = [(folder, processor(size={"longest_edge": 112}, max_image_size={"longest_edge": 56}), SPEC.format(preset)),
             (siglip2_folder[0], Siglip2ImageProcessorPil(max_num_patches=24), "siglip2(max_num_patches=24)")]
    for k, (source, image_processor, spec) in enumerate(cases):
        copy = tmp_path / f"model{k}"
        shutil.copytree(source, copy)
        image_processor.save_pretrained(copy)
        from_folder, by_name = VisionPipeline.from_preset(str(copy), copy), VisionPipeline.from_preset(spec, source)
        for a, b in zip(from_folder(IMAGES), by_name(IMAGES)):
            assert a.plan.num_tokens == b.plan.num_tokens and a.plan.views == b.plan.views
            assert torch.equal(a.embeddings, b.embeddings)  # same weights, same pixels, same kernels


def _bf16_no_worse_than_transformers(ours, exact, theirs):
    """Ours in bfloat16 no worse than twice transformers' own bfloat16 error (plus 1% of the
    scale for chance differences between two bfloat16 orderings), as for the Qwen towers."""
    assert ours.dtype == torch.bfloat16
    scale = exact.abs().max().item()
    ours_err, ref_err = (ours.float() - exact).abs().max().item(), (theirs.float() - exact).abs().max().item()
    print(f"bfloat16 error: ours {ours_err / scale:.2e}, transformers {ref_err / scale:.2e}")
    assert ours_err <= 2 * ref_err + 0.01 * scale


def test_bfloat16_pipelines(idefics_family, siglip2_folder):
    import copy

    preset, folder, model = idefics_family
    spec = SPEC.format(preset)
    tokens = VisionPipeline.from_preset(spec, folder, dtype=torch.bfloat16)(IMAGES[:2])
    hf = preprocess(IMAGES[:2], spec, output="hf", return_tensors="pt")
    low = copy.deepcopy(model).to(torch.bfloat16)  # the fixture keeps its float32 weights
    with torch.no_grad():
        exact = model.model.get_image_features(hf["pixel_values"], hf["pixel_attention_mask"]).pooler_output
        theirs = low.model.get_image_features(hf["pixel_values"].bfloat16(), hf["pixel_attention_mask"]).pooler_output
    exact, theirs = torch.cat(list(exact)), torch.cat(list(theirs))
    _bf16_no_worse_than_transformers(torch.cat([t.embeddings for t in tokens]), exact, theirs)

    folder, model = siglip2_folder
    spec = "siglip2(max_num_patches=24)"
    tokens = VisionPipeline.from_preset(spec, folder, dtype=torch.bfloat16)(IMAGES[:2])
    hf = preprocess(IMAGES[:2], spec, output="hf", return_tensors="pt")
    mask = hf["pixel_attention_mask"].bool()
    low = copy.deepcopy(model).to(torch.bfloat16)
    with torch.no_grad():
        exact = model.get_image_features(pixel_values=hf["pixel_values"], pixel_attention_mask=hf["pixel_attention_mask"],
                                         spatial_shapes=hf["spatial_shapes"]).last_hidden_state[mask]
        theirs = low.get_image_features(pixel_values=hf["pixel_values"].bfloat16(),
                                        pixel_attention_mask=hf["pixel_attention_mask"],
                                        spatial_shapes=hf["spatial_shapes"]).last_hidden_state[mask]
    _bf16_no_worse_than_transformers(torch.cat([t.embeddings for t in tokens]), exact, theirs)

"""Pixtral-12B (LLaVA with a Pixtral tower) and Mistral 3 end to end: ``VisionPipeline``
over a tiny random transformers folder gives what the model's own ``get_image_features``
gives (tower, Mistral 3's RMSNorm + 2x2 patch merger, projector), for images of several
sizes and aspect ratios encoded in one call; and the ``encode`` / ``encode-dataset``
commands write the same tokens."""

from __future__ import annotations

import copy

import pytest
import torch

import anyres
from anyres.pipeline import VisionPipeline
from anyres.pixels import preprocess

from ..encode.conftest import randomize, save
from ..pixels.test_hf_parity import make_image
from ..tolerance import assert_close_rel

# landscape, portrait, smaller than one merge unit (upscaled to it), a strip of 22:1
IMAGES = [make_image(1000, 600, 1), make_image(300, 900, 2), make_image(40, 30, 3), make_image(2000, 90, 4)]
VISION = dict(model_type="pixtral", hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=2)
TEXT = dict(model_type="mistral", vocab_size=64, hidden_size=48, intermediate_size=64, num_hidden_layers=1,
            num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5)  # fmt: skip
MISTRAL3 = "mistral3(size={'longest_edge': 336})"
PIXTRAL = "pixtral(size={'longest_edge': 256})"


@pytest.fixture(scope="module")
def mistral3_folder(tmp_path_factory):
    from transformers import Mistral3Config, Mistral3ForConditionalGeneration

    config = Mistral3Config(vision_config=dict(VISION, patch_size=14), text_config=TEXT)
    model = randomize(Mistral3ForConditionalGeneration(config), 21)
    return save(model, tmp_path_factory.mktemp("mistral3")), model


@pytest.fixture(scope="module")
def pixtral_folder(tmp_path_factory):
    from transformers import LlavaConfig, LlavaForConditionalGeneration

    config = LlavaConfig(vision_config=dict(VISION, patch_size=16), text_config=TEXT, vision_feature_layer=-1,
                         vision_feature_select_strategy="full")  # Pixtral-12B's
    model = randomize(LlavaForConditionalGeneration(config), 22)
    return save(model, tmp_path_factory.mktemp("pixtral")), model


def reference(model, spec, images=IMAGES, **kwargs):
    hf = preprocess(images, spec, output="hf", return_tensors="pt")
    with torch.no_grad():
        return model.model.get_image_features(hf["pixel_values"], image_sizes=hf["image_sizes"], **kwargs).pooler_output


def _close(ours, ref, what):
    # our tower, merger and projector vs transformers' modules on the same float32 weights:
    # the same arithmetic in other kernels and orders (measured under 20 ulps)
    assert_close_rel(ours, ref, ulps=64, what=what)


@pytest.mark.parametrize("packing", ["auto", "groups"])
def test_mistral3_matches_get_image_features(mistral3_folder, packing):
    folder, model = mistral3_folder
    pipe = VisionPipeline.from_preset(MISTRAL3, folder, packing=packing)
    assert pipe.encoder.family == "pixtral" and pipe.assembler.merger is not None
    assert pipe.assembler.merger.norm.eps == 1e-5  # text_config.rms_norm_eps, as transformers builds the norm
    tokens = pipe(IMAGES)  # the four images in one call
    ref = reference(model, MISTRAL3)
    assert len({t.plan.views[0].size for t in tokens}) == 4
    for k, (t, r) in enumerate(zip(tokens, ref)):
        assert len(t) == t.plan.num_tokens == r.shape[0] and t.prompt().count("[IMG]") == len(t)
        _close(t.embeddings, r, f"mistral3 image {k}")
        rows, cols = t.plan.views[0].token_grid  # positions: the merged grid, row-major
        assert t.positions[:, 1].max() == rows - 1 and t.positions[:, 2].max() == cols - 1


def test_pixtral_llava_matches_get_image_features(pixtral_folder):
    folder, model = pixtral_folder
    pipe = VisionPipeline.from_preset(PIXTRAL, folder)
    assert pipe.assembler.merger is None and pipe.assembler.out_width == 48
    tokens = pipe(IMAGES)
    ref = reference(model, PIXTRAL, vision_feature_layer=-1, vision_feature_select_strategy="full")
    for k, (t, r) in enumerate(zip(tokens, ref)):
        assert len(t) == t.plan.num_tokens == r.shape[0]
        _close(t.embeddings, r, f"pixtral image {k}")


def test_bfloat16_pipeline(mistral3_folder):
    """bfloat16 tower, merger and projector against the float32 reference: no worse than
    twice transformers' own bfloat16 error on the same pixels, plus 1% of the scale (two
    bfloat16 computations in different orders differ by chance; see tests/encode/test_pixtral.py)."""
    folder, model = mistral3_folder
    pipe = VisionPipeline.from_preset(MISTRAL3, folder, dtype=torch.bfloat16)
    ours = torch.cat([t.embeddings for t in pipe(IMAGES[:3])])
    exact = torch.cat(reference(model, MISTRAL3, IMAGES[:3]))
    half = copy.deepcopy(model).to(torch.bfloat16)  # a copy: the round trip to bfloat16 would round the fixture
    hf = preprocess(IMAGES[:3], MISTRAL3, output="hf", return_tensors="pt")
    with torch.no_grad():
        ref_bf16 = torch.cat(half.model.get_image_features(hf["pixel_values"].bfloat16(),
                                                           image_sizes=hf["image_sizes"]).pooler_output)
    assert ours.dtype == torch.bfloat16
    scale = exact.abs().max().item()
    ours_err, ref_err = (ours.float() - exact).abs().max().item(), (ref_bf16.float() - exact).abs().max().item()
    print(f"bfloat16 error: ours {ours_err / scale:.2e}, transformers {ref_err / scale:.2e} (relative to {scale:.2f})")
    assert ours_err <= 2 * ref_err + 0.01 * scale


def test_connector_weights_and_settings_come_from_the_folder(mistral3_folder, tmp_path):
    import json
    import shutil

    folder, model = mistral3_folder
    pipe = VisionPipeline.from_preset(MISTRAL3, folder)
    projector = model.model.multi_modal_projector
    assert torch.equal(pipe.assembler.merger.merging_layer.weight, projector.patch_merger.merging_layer.weight)
    assert torch.equal(pipe.assembler.projector.linear_2.weight, projector.linear_2.weight)
    assert pipe.assembler.projector.linear_1.bias is None  # multimodal_projector_bias=False
    random = VisionPipeline.from_preset(MISTRAL3, folder, load_layout=False)
    assert not torch.equal(random.assembler.merger.merging_layer.weight[:4], projector.patch_merger.merging_layer.weight[:4])
    shutil.copytree(folder, tmp_path, dirs_exist_ok=True)
    config = json.loads((tmp_path / "config.json").read_text())
    for change, words in [({"vision_feature_layer": [-1, -2]}, "reads one feature layer"),
                          ({"projector_hidden_act": "swish2"}, "projector_hidden_act='swish2'"),
                          ({"text_config": dict(config["text_config"], rms_norm_eps="x")}, "rms_norm_eps='x'")]:
        (tmp_path / "config.json").write_text(json.dumps(dict(config, **change)))
        with pytest.raises(anyres.CheckpointError, match=words):
            VisionPipeline.from_preset(MISTRAL3, tmp_path)


def test_towers_that_do_not_fit_are_refused(mistral3_folder, pixtral_folder):
    with pytest.raises(anyres.SpecError, match="patch_size=14"):
        VisionPipeline.from_preset("pixtral", mistral3_folder[0])  # Pixtral-12B counts 16 px patches
    with pytest.raises(anyres.SpecError, match="patch_size=16"):
        VisionPipeline.from_preset(MISTRAL3, pixtral_folder[0])


def test_encode_and_encode_dataset_commands(mistral3_folder, tmp_path):
    import pyarrow.parquet as pq
    from safetensors import safe_open

    from anyres.cli import main
    from anyres.engine.store import load_embeddings

    folder, _ = mistral3_folder
    src = tmp_path / "src"
    src.mkdir()
    for k, im in enumerate(IMAGES[:3]):
        im.save(src / f"{k}.png")
    paths = sorted(str(p) for p in src.iterdir())
    pipe = VisionPipeline.from_preset(MISTRAL3, folder)
    expected = {p: t.embeddings for p, t in zip(paths, pipe(paths))}
    out = tmp_path / "tokens.safetensors"
    assert main(["encode", *paths, "--preset", MISTRAL3, "--encoder", str(folder), "--out", str(out)]) == 0
    with safe_open(str(out), framework="pt") as f:
        for k, p in enumerate(paths):
            # the same pipeline on the same pixels, other batch groups: float32 order only
            assert_close_rel(f.get_tensor(f"image{k}.embeddings"), expected[p], ulps=64, what=p)
    dest = tmp_path / "dataset"
    assert main(["encode-dataset", str(src), "--out", str(dest), "--preset", MISTRAL3, "--encoder", str(folder),
                 "--quiet"]) == 0  # fmt: skip
    rows = pq.read_table(dest / "manifest.parquet").to_pylist()
    assert len(rows) == 3
    for r in rows:
        emb = load_embeddings(dest, r)
        assert_close_rel(emb, expected[str(src / r["source"])], ulps=64, what=r["source"])


def test_a_checkpoint_folder_is_its_own_spec(mistral3_folder, tmp_path):
    """A Mistral 3 folder with its processor's configs plans as the mistral3 preset with the
    folder's values, and VisionPipeline.from_preset(folder, folder) gives the spec's tokens."""
    import json
    import shutil

    from transformers.models.pixtral.image_processing_pil_pixtral import PixtralImageProcessorPil

    folder, _ = mistral3_folder
    shutil.copytree(folder, tmp_path, dirs_exist_ok=True)
    PixtralImageProcessorPil(size={"longest_edge": 336}, patch_size=14).save_pretrained(tmp_path)
    (tmp_path / "processor_config.json").write_text(json.dumps({"patch_size": 14, "spatial_merge_size": 2,
                                                                "image_token": "[IMG]"}))
    for im in IMAGES:
        assert anyres.plan(im, str(tmp_path)).num_tokens == anyres.plan(im, MISTRAL3).num_tokens
    ours = VisionPipeline.from_preset(str(tmp_path), tmp_path)(IMAGES[:2])
    spec = VisionPipeline.from_preset(MISTRAL3, folder)(IMAGES[:2])
    for a, b in zip(ours, spec):
        assert torch.equal(a.embeddings, b.embeddings) and a.prompt() == b.prompt()


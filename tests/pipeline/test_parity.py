"""The whole pipeline against transformers' own VLMs (tiny, random, saved as folders):
the same pixels in, the same image embeddings out (projector, unpad, newline, merger)."""

from __future__ import annotations

import pytest
import torch

import anyres
from anyres.pipeline import VisionPipeline
from anyres.pixels import preprocess

from ..pixels.test_hf_parity import make_image
from ..tolerance import assert_close_rel

IMAGES = [make_image(1000, 600, 1), make_image(300, 900, 2), make_image(40, 30, 3), make_image(2000, 90, 4)]


def _close(ours: torch.Tensor, ref: torch.Tensor) -> None:
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    # our fused tower and connector vs transformers' modules on the same float32 weights:
    # the same arithmetic in other kernels and orders (see ULPS in tests/encode/test_parity.py)
    assert_close_rel(ours, ref, ulps=64)


@pytest.mark.parametrize("preset,fixture", [("llava-next", "llava_next_folder"), ("llava-onevision", "onevision_folder")])
def test_llava_family_matches_get_image_features(preset, fixture, request):
    folder, model = request.getfixturevalue(fixture)
    pipe = VisionPipeline.from_preset(preset, folder)
    assert pipe.assembler.out_width == 48 and pipe.encoder.feature_layer == model.config.vision_feature_layer % 3
    tokens = pipe(IMAGES)
    hf = preprocess(IMAGES, preset, output="hf", return_tensors="pt")
    with torch.no_grad():
        ref = model.model.get_image_features(hf["pixel_values"], hf["image_sizes"]).pooler_output
    for t, r in zip(tokens, ref):
        assert len(t) == t.plan.num_tokens
        _close(t.embeddings, r)


def test_qwen2_vl_matches_get_image_features(qwen2_vl_folder):
    folder, model = qwen2_vl_folder
    pipe = VisionPipeline.from_preset("qwen2-vl", folder)
    tokens = pipe(IMAGES)
    hf = preprocess(IMAGES, "qwen2-vl", output="hf", return_tensors="pt")
    with torch.no_grad():
        ref = model.model.get_image_features(hf["pixel_values"], hf["image_grid_thw"]).pooler_output
    for t, r in zip(tokens, ref):
        _close(t.embeddings, r)
    # the M-RoPE ids of an image alone equal transformers' get_rope_index on its placeholders
    ids = torch.tensor([[model.config.image_token_id] * len(tokens[0])])
    rope, _ = model.model.get_rope_index(ids, torch.ones_like(ids, dtype=torch.int), image_grid_thw=hf["image_grid_thw"][:1])
    assert torch.equal(tokens[0].position_ids(), rope[:, 0])


def test_learned_layout_comes_from_the_checkpoint(llava_next_folder):
    folder, model = llava_next_folder
    pipe = VisionPipeline.from_preset("llava-next", folder)
    assert torch.equal(pipe.assembler.image_newline, model.model.image_newline)
    random = VisionPipeline.from_preset("llava-next", folder, load_layout=False)
    assert random.assembler.out_width == 32 and not torch.equal(random.assembler.image_newline[:32],
                                                                 model.model.image_newline[:32])


def test_incompatible_encoders_are_refused(llava_next_folder, qwen2_vl_folder):
    with pytest.raises(anyres.SpecError, match="patch_size=14"):
        VisionPipeline.from_preset("llava-next(patch_size=16)", llava_next_folder[0])
    with pytest.raises(anyres.SpecError, match="Qwen2-VL tower"):
        VisionPipeline.from_preset("qwen2-vl", llava_next_folder[0])
    with pytest.raises(anyres.SpecError, match="only serves native presets"):
        VisionPipeline.from_preset("internvl", qwen2_vl_folder[0])


def test_bad_images_are_skipped_or_raised(llava_next_folder, tmp_path):
    pipe = VisionPipeline.from_preset("llava-next", llava_next_folder[0])
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    out = pipe([IMAGES[0], str(bad)], on_error="skip")
    assert isinstance(out[0], anyres.VisualTokens) and isinstance(out[1], anyres.ImageError)
    with pytest.raises(anyres.ImageError):
        pipe([str(bad)])


def test_encode_command_writes_tokens(llava_next_folder, tmp_path, capsys):
    import json

    from safetensors import safe_open

    from anyres.cli import main

    paths = []
    for k, im in enumerate(IMAGES[:2]):
        paths.append(str(tmp_path / f"{k}.png"))
        im.save(paths[-1])
    bad = tmp_path / "bad.jpg"
    bad.write_text("no")
    out = tmp_path / "tokens.safetensors"
    code = main(["encode", *paths, str(bad), "--preset", "llava-next", "--encoder", str(llava_next_folder[0]),
                 "--out", str(out)])
    assert code == 1 and "skipped" in capsys.readouterr().err  # one image refused, the rest written
    with safe_open(str(out), framework="pt") as f:
        meta = json.loads(f.metadata()["images"])
        emb = f.get_tensor("image0.embeddings")
    assert [m["num_tokens"] for m in meta] == [anyres.plan(im, "llava-next").num_tokens for im in IMAGES[:2]]
    assert emb.shape == (meta[0]["num_tokens"], 48) and meta[0]["prompt"].count("<image>") == meta[0]["num_tokens"]


def test_budget_planner_runs_on_merge_free_and_merging_towers(llava_next_folder, qwen2_vl_folder):
    page = make_image(1200, 1700, 9)
    for spec, folder in (("budget(max_tokens=700)", llava_next_folder[0]),
                         ("budget(max_tokens=700, merges=(2,))", qwen2_vl_folder[0])):
        [t] = VisionPipeline.from_preset(spec, folder)([page])
        assert len(t) == t.plan.num_tokens <= 700
    with pytest.raises(anyres.SpecError, match=r"merges=\(2,\)"):
        VisionPipeline.from_preset("budget", qwen2_vl_folder[0])


@pytest.mark.parametrize("preset", ["llava-next", "minicpm-v", "internvl"])
def test_encode_batch_equals_encode_views(preset, tiny_clip):
    """__call__ and the dataset engine encode shape groups in place (encode_batch); the
    property tests drive encode_views: both must give the same tokens."""
    pipe = VisionPipeline.from_preset(preset, tiny_clip)
    batch = preprocess(IMAGES, preset, return_tensors="pt")
    for a, b in zip(pipe.encode_batch(batch), pipe.encode_views(batch.plans, batch.views)):
        # batched shape groups vs packed views: float32 summation order (PACKED_ULPS in
        # tests/encode/test_packed.py)
        assert_close_rel(a.embeddings, b.embeddings, ulps=64, what=preset)
        assert torch.equal(a.positions, b.positions) and len(a) == a.plan.num_tokens


def test_to_moves_the_encoder_and_the_token_stage_together(llava_next_folder):
    """``VisionPipeline.to(dtype)`` (and ``.to(device)``) moves every module: the rows
    come out in bfloat16, close to float32's (bfloat16 keeps 8 bits of mantissa: a 2-layer
    tower, projector and newline rows round to a few 1e-3 of the scale; 3e-2 is loose on
    purpose, the test is about where the modules and pixels live, the CPU bf16 accuracy is
    checked per tower in tests/encode)."""
    folder, _ = llava_next_folder
    full = VisionPipeline.from_preset("llava-next", folder)
    half = VisionPipeline.from_preset("llava-next", folder).to(torch.bfloat16)
    assert half.to("cpu") is half
    params = list(half.encoder.parameters()) + list(half.assembler.parameters())
    assert params and all(p.dtype == torch.bfloat16 for p in params)
    for a, b in zip(full(IMAGES[:2]), half(IMAGES[:2])):
        assert b.embeddings.dtype == torch.bfloat16 and b.embeddings.shape == a.embeddings.shape
        err = (b.embeddings.float() - a.embeddings).abs().max() / a.embeddings.abs().max()
        assert err < 3e-2, err

"""Gemma 3 end to end: SigLIP's last_hidden_state (after post_layernorm), the 4x4 average
pool, the soft-embedding RMSNorm (1 + weight) and the bias-free projection, against a
tiny random Gemma3ForConditionalGeneration's own ``get_image_features``.

The model is built at 224 px (16x16 patches of 14 px, pooled 4x4 to 16 tokens a view,
the preset ``gemma3(size={'height': 224, 'width': 224}, image_seq_length=16)``), and the
reference pixels come from transformers' own Gemma3ImageProcessorPil, so the test covers
the whole way from an image to its tokens.
"""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from anyres.encode import load_encoder  # noqa: E402
from anyres.errors import CheckpointError, SpecError  # noqa: E402
from anyres.pipeline import VisionPipeline  # noqa: E402

from ..pixels.test_hf_parity import make_image  # noqa: E402
from ..tolerance import assert_close_rel  # noqa: E402
from .conftest import check_cli_encode, randomize  # noqa: E402

SPEC = "gemma3(size={'height': 224, 'width': 224}, image_seq_length=16)"
# pan-and-scan crops of at least 64 px (the released 256 would leave these small images uncut)
PAN = "gemma3(size={'height': 224, 'width': 224}, image_seq_length=16, do_pan_and_scan=True, pan_and_scan_min_crop_size=64)"
VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=224,
              patch_size=14, vision_use_head=False)  # fmt: skip
TEXT = dict(vocab_size=64, hidden_size=48, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
            num_key_value_heads=1, head_dim=24)  # fmt: skip
# wide, tall, square and a long strip: with pan-and-scan the first two get 2 crops, the
# strip 4, the square none
IMAGES = [make_image(600, 300, 1), make_image(200, 420, 2), make_image(64, 64, 3), make_image(1200, 250, 4)]
# float32: our fused blocks and pooling vs transformers' modules on the same weights,
# the same arithmetic in other orders (as tests/pipeline/test_parity.py)
ULPS = 64


@pytest.fixture(scope="module")
def gemma3(tmp_path_factory):
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    config = Gemma3Config(vision_config=VISION, text_config=TEXT, mm_tokens_per_image=16)
    model = randomize(Gemma3ForConditionalGeneration(config), 21)
    with torch.no_grad():  # Gemma's norm scales by 1 + weight: make that weight sizeable too
        model.model.multi_modal_projector.mm_soft_emb_norm.weight.normal_(0, 0.3)
    folder = tmp_path_factory.mktemp("gemma3")
    model.save_pretrained(folder)
    return folder, model


def reference(model, images, pan_and_scan: bool) -> list[torch.Tensor]:
    """transformers' processor and get_image_features: one (views * 16, width) per image."""
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    processor = Gemma3ImageProcessorPil(size={"height": 224, "width": 224}, do_pan_and_scan=pan_and_scan,
                                        pan_and_scan_min_crop_size=64, pan_and_scan_max_num_crops=4,
                                        pan_and_scan_min_ratio_to_activate=1.2)
    batch = processor(images=images, return_tensors="pt")
    with torch.no_grad():
        out = model.model.get_image_features(batch["pixel_values"]).pooler_output  # (views, 16, width)
    views = [1 + int(n) for n in batch["num_crops"]]
    return [x.flatten(0, 1) for x in out.split(views)]


@pytest.mark.parametrize("pan", [False, True], ids=["resize", "pan-and-scan"])
def test_pipeline_equals_get_image_features(gemma3, pan):
    folder, model = gemma3
    spec = PAN if pan else SPEC
    pipe = VisionPipeline.from_preset(spec, folder)
    assert pipe.encoder.feature_layer == 2 and pipe.encoder.final_norm is not None  # last_hidden_state
    assert pipe.assembler.out_width == 48
    expected = reference(model, IMAGES, pan)
    tokens = pipe(IMAGES)  # a mixed batch in one call
    assert [len(t.plan.views) for t in tokens] == ([3, 3, 1, 5] if pan else [1, 1, 1, 1])
    for t, ref in zip(tokens, expected):
        assert len(t) == t.plan.num_tokens == ref.shape[0]
        assert_close_rel(t.embeddings, ref, ulps=ULPS, what=f"{spec} {t.plan.image}")
    for image, ref in zip(IMAGES[:2], expected):  # one image a call gives the same
        [alone] = pipe([image])
        assert_close_rel(alone.embeddings, ref, ulps=ULPS)
    packed = VisionPipeline.from_preset(spec, folder, packing="packed")(IMAGES[:2])  # one packed sequence
    for t, ref in zip(packed, expected):
        assert_close_rel(t.embeddings, ref, ulps=ULPS)


def test_bfloat16_and_to(gemma3):
    """bfloat16 keeps 8 significant bits (2^-9 = 0.2% a rounding); our error against
    float32 is set against transformers' own bfloat16 error on the same inputs: no worse
    than twice it, plus 1% of the scale (two bfloat16 computations in different orders
    differ by chance)."""
    folder, model = gemma3
    expected = torch.cat(reference(model, IMAGES[:2], False))
    pipe = VisionPipeline.from_preset(SPEC, folder, dtype=torch.bfloat16)
    ours = torch.cat([t.embeddings for t in pipe(IMAGES[:2])])
    assert ours.dtype == torch.bfloat16
    ref_bf16 = torch.cat(reference(copy.deepcopy(model).to(torch.bfloat16), IMAGES[:2], False))
    scale = expected.abs().max().item()
    ours_err, ref_err = (ours.float() - expected).abs().max().item(), (ref_bf16.float() - expected).abs().max().item()
    print(f"bfloat16 error: ours {ours_err / scale:.2e}, transformers {ref_err / scale:.2e} (relative to {scale:.2f})")
    assert ours_err <= 2 * ref_err + 0.01 * scale
    # .to(device, dtype): the weights move and the inputs follow them
    pipe = VisionPipeline.from_preset(SPEC, folder)
    pipe.encoder.to("cpu", torch.float64)
    pipe.assembler.to("cpu", torch.float64)
    [t] = pipe(IMAGES[:1])
    assert t.embeddings.dtype == torch.float64
    assert_close_rel(t.embeddings, expected[:16].double(), ulps=ULPS)


def test_the_final_norm_is_the_parents_choice(gemma3, siglip_vision):
    folder, model = gemma3
    assert load_encoder(folder, feature_layer=-2).final_norm is None  # hidden_states[-2]: no final norm
    assert load_encoder(folder, final_norm=False).final_norm is None
    assert load_encoder(siglip_vision[0]).final_norm is None  # a bare SigLIP: LLaVA's hidden_states[-2]
    bare = load_encoder(siglip_vision[0], feature_layer=-1, final_norm=True)
    pixels = torch.randn(2, 3, 56, 56, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = siglip_vision[1](pixel_values=pixels).last_hidden_state
        assert_close_rel(bare.forward_features(pixels), ref, ulps=ULPS)
        assert_close_rel(torch.cat(bare.forward_views(list(pixels))), ref.flatten(0, 1), ulps=ULPS)
    with pytest.raises(SpecError, match="final_norm=True runs the tower's final norm after its last layer"):
        load_encoder(folder, feature_layer=-2, final_norm=True)
    with pytest.raises(SpecError, match="final_norm must be True, False or None"):
        load_encoder(folder, final_norm="yes")


def test_projector_weights_and_eps_come_from_the_checkpoint(gemma3, tmp_path):
    import json
    import shutil

    folder, model = gemma3
    pipe = VisionPipeline.from_preset(SPEC, folder)
    ref = model.model.multi_modal_projector
    assert torch.equal(pipe.assembler.projector.mm_input_projection_weight, ref.mm_input_projection_weight)
    assert pipe.assembler.projector.mm_soft_emb_norm.eps == ref.mm_soft_emb_norm.eps == 1e-6
    shutil.copytree(folder, tmp_path, dirs_exist_ok=True)
    config = json.loads((tmp_path / "config.json").read_text())
    config["vision_config"]["layer_norm_eps"] = 1e-3
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert VisionPipeline.from_preset(SPEC, tmp_path).assembler.projector.mm_soft_emb_norm.eps == 1e-3


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("layer_norm_eps", "x", "layer_norm_eps='x' must be a finite number"),
        ("num_hidden_layers", 0, "num_hidden_layers=0 must be an integer in 1..1000"),
        ("hidden_size", 33, "hidden_size=33 is not divisible by num_attention_heads=2"),
    ],
)
def test_bad_vision_configs_are_checkpoint_errors(gemma3, tmp_path, field, value, message):
    import json
    import shutil

    folder, _ = gemma3
    shutil.copytree(folder, tmp_path, dirs_exist_ok=True)
    config = json.loads((tmp_path / "config.json").read_text())
    config["vision_config"][field] = value
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=message.replace("(", r"\(").replace(".", r"\.")):
        VisionPipeline.from_preset(SPEC, tmp_path)


def test_cli_encode_and_encode_dataset(gemma3, tmp_path):
    check_cli_encode(PAN, gemma3[0], IMAGES[:2], tmp_path)


def test_the_folder_is_the_spec(gemma3, tmp_path):
    """A Gemma 3 folder with its image processor plans as the checkpoint says (size,
    pan-and-scan settings, mm_tokens_per_image) and encodes like the spelled-out spec."""
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    import shutil

    folder = tmp_path / "gemma3"
    shutil.copytree(gemma3[0], folder)
    Gemma3ImageProcessorPil(size={"height": 224, "width": 224}, do_pan_and_scan=True, pan_and_scan_min_crop_size=64,
                            pan_and_scan_max_num_crops=4, pan_and_scan_min_ratio_to_activate=1.2).save_pretrained(folder)
    from_folder = VisionPipeline.from_preset(str(folder), folder)
    by_name = VisionPipeline.from_preset(PAN, folder)
    for a, b in zip(from_folder(IMAGES[:2]), by_name(IMAGES[:2])):
        assert len(a.plan.views) == len(b.plan.views) == 3
        assert torch.equal(a.embeddings, b.embeddings)  # same weights, same pixels, same kernels

"""anyres.hf.AnyresImageProcessor inside transformers' own processors: same input_ids,
same pixel values, same keys as with the model's own image processor."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from transformers import LlavaNextProcessor, LlavaOnevisionProcessor, PreTrainedTokenizerFast, Qwen2VLProcessor  # noqa: E402

import anyres  # noqa: E402
from anyres.hf import AnyresImageProcessor  # noqa: E402

from .pixels.test_hf_parity import _reference, make_image  # noqa: E402
from .plan import oracles  # noqa: E402
from .tolerance import assert_close_rel  # noqa: E402

SPECIAL = ["<image>", "<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>"]


@pytest.fixture(scope="module")
def tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {w: i for i, w in enumerate(["<unk>", "<pad>", "describe", "this", "and", "that", "compare"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    t = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>")
    t.add_tokens(SPECIAL, special_tokens=True)
    return t


IMAGES = [make_image(500, 300, 1), make_image(200, 900, 2), make_image(37, 41, 3), make_image(1400, 700, 4)]


def _same(ours, ref):
    assert sorted(ours.keys()) == sorted(ref.keys())
    for key in ref:
        a, b = ours[key], ref[key]
        if isinstance(b, torch.Tensor):
            assert a.dtype == b.dtype and a.shape == b.shape, key
            if b.is_floating_point():
                assert_close_rel(a, b, ulps=8, what=key)  # normalised pixels, (x / 255 - mean) / std in float32 on both sides: a few roundings of values up to ~2.7
            else:
                assert torch.equal(a, b), key
        else:
            assert a == b, key


def _build(cls, **kwargs):
    """The processor's own __init__, without a video processor: its class check needs
    torchvision, which has no CPU wheel here (both sides are built alike)."""
    from unittest import mock

    from transformers.processing_utils import ProcessorMixin

    check = ProcessorMixin.check_argument_for_proper_class

    def lenient(self, name, arg):
        return None if arg is None else check(self, name, arg)

    with mock.patch.object(ProcessorMixin, "check_argument_for_proper_class", lenient):
        return cls(**kwargs)


def _llava(cls, ip, tokenizer, **kw):
    return _build(cls, image_processor=ip, tokenizer=tokenizer, patch_size=14, image_token="<image>", **kw)


@pytest.mark.parametrize("n_images", [1, 2, 4])
def test_llava_next_processor(tokenizer, n_images):
    kw = dict(vision_feature_select_strategy="default", num_additional_image_tokens=1)
    texts = [f"describe <image> this {'and <image> ' * (n_images - 1)}"]
    ims = IMAGES[:n_images]
    ours = _llava(LlavaNextProcessor, AnyresImageProcessor("llava-next"), tokenizer, **kw)(
        images=ims, text=texts, return_tensors="pt")
    ref = _llava(LlavaNextProcessor, _reference("llava-next"), tokenizer, **kw)(images=ims, text=texts, return_tensors="pt")
    _same(ours, ref)
    n_image_tokens = int((ours["input_ids"] == tokenizer.convert_tokens_to_ids("<image>")).sum())
    assert n_image_tokens == sum(anyres.plan(im, "llava-next").num_tokens for im in ims)


def test_llava_onevision_processor(tokenizer):
    texts = ["describe <image> this", "compare <image> and that"]
    kw = dict(vision_feature_select_strategy="full", num_image_tokens=729)
    ours = _llava(LlavaOnevisionProcessor, AnyresImageProcessor("llava-onevision"), tokenizer, **kw)(
        images=IMAGES[:2], text=texts, return_tensors="pt", padding=True)
    ref = _llava(LlavaOnevisionProcessor, _reference("llava-onevision"), tokenizer, **kw)(
        images=IMAGES[:2], text=texts, return_tensors="pt", padding=True)
    _same(ours, ref)


def _qwen(ip, tokenizer):
    return _build(Qwen2VLProcessor, image_processor=ip, tokenizer=tokenizer)


@pytest.mark.parametrize("spec,ref_kwargs", [("qwen2-vl", {}), ("qwen2-vl(max_pixels=200704)", {"max_pixels": 200704})])
def test_qwen2_vl_processor(tokenizer, spec, ref_kwargs):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    texts = ["describe <|image_pad|> this", "<|image_pad|> and <|image_pad|> that <|image_pad|>"]
    ref_ip = Qwen2VLImageProcessorPil(**ref_kwargs)
    if ref_kwargs:
        ref_ip.size = {"shortest_edge": ref_ip.size["shortest_edge"], "longest_edge": ref_kwargs["max_pixels"]}
    ours = _qwen(AnyresImageProcessor(spec), tokenizer)(images=IMAGES, text=texts, return_tensors="pt", padding=True)
    ref = _qwen(ref_ip, tokenizer)(images=IMAGES, text=texts, return_tensors="pt", padding=True)
    _same(ours, ref)


def test_per_call_parameters_override_or_are_refused():
    ip = AnyresImageProcessor("qwen2-vl")
    small = ip(IMAGES, max_pixels=56 * 56 * 4)
    ref = _reference("qwen2-vl")(IMAGES, max_pixels=56 * 56 * 4, return_tensors="np")
    assert small["image_grid_thw"].tolist() == ref["image_grid_thw"].tolist()
    assert_close_rel(small["pixel_values"], ref["pixel_values"], ulps=8, what="pixel_values")  # as in _same
    assert (small["image_grid_thw"][:, 1] * small["image_grid_thw"][:, 2] * 14 * 14 <= 56 * 56 * 4).all()
    assert ip(IMAGES[3:], do_resize=True)["image_grid_thw"].tolist() == ip(IMAGES[3:])["image_grid_thw"].tolist()
    with pytest.raises(anyres.SpecError, match="cannot honour do_resize=False"):
        ip(IMAGES[3:], do_resize=False)
    with pytest.raises(anyres.ArgumentTypeError, match="crop_pct"):  # the reference's TypeError, as a SpecError
        ip(IMAGES[3:], crop_pct=0.9)


def test_idefics3_nested_batches_match_the_reference():
    ref_ip = oracles.idefics3_image_processor()
    ours_ip = AnyresImageProcessor("idefics3")
    nested = [[IMAGES[0]], [IMAGES[1], IMAGES[2]]]
    ref = ref_ip(nested, return_tensors="np", return_row_col_info=True)
    ours = ours_ip(nested, return_tensors="np", return_row_col_info=True)
    for key in ("pixel_values", "pixel_attention_mask"):
        assert ours[key].shape == ref[key].shape, key
        assert_close_rel(ours[key], ref[key], ulps=8, what=key)  # as in _same (the mask is 0/1: exact)
    assert ours["rows"] == ref["rows"] and ours["cols"] == ref["cols"]


@pytest.mark.parametrize("preset", ["qwen2-vl", "internvl", "idefics3"])
def test_number_of_image_patches_matches_the_reference(preset):
    ref = {"qwen2-vl": lambda: _reference("qwen2-vl"), "internvl": lambda: oracles.internvl_image_processor(12),
           "idefics3": oracles.idefics3_image_processor}[preset]()
    ours = AnyresImageProcessor(preset)
    for w, h in [(1, 1), (300, 200), (1000, 600), (1240, 1754), (20, 3000), (4032, 3024)]:
        if preset == "qwen2-vl" and max(w, h) / min(w, h) > 200:
            continue
        assert ours.get_number_of_image_patches(h, w) == ref.get_number_of_image_patches(h, w, {}), (preset, w, h)


def test_save_and_load_preprocessor_config(tmp_path):
    ip = AnyresImageProcessor("internvl(max_tiles=6)", exact=False)
    ip.save_pretrained(tmp_path)
    text = (tmp_path / "preprocessor_config.json").read_text()
    assert '"preset": "internvl(max_tiles=6)"' in text and '"image_processor_type": "AnyresImageProcessor"' in text
    back = AnyresImageProcessor.from_pretrained(tmp_path)
    assert back.preset == "internvl(max_tiles=6)" and back.exact is False and back.max_patches == 6
    a, b = ip(IMAGES[:2]), back(IMAGES[:2])
    assert np.array_equal(a["pixel_values"], b["pixel_values"]) and a["num_patches"].tolist() == b["num_patches"].tolist()


def test_unknown_preset_is_refused():
    with pytest.raises(anyres.SpecError):
        AnyresImageProcessor("no-such-preset")


def test_llava_onevision_multi_image_samples_match_the_reference():
    """A sample of several images: each image one mean-padded square view (no tiling),
    batch_num_images per sample, as LlavaOnevisionImageProcessor does."""
    for nested in ([[IMAGES[0], IMAGES[1]], [IMAGES[2]]], [[IMAGES[0], IMAGES[1], IMAGES[3]]]):
        ref = _reference("llava-onevision")(nested, return_tensors="np")
        ours = AnyresImageProcessor("llava-onevision")(nested, return_tensors="np")
        assert sorted(ours.keys()) == sorted(ref.keys())
        assert ours["pixel_values"].shape == ref["pixel_values"].shape
        assert_close_rel(ours["pixel_values"], ref["pixel_values"], ulps=8, what="pixel_values")  # as in _same
        assert ours["batch_num_images"].tolist() == ref["batch_num_images"].tolist()
        assert np.array_equal(ours["image_sizes"], ref["image_sizes"])


@pytest.mark.parametrize("spec", ["llava-next+pool(2)", "internvl(max_tiles=6)+visionzip(keep=64)"])
def test_the_hf_processor_refuses_token_reducers(spec):
    """The reference image processor has no reducers: a spec with them cannot stand in for it."""
    with pytest.raises(anyres.SpecError, match=r"token reducers \(\+"):
        AnyresImageProcessor(spec)
    AnyresImageProcessor(spec.split("+")[0])  # the preset alone is served

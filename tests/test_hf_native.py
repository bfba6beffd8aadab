"""AnyresImageProcessor for the native family inside its transformers processors
(Qwen2.5-VL, Qwen3-VL, GLM-4.1V, GLM-4.6V): same input_ids and pixel values as the reference image
processor, and the image's span in input_ids (wrappers included) is len(plan.layout)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from transformers import Glm4vProcessor, Glm46VProcessor, PreTrainedTokenizerFast, Qwen2_5_VLProcessor, Qwen3VLProcessor  # noqa: E402

import anyres  # noqa: E402
from anyres.hf import AnyresImageProcessor  # noqa: E402

from .plan import native_oracles  # noqa: E402
from .test_hf import IMAGES, _build, _same  # noqa: E402

WRAPPED = {
    "qwen2.5-vl": (Qwen2_5_VLProcessor, "<|vision_start|>", "<|image_pad|>", "<|vision_end|>"),
    "qwen3-vl": (Qwen3VLProcessor, "<|vision_start|>", "<|image_pad|>", "<|vision_end|>"),
    "glm4v": (Glm4vProcessor, "<|begin_of_image|>", "<|image|>", "<|end_of_image|>"),
    "glm46v": (Glm46VProcessor, "<|begin_of_image|>", "<|image|>", "<|end_of_image|>"),
}


@pytest.fixture(scope="module")
def tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {w: i for i, w in enumerate(["<unk>", "<pad>", "describe", "this", "and", "that"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    t = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>")
    t.add_tokens(sorted({tk for _, a, b, c in WRAPPED.values() for tk in (a, b, c)} | {
        "<|video_pad|>", "<|video|>", "<|begin_of_video|>", "<|end_of_video|>"}), special_tokens=True)
    return t


@pytest.mark.parametrize("preset", sorted(WRAPPED))
def test_processor_with_anyres_image_processor(tokenizer, preset):
    cls, start, pad, end = WRAPPED[preset]
    image = f"{start}{pad}{end}"
    texts = [f"describe {image} this", f"{image} and {image} that {image}"]
    ours = _build(cls, image_processor=AnyresImageProcessor(preset), tokenizer=tokenizer)(
        images=IMAGES, text=texts, return_tensors="pt", padding=True)
    ref = _build(cls, image_processor=native_oracles.image_processor(preset), tokenizer=tokenizer)(
        images=IMAGES, text=texts, return_tensors="pt", padding=True)
    _same(ours, ref)
    # each image's span in input_ids, from its opening wrapper to its closing one, is its layout
    ids = ours["input_ids"].tolist()
    s_id, e_id = tokenizer.convert_tokens_to_ids(start), tokenizer.convert_tokens_to_ids(end)
    spans = [j - i + 1 for row in ids for i, j in zip([k for k, t in enumerate(row) if t == s_id],
                                                      [k for k, t in enumerate(row) if t == e_id])]
    assert spans == [len(anyres.plan(im, preset).layout) for im in IMAGES]


@pytest.mark.parametrize("preset", ["qwen2.5-vl", "qwen3-vl", "glm4v", "glm46v", "paddleocr-vl", "ernie4.5-vl",
                                    "videollama3"])
def test_number_of_image_patches_matches_the_reference(preset):
    ref = native_oracles.image_processor(preset)
    ours = AnyresImageProcessor(preset)
    for w, h in [(1, 1), (13, 27), (300, 200), (1000, 600), (1240, 1754), (20, 3000), (4032, 3024), (9000, 9000)]:
        assert ours.get_number_of_image_patches(h, w) == ref.get_number_of_image_patches(h, w, {}), (preset, w, h)


def test_reference_shaped_call_arguments():
    ip = AnyresImageProcessor("qwen2.5-vl")
    size = {"shortest_edge": 3136, "longest_edge": 200704}
    ours = ip(IMAGES, size=size, return_tensors="np")
    ref = native_oracles.image_processor("qwen2.5-vl", size=size)(IMAGES, return_tensors="np")
    assert ours["image_grid_thw"].tolist() == ref["image_grid_thw"].tolist()
    assert (ours["pixel_values"] == ref["pixel_values"]).all()


def test_number_of_image_patches_follows_the_processing_path_for_size():
    """The reference's count path ignores a per-call size (README: where the references
    disagree); anyres counts what its processing path produces."""
    size = {"shortest_edge": 3136, "longest_edge": 200704}
    ref = native_oracles.image_processor("qwen2.5-vl")
    processed = int(ref(IMAGES[3:], size=size, return_tensors="np")["image_grid_thw"].prod())
    assert ref.get_number_of_image_patches(700, 1400, {"size": size}) != processed  # the reference's own disagreement
    assert AnyresImageProcessor("qwen2.5-vl").get_number_of_image_patches(700, 1400, {"size": size}) == processed


@pytest.mark.parametrize("preset", ["ernie4.5-vl", "videollama3"])
def test_drop_in_outputs_and_call_arguments(preset):
    """ERNIE-4.5-VL's and VideoLLaMA3's drop-ins: the reference class, its outputs (every
    key), and a per-call size."""
    ref = native_oracles.image_processor(preset)
    ours = AnyresImageProcessor(preset)
    assert isinstance(ours, type(ref)) and ours.model_input_names == ref.model_input_names
    size = {"shortest_edge": 3136, "longest_edge": 200704}
    for kw in ({}, {"size": size}):
        a, b = ours(IMAGES, return_tensors="np", **kw), ref(IMAGES, return_tensors="np", **kw)
        assert sorted(a) == sorted(b) and a["image_grid_thw"].tolist() == b["image_grid_thw"].tolist()
        assert (a["pixel_values"] == b["pixel_values"]).all()
        if "image_merge_sizes" in b:
            assert a["image_merge_sizes"].tolist() == b["image_merge_sizes"].tolist()

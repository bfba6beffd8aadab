"""AnyresImageProcessor inside each family's transformers processor: the same
input_ids, pixel values and every other key as the reference image processor gives,
with a tokenizer built locally (a word-level vocabulary plus the family's special
tokens; no download). MiniCPM-V 4.6's processor also takes a video processor, which
needs torchvision (absent here): a stub with the two attributes its constructor reads
stands in, on both sides alike (no video is passed)."""

from __future__ import annotations

import random
import types
from unittest import mock

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import transformers  # noqa: E402

from anyres.hf import AnyresImageProcessor  # noqa: E402

from ..test_hf import _build  # noqa: E402
from .cases import make_image  # noqa: E402
from .compare import reference_for, same_output  # noqa: E402

IDEFICS_TOKENS = ["<fake_token_around_image>", "<image>", "<end_of_utterance>", "<global-img>"] + [
    f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)]
SPECIAL = sorted({"<image>", "<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>", "<img>", "</img>",
                  "<IMG_CONTEXT>", "<video>", "<start_of_image>", "<end_of_image>", "<image_soft_token>", "[IMG]",
                  "[IMG_BREAK]", "[IMG_END]", *IDEFICS_TOKENS, "<IMG_START>", "<IMG_ATOM>", "<IMG_GRID>", "<IMG_COL>",
                  "<IMG_ROW>", "<IMG_END>", "<image_placeholder>", "<begin_of_image>", "<end_of_image>", "<slice>",
                  "</slice>", "<image_id>", "</image_id>"})
NAMED = {  # attributes some processors read from their tokenizer
    "start_image_token": "<img>", "end_image_token": "</img>", "context_image_token": "<IMG_CONTEXT>",
    "video_token": "<video>", "boi_token": "<start_of_image>", "eoi_token": "<end_of_image>",
    "image_token": "<image_soft_token>",
}


@pytest.fixture(scope="module")
def tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {w: i for i, w in enumerate(["<unk>", "<pad>", "describe", "this", "and", "that", "User", ":"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    t = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>")
    t.add_tokens(SPECIAL, special_tokens=True)
    return t


def _named(tokenizer, names):
    """A copy of the tokenizer carrying the named special tokens (and their ids): ``names``
    lists keys of NAMED, or maps attribute names to tokens."""
    import copy

    t = copy.copy(tokenizer)
    tokens = names if isinstance(names, dict) else {key: NAMED[key] for key in names}
    for key, token in tokens.items():
        object.__setattr__(t, key, token)
        object.__setattr__(t, key + "_id", tokenizer.convert_tokens_to_ids(token))
    return t


def _build_with_stubs(cls, **kwargs):
    """``_build``, also letting a SimpleNamespace stand in for a processor part (the
    video processor that needs torchvision)."""
    from transformers.processing_utils import ProcessorMixin

    check = ProcessorMixin.check_argument_for_proper_class

    def lenient(self, name, arg):
        return None if isinstance(arg, types.SimpleNamespace) else check(self, name, arg)

    with mock.patch.object(ProcessorMixin, "check_argument_for_proper_class", lenient):
        return _build(cls, **kwargs)


def _images(seed: int, n: int) -> list:
    rng = random.Random(seed)
    return [make_image(rng, rng.choice(["RGB", "RGBA", "L"]), strips=False) for _ in range(n)]


WRAP = "<|vision_start|><|image_pad|><|vision_end|>"
# preset -> (processor class, its extra arguments, tokenizer names, image placeholder, small kwargs, nested images)
PROCESSORS = {
    "llava-next": ("LlavaNextProcessor", dict(patch_size=14, image_token="<image>", num_additional_image_tokens=1,
                                              vision_feature_select_strategy="default"), (), "<image>", {}, False),
    "llava-onevision": ("LlavaOnevisionProcessor", dict(image_token="<image>", num_image_tokens=729,
                                                        vision_feature_select_strategy="full"), (), "<image>", {}, False),
    "qwen2-vl": ("Qwen2VLProcessor", {}, (), WRAP, {"max_pixels": 56 * 56 * 16}, False),
    "qwen2.5-vl": ("Qwen2_5_VLProcessor", {}, (), WRAP, {"max_pixels": 56 * 56 * 16}, False),
    "qwen3-vl": ("Qwen3VLProcessor", {}, (), WRAP, {"max_pixels": 64 * 64 * 16}, False),
    "internvl": ("InternVLProcessor", {}, ("start_image_token", "end_image_token", "context_image_token", "video_token"),
                 "<IMG_CONTEXT>", {"max_patches": 3}, False),
    "idefics3": ("Idefics3Processor", {}, (), "<image>",
                 {"size": {"longest_edge": 728}, "max_image_size": {"longest_edge": 364}}, True),
    "smolvlm": ("SmolVLMProcessor", {"video_processor": None}, (), "<image>",
                {"size": {"longest_edge": 768}, "max_image_size": {"longest_edge": 384}}, True),
    "gemma3": ("Gemma3Processor", dict(image_seq_length=4), ("boi_token", "eoi_token", "image_token"),
               "<start_of_image>", {}, True),
    "pixtral": ("PixtralProcessor", dict(patch_size=16), (), "[IMG]", {"size": {"longest_edge": 256}}, False),
    "mistral3": ("PixtralProcessor", dict(patch_size=14, spatial_merge_size=2), (), "[IMG]",
                 {"size": {"longest_edge": 280}}, False),
    "ovis2": ("Ovis2Processor", {}, (), "<image>", {"crop_to_patches": True, "max_patches": 4}, False),
    "deepseek-ocr2": ("DeepseekOcr2Processor", {}, (), "<image>",
                      {"size": {"height": 256, "width": 256}, "tile_size": 128}, True),
    # DeepSeek-VL and Janus leave do_convert_rgb unset: the reference refuses L and RGBA images without it
    "deepseek-vl": ("DeepseekVLProcessor", {}, {"image_token": "<image_placeholder>"}, "<image_placeholder>",
                    {"do_convert_rgb": True}, False),
    "janus": ("JanusProcessor", {}, {"image_token": "<image_placeholder>", "boi_token": "<begin_of_image>",
                                     "eoi_token": "<end_of_image>"}, "<image_placeholder>",
              {"do_convert_rgb": True}, False),
    "hunyuan-vl": ("HunYuanVLProcessor", {}, {"image_token": "<image>", "image_start_token": "<img>",
                                              "image_end_token": "</img>"}, "<img><image></img>",
                   {"size": {"shortest_edge": 4096, "longest_edge": 32768}}, False),
    "minicpm-v-4.6": ("MiniCPMV4_6Processor", {"video_processor": types.SimpleNamespace(slice_mode=True,
                                                                                        downsample_mode="16x")},
                      {"image_token": "<image>", "video_token": "<video>", "image_start_token": "<img>",
                       "image_end_token": "</img>", "slice_start_token": "<slice>", "slice_end_token": "</slice>",
                       "image_id_start_token": "<image_id>", "image_id_end_token": "</image_id>"}, "<image>",
                      {"scale_resolution": 112, "max_slice_nums": 4}, False),
}


@pytest.mark.parametrize("preset", sorted(PROCESSORS))
def test_family_processor_gives_the_reference_output(tokenizer, preset):
    name, extra, names, placeholder, small, nested = PROCESSORS[preset]
    cls = getattr(transformers, name)
    tok = _named(tokenizer, names)
    try:
        cls.__init__  # noqa: B018
        _build_with_stubs(cls, image_processor=AnyresImageProcessor(preset), tokenizer=tok, **extra)
    except ImportError as exc:  # the class itself asks for torchvision: both sides alike
        pytest.skip(f"{name} needs a backend missing here: {str(exc).strip().splitlines()[0]}")
    ours_ip = AnyresImageProcessor(preset, **small)
    ref_ip = reference_for(ours_ip)
    images = _images(len(preset), 3)
    texts = [f"describe {placeholder} this", f"{placeholder} and {placeholder} that"]
    batch = [images[:1], images[1:]] if nested else images
    ours = _build_with_stubs(cls, image_processor=ours_ip, tokenizer=tok, **extra)(
        images=batch, text=texts, return_tensors="pt", padding=True)
    ref = _build_with_stubs(cls, image_processor=ref_ip, tokenizer=tok, **extra)(
        images=batch, text=texts, return_tensors="pt", padding=True)
    same_output(ours, ref, preset)
    counted = {"gemma3": "<image_soft_token>", "qwen2-vl": "<|image_pad|>", "qwen2.5-vl": "<|image_pad|>",
               "qwen3-vl": "<|image_pad|>", "ovis2": "<IMG_ATOM>", "hunyuan-vl": "<image>"}.get(preset, placeholder)
    placeholder_id = tok.convert_tokens_to_ids(counted)
    assert int((ours["input_ids"] == placeholder_id).sum()) > 0  # the processor did insert the image's tokens

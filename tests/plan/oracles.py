"""transformers as the oracle: its own geometry code, run on sizes without pixels.

The image processors' ``resize`` is replaced by a stub that returns zeros of the size
the processor asked for, and inputs are zero-stride arrays, so the processors' real
geometry paths (selection, resize targets, padding, cutting) run for any size up to
20000x20000 in microseconds and without memory.
"""

from __future__ import annotations

import contextlib
from unittest import mock

import numpy as np
import pytest

transformers = pytest.importorskip("transformers")

from transformers.image_processing_backends import PilBackend  # noqa: E402


def fake_image(width: int, height: int) -> np.ndarray:
    return np.broadcast_to(np.zeros((3, 1, 1), dtype=np.uint8), (3, height, width))


def _fake_resize(self, image, size, *args, **kwargs):
    return np.zeros((image.shape[0], size.height, size.width), dtype=np.uint8)


@contextlib.contextmanager
def shape_only_resize():
    with mock.patch.object(PilBackend, "resize", _fake_resize):
        yield


def _bare(cls, **attrs):
    """A processor object without a tokenizer (its counting methods need none)."""
    obj = cls.__new__(cls)
    for k, v in attrs.items():
        setattr(obj, k, v)
    return obj


# ---------------------------------------------------------------- LLaVA-NeXT / OneVision
def llava_next_processor():
    from transformers import LlavaNextProcessor
    from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

    ip = LlavaNextImageProcessorPil(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336})
    return _bare(
        LlavaNextProcessor,
        image_processor=ip,
        patch_size=14,
        num_additional_image_tokens=1,
        vision_feature_select_strategy="default",
        image_token="<image>",
    )


def llava_next_oracle(proc, width: int, height: int) -> dict:
    """Grid and views from the image processor's patching path, count from the processor."""
    ip = proc.image_processor
    with shape_only_resize():
        patches = ip.get_image_patches(
            fake_image(width, height), ip.image_grid_pinpoints, size=(336, 336), patch_size=336, resample=None
        )
    from transformers.image_processing_utils import select_best_resolution

    bh, bw = select_best_resolution((height, width), ip.image_grid_pinpoints)
    tokens = proc._get_number_of_features(height, width, 336, 336) - 1  # "default" drops CLS
    return {"views": len(patches), "grid": (bh // 336, bw // 336), "tokens": tokens}


def onevision_processor():
    from transformers import LlavaOnevisionProcessor
    from transformers.models.llava_onevision.image_processing_pil_llava_onevision import (
        LlavaOnevisionImageProcessorPil,
    )

    ip = LlavaOnevisionImageProcessorPil()
    return _bare(
        LlavaOnevisionProcessor,
        image_processor=ip,
        num_image_tokens=729,
        vision_feature_select_strategy="full",
        vision_aspect_ratio="anyres_max_9",
        image_token="<image>",
    )


def onevision_oracle(proc, width: int, height: int) -> dict:
    from transformers.image_processing_utils import select_best_resolution

    bh, bw = select_best_resolution((height, width), proc.image_processor.image_grid_pinpoints)
    tokens = proc._get_number_of_features(height, width, 384, 384)
    return {"grid": (bh // 384, bw // 384), "tokens": tokens}


def pack_features_oracle(model_cls, config, sizes_hw, views_per_image, side, **kw) -> list[int]:
    """Run the model's own ``pack_image_features`` on 1-channel random features."""
    import torch

    fake = _bare(model_cls, config=config)
    feats = [torch.zeros(n, side * side, 1) for n in views_per_image]
    image_sizes = torch.tensor(sizes_hw)
    out, lens = model_cls.pack_image_features(fake, feats, image_sizes, image_newline=torch.zeros(1), **kw)
    return [int(x) for x in lens]


# ---------------------------------------------------------------- Qwen2-VL
def qwen2_vl_oracle(width: int, height: int, **kwargs) -> dict:
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil, smart_resize

    ip = Qwen2VLImageProcessorPil(**kwargs)
    rh, rw = smart_resize(height, width, 28, ip.size["shortest_edge"], ip.size["longest_edge"])
    patches = ip.get_number_of_image_patches(height, width)
    return {"grid_thw": (1, rh // 14, rw // 14), "patches": patches, "tokens": patches // 4}


# ---------------------------------------------------------------- InternVL (GotOcr2)
def internvl_image_processor(max_patches: int = 12):
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil

    return GotOcr2ImageProcessorPil(
        crop_to_patches=True, size={"height": 448, "width": 448}, min_patches=1, max_patches=max_patches
    )


def internvl_processor():
    from transformers import InternVLProcessor

    return _bare(
        InternVLProcessor,
        image_seq_length=256,
        start_image_token="<img>",
        end_image_token="</img>",
        image_token="<IMG_CONTEXT>",
    )


def internvl_oracle(ip, proc, width: int, height: int) -> dict:
    from transformers.image_utils import SizeDict
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import get_optimal_tiled_canvas

    cols, rows = get_optimal_tiled_canvas((height, width), (448, 448), ip.min_patches, ip.max_patches)
    with shape_only_resize():
        views = ip.crop_image_to_patches(
            fake_image(width, height), ip.min_patches, ip.max_patches, patch_size=SizeDict(height=448, width=448)
        )
    n = ip.get_number_of_image_patches(height, width)
    assert n == len(views)
    text = proc.replace_image_token({"num_patches": [n]}, 0)
    return {"grid": (rows, cols), "views": n, "tokens": 256 * n, "text": text}


# ---------------------------------------------------------------- Idefics3
def idefics3_image_processor():
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    return Idefics3ImageProcessorPil()


def idefics3_processor():
    from transformers import Idefics3Processor

    return _bare(
        Idefics3Processor,
        fake_image_token="<fake_token_around_image>",
        image_token="<image>",
        global_image_tag="<global-img>",
        image_seq_len=169,
    )


def idefics3_oracle(ip, proc, width: int, height: int) -> dict:
    """The processing path (resize, resize_for_vision_encoder, split_images) that decides
    rows and cols, and the prompt string ``replace_image_token`` builds from them."""
    from transformers.image_utils import SizeDict

    with shape_only_resize():
        image = ip.resize(fake_image(width, height), size=SizeDict(longest_edge=4 * 364))
        image = ip.resize_for_vision_encoder(image, 364)
        frames, rows, cols = ip.split_images(image, max_image_size={"longest_edge": 364})
    text = proc.replace_image_token({"rows": [[rows]], "cols": [[cols]]}, 0)
    seq = 169
    merged_len = (seq + 3) + rows * ((seq + 2) * cols + 1)  # "\n\n" is one token in Idefics3's tokenizer
    count_path = ip.get_number_of_image_patches(height, width)
    return {
        "grid": (rows, cols),
        "views": len(frames),
        "tokens": seq * len(frames),
        "text": text,
        "layout_len": merged_len,
        "count_path": count_path,
        "resized": (image.shape[2], image.shape[1]),
    }

"""transformers as the oracle for the native family (Qwen2.5-VL, Qwen3-VL, GLM-4.1V,
PaddleOCR-VL): each image processor's own ``resize`` (its processing path, with the
pixel resize stubbed out), its ``get_number_of_image_patches`` (the count path) and its
processor's ``replace_image_token``."""

from __future__ import annotations

import numpy as np

from .oracles import _bare, fake_image, shape_only_resize

# the reference image processor of each preset, with the preset's defaults
QWEN3_VL_CONFIG = dict(patch_size=16, merge_size=2, size={"shortest_edge": 65536, "longest_edge": 16777216},
                       image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])


def image_processor(preset: str, **kwargs):
    from transformers.models.glm4v.image_processing_pil_glm4v import Glm4vImageProcessorPil
    from transformers.models.paddleocr_vl.image_processing_pil_paddleocr_vl import PaddleOCRVLImageProcessorPil
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    if preset == "qwen2.5-vl":  # Qwen/Qwen2.5-VL-*'s preprocessor_config.json
        defaults = {} if "size" in kwargs else {"min_pixels": 3136, "max_pixels": 12845056}
        return Qwen2VLImageProcessorPil(**{**defaults, **kwargs})
    if preset == "qwen3-vl":  # Qwen/Qwen3-VL-*'s preprocessor_config.json
        return Qwen2VLImageProcessorPil(**{**QWEN3_VL_CONFIG, **kwargs})
    if preset == "glm4v":
        return Glm4vImageProcessorPil(**kwargs)
    if preset == "glm46v":
        from transformers.models.glm46v.image_processing_pil_glm46v import Glm46VImageProcessorPil

        return Glm46VImageProcessorPil(**kwargs)
    if preset == "paddleocr-vl":
        return PaddleOCRVLImageProcessorPil(**kwargs)
    if preset == "videollama3":
        from transformers.models.video_llama_3.image_processing_pil_video_llama_3 import VideoLlama3ImageProcessorPil

        return VideoLlama3ImageProcessorPil(**kwargs)
    if preset == "ernie4.5-vl":
        from transformers.models.ernie4_5_vl_moe.image_processing_pil_ernie4_5_vl_moe import (
            Ernie4_5_VLMoeImageProcessorPil,
        )

        return Ernie4_5_VLMoeImageProcessorPil(**kwargs)
    raise KeyError(preset)


def processor(preset: str, ip):
    from transformers import Glm4vProcessor, Glm46VProcessor, PaddleOCRVLProcessor, Qwen2_5_VLProcessor
    from transformers import Qwen3VLProcessor
    from transformers.models.ernie4_5_vl_moe.processing_ernie4_5_vl_moe import Ernie4_5_VLMoeProcessor
    from transformers.models.video_llama_3.processing_video_llama_3 import VideoLlama3Processor

    cls, token = {
        "qwen2.5-vl": (Qwen2_5_VLProcessor, "<|image_pad|>"),
        "qwen3-vl": (Qwen3VLProcessor, "<|image_pad|>"),
        "glm4v": (Glm4vProcessor, "<|image|>"),
        "glm46v": (Glm46VProcessor, "<|image|>"),
        "paddleocr-vl": (PaddleOCRVLProcessor, "<|IMAGE_PLACEHOLDER|>"),
        "ernie4.5-vl": (Ernie4_5_VLMoeProcessor, "<|IMAGE_PLACEHOLDER|>"),
        "videollama3": (VideoLlama3Processor, "<|image_pad|>"),
    }[preset]
    return _bare(cls, image_processor=ip, image_token=token)


def processing_size(preset: str, ip, width: int, height: int) -> tuple[int, int]:
    """(width, height) the processing path resizes to (ValueError where it refuses)."""
    factor = ip.patch_size * ip.merge_size
    extra = {"temporal_factor": ip.temporal_patch_size} if preset in ("glm4v", "glm46v") else {}
    with shape_only_resize():
        out = ip.resize(fake_image(width, height), size=ip.size, resample=None, factor=factor, **extra)
    return out.shape[2], out.shape[1]


def native_oracle(preset: str, ip, proc, width: int, height: int) -> dict:
    w, h = processing_size(preset, ip, width, height)
    gh, gw = h // ip.patch_size, w // ip.patch_size
    count = ip.get_number_of_image_patches(height, width)
    text = proc.replace_image_token({"image_grid_thw": np.array([[1, gh, gw]])}, 0)
    return {"grid_thw": (1, gh, gw), "patches": gh * gw, "count_path": count,
            "tokens": text.count(proc.image_token), "text_len": len(text)}

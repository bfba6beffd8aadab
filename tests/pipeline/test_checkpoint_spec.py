"""A VLM folder is both the spec and the encoder: VisionPipeline.from_preset(folder,
folder) plans with the checkpoint's family and values."""

from __future__ import annotations

import shutil

import torch

from anyres.pipeline import VisionPipeline

from ..pixels.test_hf_parity import make_image
from .test_parity import IMAGES


def test_folder_as_spec_and_encoder(qwen2_vl_folder, tmp_path):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    folder = tmp_path / "qwen2_vl"
    shutil.copytree(qwen2_vl_folder[0], folder)
    Qwen2VLImageProcessorPil(max_pixels=200704).save_pretrained(folder)  # the checkpoint's own budget
    from_folder = VisionPipeline.from_preset(str(folder), folder)
    by_name = VisionPipeline.from_preset("qwen2-vl(max_pixels=200704)", qwen2_vl_folder[0])
    images = IMAGES[:2] + [make_image(2000, 1500, 5)]
    for a, b in zip(from_folder(images), by_name(images)):
        assert a.plan.spec == b.plan.spec == "qwen2-vl(max_pixels=200704)"
        assert a.plan.info["image_grid_thw"] == b.plan.info["image_grid_thw"]
        assert torch.equal(a.embeddings, b.embeddings)  # same weights, same pixels, same kernels

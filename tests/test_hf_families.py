"""AnyresImageProcessor for the families of issue 12's last batch (Ovis2, ...): the
reference's outputs and keyword arguments in the reference's names."""

from __future__ import annotations

from anyres.hf import AnyresImageProcessor

from .pixels.test_hf_parity import _compare, make_image

SIZES = [(300, 200), (50, 700), (1200, 90)]


def test_ovis2_processor_outputs_and_call_kwargs():
    from transformers.models.ovis2.image_processing_pil_ovis2 import Ovis2ImageProcessorPil

    images = [make_image(w, h, k) for k, (w, h) in enumerate(SIZES)]
    ours, ref = AnyresImageProcessor("ovis2"), Ovis2ImageProcessorPil()
    _compare(dict(ours(images, return_tensors="np")), ref(images, return_tensors="np"), "ovis2")
    out = ours(images, return_tensors="np", crop_to_patches=True, max_patches=4)
    _compare(dict(out), ref(images, return_tensors="np", crop_to_patches=True, max_patches=4), "ovis2(crop)")
    assert out["pixel_values"].shape[0] > len(images)
    assert isinstance(ours, Ovis2ImageProcessorPil)  # the drop-in: the reference's own attributes
    assert ours.model_input_names == ref.model_input_names


def test_minicpmv4_6_processor_outputs():
    from transformers.models.minicpmv4_6.image_processing_pil_minicpmv4_6 import MiniCPMV4_6ImageProcessorPil

    images = [make_image(w, h, k) for k, (w, h) in enumerate(SIZES)]
    ours, ref = AnyresImageProcessor("minicpm-v-4.6"), MiniCPMV4_6ImageProcessorPil()
    out = ours(images, return_tensors="np", max_slice_nums=4)
    want = ref(images, return_tensors="np", max_slice_nums=4)
    _compare(dict(out), want, "minicpm-v-4.6")
    assert isinstance(out["grids"], list) and out["num_patches_per_image"] == want["num_patches_per_image"]


def test_hunyuan_vl_processor_outputs_and_patch_count():
    from transformers.models.hunyuan_vl.image_processing_pil_hunyuan_vl import HunYuanVLImageProcessorPil

    images = [make_image(w, h, k) for k, (w, h) in enumerate(SIZES)]
    ours, ref = AnyresImageProcessor("hunyuan-vl"), HunYuanVLImageProcessorPil()
    kwargs = {"size": {"shortest_edge": 256 * 256, "longest_edge": 1024 * 1024}}
    _compare(dict(ours(images, return_tensors="np", **kwargs)), ref(images, return_tensors="np", **kwargs), "hunyuan")
    assert ours.get_number_of_image_patches(600, 1000) == ref.get_number_of_image_patches(600, 1000)
    assert ours.model_input_names == ["pixel_values", "image_grid_thw"]


def test_deepseek_ocr2_processor_outputs():
    from transformers.models.deepseek_ocr2.image_processing_pil_deepseek_ocr2 import DeepseekOcr2ImageProcessorPil

    images = [make_image(w, h, k) for k, (w, h) in enumerate(SIZES)]
    ours, ref = AnyresImageProcessor("deepseek-ocr2"), DeepseekOcr2ImageProcessorPil()
    out = ours(images, return_tensors="np", max_patches=3)
    _compare(dict(out), ref(images, return_tensors="np", max_patches=3), "deepseek-ocr2")
    assert out["pixel_values_local"].shape[0] == 3  # only the 1200x90 image has tiles (a side above 768)


def test_janus_processor_outputs():
    from transformers.models.janus.image_processing_pil_janus import JanusImageProcessorPil

    images = [make_image(w, h, k) for k, (w, h) in enumerate(SIZES)]
    ours, ref = AnyresImageProcessor("janus"), JanusImageProcessorPil()
    _compare(dict(ours(images, return_tensors="np")), ref(images, return_tensors="np"), "janus")
    assert ours.model_input_names == ["pixel_values"]


def test_deepseek_vl_hybrid_processor_outputs():
    from transformers.models.deepseek_vl_hybrid.image_processing_pil_deepseek_vl_hybrid import (
        DeepseekVLHybridImageProcessorPil,
    )

    images = [make_image(w, h, k) for k, (w, h) in enumerate(SIZES)]
    ours, ref = AnyresImageProcessor("deepseek-vl-hybrid"), DeepseekVLHybridImageProcessorPil()
    assert isinstance(ours, DeepseekVLHybridImageProcessorPil)
    _compare(dict(ours(images, return_tensors="np")), ref(images, return_tensors="np"), "deepseek-vl-hybrid")
    assert ours.model_input_names == ["pixel_values", "high_res_pixel_values"]
    small = {"height": 768, "width": 768}
    out = ours(images[:2], return_tensors="np", high_res_size=small)
    _compare(dict(out), ref(images[:2], return_tensors="np", high_res_size=small), "deepseek-vl-hybrid 768")

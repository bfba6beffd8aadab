"""AnyresImageProcessor for idefics2, smolvlm, siglip2 and aria: the reference's outputs, nested
batches and keyword arguments in the reference's names and shapes (size={...})."""

from __future__ import annotations

import numpy as np
import pytest

from anyres import SpecError
from anyres.hf import AnyresImageProcessor

from .pixels.test_hf_parity import _compare, make_image

SIZES = [(300, 200), (50, 700), (1200, 90)]


@pytest.mark.parametrize("kwargs", [{}, {"do_image_splitting": True}, {"size": {"shortest_edge": 224, "longest_edge": 448}}])
def test_idefics2_flat_and_nested_batches(kwargs):
    from transformers.models.idefics2.image_processing_pil_idefics2 import Idefics2ImageProcessorPil

    images = [make_image(w, h, k) for k, (w, h) in enumerate(SIZES)]
    ours, ref = AnyresImageProcessor("idefics2"), Idefics2ImageProcessorPil()
    for batch in (images, [images[:1], images[1:]]):  # nested: one sample each, padded over samples
        _compare(dict(ours(batch, return_tensors="np", **kwargs)), ref(batch, return_tensors="np", **kwargs), "idefics2")


def test_siglip2_call_kwargs_and_patch_count():
    from transformers.models.siglip2.image_processing_pil_siglip2 import Siglip2ImageProcessorPil

    images = [make_image(w, h, k) for k, (w, h) in enumerate(SIZES)]
    ours, ref = AnyresImageProcessor("siglip2"), Siglip2ImageProcessorPil()
    out = ours(images, return_tensors="np", max_num_patches=400)
    _compare(dict(out), ref(images, return_tensors="np", max_num_patches=400), "siglip2")
    assert out["pixel_values"].shape == (3, 400, 768)
    assert ours.get_number_of_image_patches(600, 1000) == 240  # 12 x 20 valid patches of 256
    assert ours.model_input_names == ["pixel_values", "pixel_attention_mask", "spatial_shapes"]


def test_smolvlm_reference_shaped_call_kwargs():
    from transformers.models.smolvlm.image_processing_pil_smolvlm import SmolVLMImageProcessorPil

    images = [make_image(90, 60, 0)]
    kw = {"size": {"longest_edge": 768}, "max_image_size": {"longest_edge": 384}}
    out = AnyresImageProcessor("smolvlm")(images, return_tensors="np", **kw)
    ref = SmolVLMImageProcessorPil()(images, return_tensors="np", **kw)
    _compare(dict(out), ref, "smolvlm")
    with pytest.raises(SpecError, match="refuses these arguments as SmolVLMImageProcessorPil does"):
        AnyresImageProcessor("smolvlm")(images, size={"height": 3})
    assert np.asarray(out["pixel_values"]).shape[1] == 5  # 768x512 -> 2x2 tiles of 384 + the global view


def test_aria_processor_outputs():
    from transformers.models.aria.image_processing_pil_aria import AriaImageProcessorPil

    images = [make_image(w, h, k) for k, (w, h) in enumerate(SIZES)]
    ours = AnyresImageProcessor("aria")
    _compare(dict(ours(images, return_tensors="np")), AriaImageProcessorPil()(images, return_tensors="np"), "aria")
    assert ours.model_input_names == ["pixel_values", "pixel_mask", "num_crops"]

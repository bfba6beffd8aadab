"""AnyresImageProcessor for gemma3, pixtral, mistral3 and mllama, called as their
transformers processors call their image processors, equals those image processors."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("transformers")

from anyres.hf import AnyresImageProcessor  # noqa: E402

from .pixels.test_hf_parity import make_image  # noqa: E402

IMAGES = [make_image(500, 300, 1), make_image(200, 900, 2), make_image(37, 41, 3), make_image(1400, 700, 4)]


def _same(ours, ref) -> None:
    assert sorted(ours.keys()) == sorted(ref.keys())
    for key in ref:
        a, b = ours[key], ref[key]
        if isinstance(b, np.ndarray):
            assert a.shape == b.shape and a.dtype == b.dtype, key
            assert np.array_equal(a, b), key  # exact: the pixel parity tests measure a difference of 0
        else:
            assert a == b, key


def test_gemma3_as_gemma3processor_calls_it():
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil
    from transformers.models.gemma3.processing_gemma3 import Gemma3Processor

    kw = dict(Gemma3Processor.images_kwargs)  # what Gemma3Processor passes (pan-and-scan off by default)
    ours, ref = AnyresImageProcessor("gemma3"), Gemma3ImageProcessorPil(size={"height": 896, "width": 896})
    _same(ours(IMAGES, return_tensors="np", **kw), ref(IMAGES, return_tensors="np", **kw))
    kw["do_pan_and_scan"] = True
    _same(ours(IMAGES, return_tensors="np", **kw), ref(IMAGES, return_tensors="np", **kw))
    assert ours.model_input_names == ["pixel_values", "num_crops"] and ours.size == {"height": 896, "width": 896}


@pytest.mark.parametrize("preset, longest, unit", [("pixtral", 1024, 16), ("mistral3", 1540, 28)])
def test_pixtral_as_pixtralprocessor_calls_it(preset, longest, unit):
    from transformers.models.pixtral.image_processing_pil_pixtral import PixtralImageProcessorPil

    ours, ref = AnyresImageProcessor(preset), PixtralImageProcessorPil(size={"longest_edge": longest})
    # PixtralProcessor._process_images passes patch_size * spatial_merge_size
    _same(ours(IMAGES, return_tensors="np", patch_size=unit), ref(IMAGES, return_tensors="np", patch_size=unit))
    assert ours.patch_size == {"height": unit, "width": unit}


def test_mllama_as_mllamaprocessor_calls_it():
    from transformers.models.mllama.image_processing_pil_mllama import MllamaImageProcessorPil

    ours = AnyresImageProcessor("mllama")
    ref = MllamaImageProcessorPil(size={"height": 560, "width": 560}, image_mean=ours.image_mean,
                                  image_std=ours.image_std)
    out = ref(IMAGES, return_tensors="np")
    _same(ours(IMAGES, return_tensors="np"), out)
    # MllamaImageProcessor has no get_number_of_image_patches: ours gives each image's tile count
    assert [ours.get_number_of_image_patches(im.height, im.width) for im in IMAGES] == out["num_tiles"][0] == [1, 2, 1, 2]

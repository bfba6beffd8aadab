"""output="hf" for gemma3 (with pan-and-scan), pixtral and mistral3 equals the
transformers PIL image processors, called as their processors call them."""

from __future__ import annotations

import numpy as np
import pytest

from anyres.pixels import preprocess

from .test_hf_parity import _sizes, make_image

N_IMAGES = 32


def _images(preset: str, long_ones: bool = False) -> list:
    sizes = _sizes(sum(map(ord, preset)))[:N_IMAGES]
    if long_ones:  # pan-and-scan activates only on long images: add strips of every crop count
        sizes += [(1200, 400), (400, 1300), (2100, 500), (300, 1100), (801, 257), (257, 801), (1025, 255)]
    return [make_image(w, h, k) for k, (w, h) in enumerate(sizes)]


def _assert_equal(ours: dict, ref, what: str) -> float:
    """Same keys, shapes, dtypes; integers equal; floats: the largest difference."""
    worst = 0.0
    for key, want in dict(ref).items():
        got, want = np.asarray(ours[key]), np.asarray(want)
        assert got.shape == want.shape and got.dtype == want.dtype, (what, key, got.shape, want.shape)
        if np.issubdtype(want.dtype, np.integer):
            assert np.array_equal(got, want), (what, key)
        else:
            worst = max(worst, float(np.abs(got - want).max()))
    return worst


@pytest.mark.parametrize("pan_and_scan", [False, True])
def test_gemma3_hf_output_matches_transformers(pan_and_scan):
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    # google/gemma-3-*-it preprocessor_config: 896x896; pan-and-scan values from Gemma3Processor's defaults
    ref_proc = Gemma3ImageProcessorPil(size={"height": 896, "width": 896})
    kw = dict(do_pan_and_scan=pan_and_scan, pan_and_scan_min_crop_size=256, pan_and_scan_max_num_crops=4,
              pan_and_scan_min_ratio_to_activate=1.2)
    images = _images("gemma3", long_ones=pan_and_scan)
    spec = f"gemma3(do_pan_and_scan={pan_and_scan})"
    worst, crops = 0.0, 0
    for start in range(0, len(images), 4):
        chunk = images[start : start + 4]
        ref = ref_proc(chunk, return_tensors="np", **kw)
        worst = max(worst, _assert_equal(preprocess(chunk, spec, output="hf"), ref, spec))
        crops += int(np.asarray(ref["num_crops"]).sum())
    assert worst == 0.0, worst
    assert (crops > 10) == pan_and_scan


@pytest.mark.parametrize("preset, size, unit", [("pixtral", 1024, 16), ("mistral3", 1540, 28)])
def test_pixtral_hf_output_matches_transformers(preset, size, unit):
    from transformers.models.pixtral.image_processing_pil_pixtral import PixtralImageProcessorPil

    # PixtralProcessor passes patch_size * spatial_merge_size to its image processor
    ref_proc = PixtralImageProcessorPil(size={"longest_edge": size})
    images = _images(preset)
    worst = 0.0
    for start in range(0, len(images), 4):
        chunk = images[start : start + 4]
        ref = ref_proc(chunk, return_tensors="np", patch_size=unit)
        worst = max(worst, _assert_equal(preprocess(chunk, preset, output="hf"), ref, preset))
    assert worst == 0.0, worst


def test_mllama_hf_output_matches_transformers():
    from transformers.models.mllama.image_processing_pil_mllama import MllamaImageProcessorPil

    import anyres

    px = anyres.get_preset("mllama").pixels  # meta-llama/Llama-3.2-11B-Vision preprocessor_config: CLIP mean/std
    ref_proc = MllamaImageProcessorPil(size={"height": 560, "width": 560}, max_image_tiles=4,
                                       image_mean=list(px.mean), image_std=list(px.std))
    images = _images("mllama")
    worst = 0.0
    for start in range(0, len(images), 4):
        chunk = images[start : start + 4]
        ref = ref_proc(chunk, return_tensors="np")
        ours = preprocess(chunk, "mllama", output="hf")
        assert ours["num_tiles"] == ref["num_tiles"]
        worst = max(worst, _assert_equal(ours, {k: v for k, v in ref.items() if k != "num_tiles"}, "mllama"))
    assert worst == 0.0, worst


def test_gemma4_hf_output_matches_transformers():
    from transformers.models.gemma4.image_processing_pil_gemma4 import Gemma4ImageProcessorPil

    ref_proc = Gemma4ImageProcessorPil()
    images = _images("gemma4")
    worst = 0.0
    for start in range(0, len(images), 4):
        chunk = images[start : start + 4]
        worst = max(worst, _assert_equal(preprocess(chunk, "gemma4", output="hf"), ref_proc(chunk, return_tensors="np"),
                                         "gemma4"))
    assert worst == 0.0, worst

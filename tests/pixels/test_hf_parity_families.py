"""output="hf" equals the transformers PIL processors for Ovis2 and MiniCPM-V 4.6 (keys,
shapes, dtypes, values within the float32 roundings _compare allows); ``_reference`` and
``check_preset`` also serve HunYuan-VL, DeepSeek-OCR 2, DeepSeek-VL and Janus
(test_hf_parity_deepseek_hunyuan.py) and benchmarks/bench_preprocess.py."""

from __future__ import annotations

import pytest

from anyres.pixels import preprocess

from .test_hf_parity import _compare, make_image
from .test_hf_parity_idefics_siglip import N_IMAGES, _sizes


def _reference(preset: str):
    if preset.startswith("ovis2"):
        from transformers.models.ovis2.image_processing_pil_ovis2 import Ovis2ImageProcessorPil

        return Ovis2ImageProcessorPil(crop_to_patches="crop_to_patches=True" in preset)
    if preset.startswith("minicpm-v-4.6"):
        from transformers.models.minicpmv4_6.image_processing_pil_minicpmv4_6 import MiniCPMV4_6ImageProcessorPil

        return MiniCPMV4_6ImageProcessorPil(downsample_mode="4x" if "4x" in preset else "16x")
    if preset == "hunyuan-vl":
        from transformers.models.hunyuan_vl.image_processing_pil_hunyuan_vl import HunYuanVLImageProcessorPil

        return HunYuanVLImageProcessorPil()
    if preset == "deepseek-ocr2":
        from transformers.models.deepseek_ocr2.image_processing_pil_deepseek_ocr2 import (
            DeepseekOcr2ImageProcessorPil,
        )

        return DeepseekOcr2ImageProcessorPil()
    if preset == "deepseek-vl":
        from transformers.models.deepseek_vl.image_processing_pil_deepseek_vl import DeepseekVLImageProcessorPil

        return DeepseekVLImageProcessorPil()
    if preset == "deepseek-vl-hybrid":
        from transformers.models.deepseek_vl_hybrid.image_processing_pil_deepseek_vl_hybrid import (
            DeepseekVLHybridImageProcessorPil,
        )

        return DeepseekVLHybridImageProcessorPil()
    if preset == "janus":
        from transformers.models.janus.image_processing_pil_janus import JanusImageProcessorPil

        return JanusImageProcessorPil()
    raise KeyError(preset)


@pytest.mark.parametrize("preset,batch,top", [
    ("ovis2", 4, 3.0),
    ("ovis2(crop_to_patches=True)", 2, 2.6),  # up to 13 views of 384 an image: smaller images keep it fast
    ("minicpm-v-4.6", 3, 3.0),
    ('minicpm-v-4.6(downsample_mode="4x")', 2, 2.8),
])
def test_hf_output_matches_transformers(preset, batch, top):
    check_preset(preset, batch, top)


def check_preset(preset: str, batch: int, top: float) -> None:
    ref_proc = _reference(preset)
    sizes = _sizes(sum(map(ord, preset)), top=top)
    if preset == "deepseek-ocr2":  # a side that scales to 0 px is refused (see the plan tests)
        sizes = [(w, h) for w, h in sizes if round(1024 * min(w, h) / max(w, h)) >= 1]
    assert len(sizes) >= N_IMAGES
    for start in range(0, len(sizes), batch):
        chunk = sizes[start : start + batch]
        images = [make_image(w, h, start + k) for k, (w, h) in enumerate(chunk)]
        ref = ref_proc(images, return_tensors="np")
        ours = preprocess(images, preset, output="hf")
        _compare(ours, ref, preset)

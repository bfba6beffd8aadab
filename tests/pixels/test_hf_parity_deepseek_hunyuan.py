"""output="hf" equals the transformers PIL processors for HunYuan-VL, DeepSeek-OCR 2,
DeepSeek-VL, its hybrid and Janus (keys, shapes, dtypes, values within the float32 roundings _compare
allows), on 30 images each: odd sizes, extreme aspect ratios, images smaller than a patch."""

from __future__ import annotations

import pytest

from .test_hf_parity_families import check_preset


@pytest.mark.parametrize("preset,batch,top", [
    ("hunyuan-vl", 3, 3.0),  # every image at least 512^2 px
    ("deepseek-ocr2", 2, 2.95),  # a 1024^2 global view each, tiles above 768 px
    ("deepseek-vl", 4, 3.0),
    ("janus", 4, 3.0),
    ("deepseek-vl-hybrid", 3, 2.8),  # both keys: pixel_values (384) and high_res_pixel_values (1024)
])
def test_hf_output_matches_transformers(preset, batch, top):
    check_preset(preset, batch, top)

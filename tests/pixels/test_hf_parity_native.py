"""output="hf" of the native family equals its transformers PIL image processor (max
difference 0 on pixel_values and image_grid_thw), and a size the reference refuses is
refused."""

from __future__ import annotations

import numpy as np
import pytest

from anyres import PlanError
from anyres.pixels import preprocess

from ..plan import native_oracles
from .test_hf_parity import N_IMAGES, _sizes, make_image

PRESETS = ["qwen2.5-vl", "qwen3-vl", "glm4v", "glm46v", "paddleocr-vl", "ernie4.5-vl", "videollama3"]


def _exact(ours: dict, ref, preset: str) -> None:
    ref = dict(ref)
    assert set(ours) == set(ref), (preset, sorted(ours), sorted(ref))
    for key, want in ref.items():
        got, want = np.asarray(ours[key]), np.asarray(want)
        assert got.shape == want.shape and got.dtype == want.dtype, (preset, key, got.shape, want.shape, got.dtype)
        assert np.array_equal(got, want), (preset, key, float(np.abs(got - want).max()))


@pytest.mark.parametrize("preset", PRESETS)
def test_hf_output_equals_transformers(preset):
    ref_proc = native_oracles.image_processor(preset)
    # odd sizes, smaller than one patch, extreme aspect ratios (kept within the reference's 200)
    sizes = [(w, h) if max(w, h) <= 150 * min(w, h) else (max(w, h) // 150 + 1, max(w, h)) for w, h in
             _sizes(sum(map(ord, preset)))] + [(3, 400), (400, 3), (1, 27), (29, 29)]
    assert len(sizes) >= N_IMAGES
    for start in range(0, len(sizes), 4):
        images = [make_image(w, h, start + k) for k, (w, h) in enumerate(sizes[start : start + 4])]
        _exact(preprocess(images, preset, output="hf"), ref_proc(images, return_tensors="np"), preset)


@pytest.mark.parametrize("preset", PRESETS)
def test_refused_sizes_raise_plan_error(preset):
    image = make_image(2, 900, 0)
    with pytest.raises(ValueError):
        native_oracles.image_processor(preset)([image], return_tensors="np")
    with pytest.raises(PlanError, match="aspect ratio"):
        preprocess([image], preset, output="hf")

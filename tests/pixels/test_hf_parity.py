"""output="hf" equals the transformers PIL processors value for value."""

from __future__ import annotations

import random

import numpy as np
import pytest

import anyres
from anyres.pixels import preprocess

from ..plan import oracles
from ..tolerance import assert_close_rel

N_IMAGES = 50


def _sizes(seed: int) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    fixed = [(1, 1), (13, 7), (1, 300), (300, 1), (335, 337), (448, 448), (1001, 333), (27, 1500), (1500, 40), (2, 900)]
    out = list(fixed)
    while len(out) < N_IMAGES:
        w = int(10 ** rng.uniform(0.5, 3.2))
        h = int(10 ** rng.uniform(0.5, 3.2))
        out.append((max(1, w), max(1, h)))
    return out


def make_image(w: int, h: int, seed: int):
    """Noise on a gradient: every resize filter tap matters."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([(xx * 255 // max(1, w - 1)), (yy * 255 // max(1, h - 1)), ((xx + yy) * 3) % 256], -1)
    noise = rng.integers(-40, 40, size=(h, w, 3))
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8), "RGB")


def _compare(ours: dict, ref, preset: str) -> None:
    ref = dict(ref)
    assert set(ours) >= set(ref), (preset, sorted(ours), sorted(ref))
    for key, want in ref.items():
        got = ours[key]
        want = np.asarray(want)
        got = np.asarray(got)
        assert got.shape == want.shape, (preset, key, got.shape, want.shape)
        assert got.dtype == want.dtype, (preset, key, got.dtype, want.dtype)
        if np.issubdtype(want.dtype, np.integer):
            assert np.array_equal(got, want), (preset, key)
        else:
            # normalised pixels, (x / 255 - mean) / std in float32 on both sides: a few roundings of values up to ~2.7
            assert_close_rel(got, want, ulps=8, what=f"{preset} {key}")


def _reference(preset: str):
    from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil
    from transformers.models.llava_onevision.image_processing_pil_llava_onevision import (
        LlavaOnevisionImageProcessorPil,
    )
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    px = anyres.get_preset(preset).pixels
    if preset == "llava-next":  # llava-hf/llava-v1.6 preprocessor_config
        return LlavaNextImageProcessorPil(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336})
    if preset == "llava-onevision":  # llava-hf/llava-onevision: SigLIP normalisation
        return LlavaOnevisionImageProcessorPil(image_mean=list(px.mean), image_std=list(px.std))
    if preset == "qwen2-vl":
        return Qwen2VLImageProcessorPil()
    if preset == "internvl":  # OpenGVLab/InternVL3-hf: ImageNet normalisation
        ip = oracles.internvl_image_processor()
        ip.image_mean, ip.image_std = list(px.mean), list(px.std)
        return ip
    if preset == "idefics3":
        return oracles.idefics3_image_processor()
    raise KeyError(preset)


@pytest.mark.parametrize("preset", ["llava-next", "llava-onevision", "qwen2-vl", "internvl", "idefics3"])
def test_hf_output_matches_transformers(preset):
    ref_proc = _reference(preset)
    sizes = _sizes(sum(map(ord, preset)))
    if preset == "qwen2-vl":  # the reference refuses aspect ratios above 200 (as anyres does)
        sizes = [(w, h) if max(w, h) <= 200 * min(w, h) else (max(w, h) // 150, max(w, h)) for w, h in sizes]
    assert len(sizes) >= N_IMAGES
    batch = 4 if preset != "idefics3" else 1
    for start in range(0, len(sizes), batch):
        chunk = sizes[start : start + batch]
        images = [make_image(w, h, start + k) for k, (w, h) in enumerate(chunk)]
        kwargs = {"return_row_col_info": True} if preset == "idefics3" else {}
        ref = ref_proc(images, return_tensors="np", **kwargs)
        ours = preprocess(images, preset, output="hf")
        _compare(ours, ref, preset)


def test_hf_output_torch_tensors():
    torch = pytest.importorskip("torch")
    images = [make_image(500, 300, 1), make_image(200, 700, 2)]
    out = preprocess(images, "llava-next", output="hf", return_tensors="pt")
    ref = _reference("llava-next")(images, return_tensors="pt")
    assert isinstance(out["pixel_values"], torch.Tensor)
    assert torch.equal(out["image_sizes"], ref["image_sizes"])
    assert_close_rel(out["pixel_values"], ref["pixel_values"], ulps=8, what="pixel_values")  # as in _compare

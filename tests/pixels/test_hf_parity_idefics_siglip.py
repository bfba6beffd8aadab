"""output="hf" equals the transformers PIL processors for SmolVLM, Idefics2, SigLIP2, Aria and
InternVL3.5 (keys, shapes, dtypes; values within the float32 roundings _compare allows)."""

from __future__ import annotations

import random

import pytest

import anyres
from anyres.pixels import preprocess

from ..plan import oracles
from .test_hf_parity import _compare, make_image

N_IMAGES = 30


def _sizes(seed: int, n: int = N_IMAGES, top: float = 3.0) -> list[tuple[int, int]]:
    """Odd sizes, extreme aspect ratios and images smaller than one patch, then random."""
    rng = random.Random(seed)
    out = [(1, 1), (13, 7), (2, 2), (3, 500), (500, 3), (335, 337), (1001, 333), (27, 1500), (1500, 40), (9, 2)]
    while len(out) < n:
        out.append((max(1, int(10 ** rng.uniform(0.5, top))), max(1, int(10 ** rng.uniform(0.5, top)))))
    return out


def _reference(preset: str):
    if preset.startswith("smolvlm"):
        from transformers.models.smolvlm.image_processing_pil_smolvlm import SmolVLMImageProcessorPil

        return SmolVLMImageProcessorPil()
    if preset.startswith("idefics2"):
        from transformers.models.idefics2.image_processing_pil_idefics2 import Idefics2ImageProcessorPil

        return Idefics2ImageProcessorPil(do_image_splitting="True" in preset)
    if preset == "siglip2":
        from transformers.models.siglip2.image_processing_pil_siglip2 import Siglip2ImageProcessorPil

        return Siglip2ImageProcessorPil()
    if preset.startswith("aria"):
        from transformers.models.aria.image_processing_pil_aria import AriaImageProcessorPil

        return AriaImageProcessorPil(split_image="split_image=True" in preset,
                                     max_image_size=490 if "490" in preset else 980)
    if preset == "internvl3.5":  # the -HF checkpoints: 448 tiles, ImageNet normalisation
        ip = oracles.internvl_image_processor()
        px = anyres.get_preset(preset).pixels
        ip.image_mean, ip.image_std = list(px.mean), list(px.std)
        return ip
    raise KeyError(preset)


@pytest.mark.parametrize(
    "preset,batch", [("smolvlm", 1), ("idefics2", 3), ("idefics2(do_image_splitting=True)", 1), ("siglip2", 4),
                     ("internvl3.5", 2), ("aria", 3), ("aria(split_image=True, max_image_size=490)", 3)],
)
def test_hf_output_matches_transformers(preset, batch):
    ref_proc = _reference(preset)
    # smolvlm and internvl3.5 share their builders with idefics3 and internvl (tested on 50 larger
    # images in test_hf_parity.py): smaller images keep this file fast
    sizes = _sizes(sum(map(ord, preset)), top=2.6 if preset in ("smolvlm", "internvl3.5") else 3.0)
    if "do_image_splitting=True" in preset:  # a 1-px side cannot be cut in quarters (PlanError, see the plan tests)
        sizes = [(max(2, w), max(2, h)) for w, h in sizes]
    assert len(sizes) >= N_IMAGES
    for start in range(0, len(sizes), batch):
        chunk = sizes[start : start + batch]
        images = [make_image(w, h, start + k) for k, (w, h) in enumerate(chunk)]
        kwargs = {"return_row_col_info": True} if preset == "smolvlm" else {}
        ref = ref_proc(images, return_tensors="np", **kwargs)
        ours = preprocess(images, preset, output="hf")
        _compare(ours, ref, preset)


def test_siglip2_larger_budget_and_patch():
    """max_num_patches and patch_size overrides reach the output's padding and rows."""
    from transformers.models.siglip2.image_processing_pil_siglip2 import Siglip2ImageProcessorPil

    ref_proc = Siglip2ImageProcessorPil(max_num_patches=1024, patch_size=14)
    images = [make_image(w, h, k) for k, (w, h) in enumerate([(640, 480), (5, 3000), (1, 1)])]
    ours = preprocess(images, "siglip2(max_num_patches=1024, patch_size=14)", output="hf")
    _compare(ours, ref_proc(images, return_tensors="np"), "siglip2(1024, 14)")
    assert ours["pixel_values"].shape == (3, 1024, 14 * 14 * 3)


def test_aria_split_980_matches_transformers():
    """split_image=True at 980: crops of 490-multiples, some partial and upscaled 2x with the
    centre padding inside them (a 490 x 490 crop of a 1470 x 490 resolution)."""
    from transformers.models.aria.image_processing_pil_aria import AriaImageProcessorPil

    ref_proc = AriaImageProcessorPil(split_image=True)
    sizes = [(40, 30), (1000, 300), (300, 1470), (1, 1), (700, 3), (600, 1800), (3000, 1000)]
    for k in range(0, len(sizes), 2):
        images = [make_image(w, h, k + i) for i, (w, h) in enumerate(sizes[k:k + 2])]
        _compare(preprocess(images, "aria(split_image=True)", output="hf"), ref_proc(images, return_tensors="np"),
                 "aria(split_image=True)")

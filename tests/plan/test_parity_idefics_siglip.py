"""SmolVLM2, Idefics2, SigLIP2 NaFlex and InternVL3.5 against transformers 5.23 on >= 2,000
sizes a preset (geometry only: the reference's own size helpers on zero-stride arrays)."""

from __future__ import annotations

import pytest

import anyres
from anyres import PlanError, SpecError

from . import oracles
from .oracles import fake_image, shape_only_resize
from .sizes import sample_sizes

SIZES = sample_sizes(2000)

# HuggingFaceTB/SmolVLM2-2.2B-Instruct's preprocessor_config.json and processor (patch 14, shuffle 3)
SMOLVLM2_2B = 'smolvlm(size={"longest_edge": 1536}, max_image_size={"longest_edge": 384}, image_seq_len=81)'


def _no_mismatch(bad: list, preset: str) -> None:
    assert not bad, f"{preset}: {len(bad)} mismatches, first: {bad[:5]}"


# ---------------------------------------------------------------- SmolVLM(2)
def smolvlm_oracle(ip, width: int, height: int, longest: int, tile: int, seq: int) -> dict:
    from transformers.image_utils import SizeDict
    from transformers.models.smolvlm.processing_smolvlm import get_image_prompt_string

    with shape_only_resize():
        image = ip.resize(fake_image(width, height), size=SizeDict(longest_edge=longest))
        image = ip.resize_for_vision_encoder(image, tile)
        frames, rows, cols = ip.split_images(image, max_image_size={"longest_edge": tile})
    text = get_image_prompt_string(rows, cols, seq, "<fake_token_around_image>", "<image>", "<global-img>")
    return {"grid": (rows, cols), "views": len(frames), "tokens": seq * len(frames), "text": text,
            "layout_len": (seq + 3) + rows * ((seq + 2) * cols + 1)}  # "\n\n" one token, as Idefics3


@pytest.mark.parametrize("spec,longest,tile,seq,n", [("smolvlm", 1456, 364, 169, 2000), (SMOLVLM2_2B, 1536, 384, 81, 500)])
def test_smolvlm_matches_processor_and_prompt(spec, longest, tile, seq, n):
    from transformers.models.smolvlm.image_processing_pil_smolvlm import SmolVLMImageProcessorPil

    ip = SmolVLMImageProcessorPil()
    bad = []
    for w, h in SIZES[:n]:
        ref = smolvlm_oracle(ip, w, h, longest, tile, seq)
        p = anyres.plan((w, h), spec)
        got = (p.grid or (0, 0), len(p.views), p.num_tokens, p.layout.text(), len(p.layout))
        if got != (ref["grid"], ref["views"], ref["tokens"], ref["text"], ref["layout_len"]):
            bad.append(((w, h), got[:3], (ref["grid"], ref["views"], ref["tokens"])))
    _no_mismatch(bad, spec)
    assert len(SIZES[:n]) >= min(n, 2000)


def test_smolvlm_reference_shaped_overrides():
    p = anyres.plan((1000, 600), SMOLVLM2_2B)
    assert (p.params["longest_edge"], p.params["tile_size"], p.params["scale_factor"]) == (1536, 384, 3)
    q = anyres.plan((1000, 600), "smolvlm", size={"longest_edge": 1536}, max_image_size={"longest_edge": 384},
                    scale_factor=3)
    assert q.num_tokens == p.num_tokens and q.grid == p.grid
    with pytest.raises(SpecError, match="longest_edge"):
        anyres.plan((10, 10), 'smolvlm(size={"height": 3, "width": 3})')
    with pytest.raises(SpecError, match="image_seq_len=70"):
        anyres.plan((10, 10), "smolvlm(image_seq_len=70)")


# ---------------------------------------------------------------- Idefics2
def idefics2_oracle(ip, width: int, height: int, split: bool, seq: int = 64) -> dict:
    """Views from the reference's own split and resize-size helpers; the prompt string
    built as Idefics2Processor.__call__ does (per image fake + seq x image + fake, five
    times when splitting, doubled fakes collapsed)."""
    from transformers.image_utils import SizeDict
    from transformers.models.idefics2.image_processing_pil_idefics2 import get_resize_output_image_size

    image = fake_image(width, height)
    crops = ip.split_images(image) if split else [image]
    size = SizeDict(shortest_edge=378, longest_edge=980)
    sizes = [get_resize_output_image_size(c, size) for c in crops]  # (height, width)
    fake, tok = "<fake_token_around_image>", "<image>"
    text = (f"{fake}{tok * seq}{fake}" * (5 if split else 1)).replace(fake + fake, fake)
    return {"sizes": [(w, h) for h, w in sizes], "tokens": seq * len(crops), "text": text}


@pytest.mark.parametrize("split", [False, True])
def test_idefics2_matches_processor(split):
    from transformers.models.idefics2.image_processing_pil_idefics2 import Idefics2ImageProcessorPil

    ip = Idefics2ImageProcessorPil()
    spec = f"idefics2(do_image_splitting={split})"
    bad, refused = [], 0
    for w, h in SIZES:
        try:
            if split and w < 2:  # the reference cuts empty left quarters and stretches them to black views
                raise ZeroDivisionError
            ref = idefics2_oracle(ip, w, h, split)
        except ZeroDivisionError:  # height below 2 cut in half: the reference divides by zero
            refused += 1
            with pytest.raises(PlanError, match="quarters"):
                anyres.plan((w, h), spec)
            continue
        p = anyres.plan((w, h), spec)
        got = ([tuple(v.size) for v in p.views], p.num_tokens, p.layout.text())
        if got != (ref["sizes"], ref["tokens"], ref["text"]) or len(p.layout) != ref["tokens"] + len(p.views) + 1:
            bad.append(((w, h), got[:2], (ref["sizes"], ref["tokens"])))
    _no_mismatch(bad, spec)
    assert (refused > 0) == split  # the 1-px edge sizes were exercised


def test_idefics2_reference_shaped_size():
    p = anyres.plan((3000, 1000), 'idefics2(size={"shortest_edge": 224, "longest_edge": 448})')
    assert tuple(p.views[0].size) == (448, 224)  # 448 x int(448/3)=149 raised to 224
    q = anyres.plan((3000, 1000), 'idefics2(size={"height": 378, "width": 378})')
    assert tuple(q.views[0].size) == (378, 378)
    with pytest.raises(SpecError, match="size must be"):
        anyres.plan((10, 10), 'idefics2(size={"longest_edge": 3})')


# ---------------------------------------------------------------- SigLIP2 NaFlex
@pytest.mark.parametrize("patch,max_patches,n", [(16, 256, 2000), (16, 1024, 400), (14, 729, 400)])
def test_siglip2_matches_get_image_size_for_max_num_patches(patch, max_patches, n):
    from transformers.models.siglip2.image_processing_pil_siglip2 import get_image_size_for_max_num_patches

    spec = f"siglip2(patch_size={patch}, max_num_patches={max_patches})"
    bad = []
    for w, h in SIZES[:n]:
        rh, rw = get_image_size_for_max_num_patches(h, w, patch, max_patches)
        p = anyres.plan((w, h), spec)
        want = ((rw, rh), (rh // patch, rw // patch), (rh // patch) * (rw // patch))
        got = (tuple(p.views[0].size), tuple(p.info["spatial_shapes"]), p.num_tokens)
        if got != want or len(p.layout) != want[2] or p.num_tokens > max_patches:
            bad.append(((w, h), got, want))
    _no_mismatch(bad, spec)


# ---------------------------------------------------------------- InternVL3.5
def test_internvl3_5_matches_got_ocr2_and_processor():
    ip = oracles.internvl_image_processor(12)
    proc = oracles.internvl_processor()
    bad = []
    for w, h in SIZES:
        ref = oracles.internvl_oracle(ip, proc, w, h)
        p = anyres.plan((w, h), "internvl3.5")
        got = (p.grid or (1, 1), len(p.views), p.num_tokens, p.layout.text(), len(p.layout))
        if got != (ref["grid"], ref["views"], ref["tokens"], ref["text"], ref["tokens"] + 2):
            bad.append(((w, h), got[:3], (ref["grid"], ref["views"], ref["tokens"])))
    _no_mismatch(bad, "internvl3.5")


def test_internvl_reference_shaped_overrides():
    a = anyres.plan((1000, 600), 'internvl3.5(size={"height": 448, "width": 448}, max_patches=6, image_seq_length=256)')
    b = anyres.plan((1000, 600), "internvl(max_tiles=6)")
    assert (a.grid, a.num_tokens) == (b.grid, b.num_tokens)
    assert len(anyres.plan((1000, 600), "internvl3.5(crop_to_patches=False)").views) == 1
    with pytest.raises(SpecError, match="image_seq_length"):
        anyres.plan((10, 10), "internvl3.5(image_seq_length=64)")


# ---------------------------------------------------------------- Aria
@pytest.mark.parametrize("max_size,n", [(980, 2000), (490, 300)])
def test_aria_matches_processor(max_size, n):
    """The reference's own _preprocess (resize stubbed to shapes, no rescale or normalise):
    the mask of the resized content gives its size; the processor reserves
    size_conversion[max_image_size] tokens a crop."""
    from transformers.models.aria.image_processing_pil_aria import AriaImageProcessorPil

    ip = AriaImageProcessorPil()
    tokens = {490: 128, 980: 256}[max_size]
    bad = []
    for w, h in SIZES[:n]:
        with shape_only_resize():
            out = ip._preprocess([fake_image(w, h)], do_rescale=False, rescale_factor=1 / 255, do_normalize=False,
                                 image_mean=None, image_std=None, return_tensors=None, max_image_size=max_size)
        mask = out["pixel_mask"][0]
        ref = ((int(mask.any(axis=0).sum()), int(mask.any(axis=1).sum())), out["num_crops"] * tokens)
        p = anyres.plan((w, h), f"aria(max_image_size={max_size})")
        got = (tuple(p.info["resized"]), p.num_tokens)
        if got != ref or len(p.layout) != ref[1] or tuple(p.views[0].size) != (max_size, max_size):
            bad.append(((w, h), got, ref))
    _no_mismatch(bad, f"aria({max_size})")
    with pytest.raises(SpecError, match="490 or 980"):
        anyres.plan((10, 10), "aria(max_image_size=700)")


@pytest.mark.parametrize("max_size,resolutions,n",
                         [(980, None, 1000), (490, None, 500), (490, [[980, 980], [490, 1470]], 300)])
def test_aria_split_matches_processor(max_size, resolutions, n):
    """split_image=True, the reference's own _preprocess (resize stubbed to shapes): the crops
    of the best split resolution, in order, each crop's resized size (its pixel mask), and
    size_conversion[max_image_size] tokens a crop; its get_number_of_image_patches agrees."""
    from transformers.models.aria.image_processing_pil_aria import AriaImageProcessorPil

    ip = AriaImageProcessorPil(split_image=True, max_image_size=max_size, split_resolutions=resolutions)
    tokens = {490: 128, 980: 256}[max_size]
    spec = f"aria(split_image=True, max_image_size={max_size}"
    spec += f", split_resolutions={resolutions})" if resolutions else ")"
    bad = []
    for w, h in SIZES[:n]:
        with shape_only_resize():
            out = ip._preprocess([fake_image(w, h)], do_rescale=False, rescale_factor=1 / 255, do_normalize=False,
                                 image_mean=None, image_std=None, return_tensors=None, max_image_size=max_size,
                                 split_image=True, split_resolutions=ip.split_resolutions, min_image_size=336)
        masks = out["pixel_mask"]
        ref_sizes = [(int(m.any(axis=0).sum()), int(m.any(axis=1).sum())) for m in masks]
        p = anyres.plan((w, h), spec)
        got = ([tuple(v.size) for v in p.views], p.num_tokens, len(p.layout))
        ref = (ref_sizes, len(masks) * tokens, len(masks) * tokens)
        counted = ip.get_number_of_image_patches(h, w, {"split_image": True})
        if got != ref or counted != len(p.views) or any(v.tokens != tokens for v in p.views):
            bad.append(((w, h), got[1:], ref[1:], counted))
    _no_mismatch(bad, spec)


def test_aria_split_refuses_bad_resolutions():
    for bad in ("[]", "[[0, 490]]", "[[490]]", "[[True, 490]]"):
        with pytest.raises(SpecError, match="split_resolutions|split resolution"):
            anyres.plan((10, 10), f"aria(split_image=True, split_resolutions={bad})")
    with pytest.raises(SpecError, match="split_image"):
        anyres.plan((10, 10), "aria(split_image=1)")

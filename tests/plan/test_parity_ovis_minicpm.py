"""Ovis2 and MiniCPM-V 4.6 against transformers 5.23 on >= 2,000 sizes a preset (geometry
only: the reference's own helpers on zero-stride arrays, resize stubbed to shapes)."""

from __future__ import annotations

import pytest

import anyres
from anyres import SpecError

from .oracles import _bare, fake_image, shape_only_resize
from .sizes import sample_sizes

SIZES = sample_sizes(2000)


def _no_mismatch(bad: list, preset: str) -> None:
    assert not bad, f"{preset}: {len(bad)} mismatches, first: {bad[:5]}"


# ---------------------------------------------------------------- Ovis2
def ovis2_oracle(ip, proc, width: int, height: int, **kwargs) -> dict:
    from transformers.image_utils import SizeDict

    t = kwargs.pop("tile", 384)
    with shape_only_resize():
        views, grid = ip.crop_image_to_patches(fake_image(width, height), patch_size=SizeDict(height=t, width=t),
                                               **kwargs)
    text = proc.replace_image_token({"grids": __import__("numpy").array([grid])}, 0)
    return {"grid": tuple(grid), "views": len(views), "text": text, "sizes": {v.shape[-2:] for v in views}}


def _ovis2_refs():
    from transformers.models.ovis2.image_processing_pil_ovis2 import Ovis2ImageProcessorPil
    from transformers.models.ovis2.processing_ovis2 import Ovis2Processor

    return Ovis2ImageProcessorPil(), _bare(Ovis2Processor, image_seq_length=256)


@pytest.mark.parametrize("spec,kwargs,n", [
    ("ovis2(crop_to_patches=True)", dict(min_patches=1, max_patches=12), 2000),
    ("ovis2(crop_to_patches=True, use_covering_area_grid=False, max_patches=6)",  # InternVL's rule, tested there
     dict(min_patches=1, max_patches=6, use_covering_area_grid=False), 500),
    ('ovis2(crop_to_patches=True, size={"height": 448, "width": 448}, max_patches=9)',
     dict(min_patches=1, max_patches=9, tile=448), 500),
])
def test_ovis2_matches_processor_and_prompt(spec, kwargs, n):
    """Grid, views, tokens (image_seq_length a view) and the prompt text, equal to
    crop_image_to_patches and Ovis2Processor.replace_image_token."""
    ip, proc = _ovis2_refs()
    bad = []
    for w, h in SIZES[:n]:
        ref = ovis2_oracle(ip, proc, w, h, **dict(kwargs))
        p = anyres.plan((w, h), spec)
        got = (p.grid, len(p.views), p.num_tokens, p.layout.text(), {(v.size.height, v.size.width) for v in p.views})
        want = (ref["grid"], ref["views"], 256 * ref["views"], ref["text"], ref["sizes"])
        if got != want or len(p.layout) != len(ref["text"].replace("<", " <").split()):
            bad.append(((w, h), got[:3], want[:3]))
    _no_mismatch(bad, spec)


def test_ovis2_default_is_one_view_and_the_transposed_cut_is_warned():
    p = anyres.plan((1000, 600), "ovis2")
    assert (len(p.views), p.num_tokens, len(p.layout), p.views[0].size) == (1, 256, 259, (384, 384))
    wide = anyres.plan((3000, 200), "ovis2(crop_to_patches=True)")  # scored as 1 row x 8 cols, cut as 8 rows x 1 col
    assert wide.grid == (8, 1) and any("cuts 8 rows" in w for w in wide.diagnostics.warnings)
    assert not anyres.plan((800, 800), "ovis2(crop_to_patches=True)").diagnostics.warnings
    with pytest.raises(SpecError, match="square"):
        anyres.plan((10, 10), 'ovis2(size={"height": 384, "width": 448})')


# ---------------------------------------------------------------- MiniCPM-V 4.6
MINICPM_TOKENS = dict(image_start_token="<image>", image_end_token="</image>", slice_start_token="<slice>",
                      slice_end_token="</slice>", image_token="<unk>")


def minicpm_oracle(ip, proc, width: int, height: int, divisor: int, **kwargs) -> dict:
    """The reference's own _preprocess (resize stubbed to shapes, no rescale or normalise)
    and MiniCPMV4_6Processor.replace_image_token."""
    args = dict(max_slice_nums=9, scale_resolution=448, patch_size=14, slice_mode=True, downsample_mode="16x")
    args.update(kwargs)
    from unittest import mock

    # its patch reshuffle of the (stubbed, zero) pixels is skipped: target_sizes come from the shapes
    flat = mock.patch.object(type(ip), "reshape_by_patch", lambda self, image, p: image[:, :p, :1])
    with shape_only_resize(), flat:
        out = ip._preprocess([fake_image(width, height)], do_resize=True, resample=None, do_rescale=False,
                             rescale_factor=1 / 255, do_normalize=False, image_mean=None, image_std=None, **args)
    text = proc.replace_image_token(out, 0, image_token_divisor=divisor)
    return {"grid": tuple(out["grids"][0]), "target_sizes": [tuple(t) for t in out["target_sizes"].tolist()],
            "tokens": int((out["target_sizes"].prod(-1) // divisor).sum()), "text": text}


@pytest.mark.parametrize("spec,kwargs,divisor,n", [
    ("minicpm-v-4.6", {}, 16, 2000),
    ('minicpm-v-4.6(downsample_mode="4x", max_slice_nums=4)', dict(downsample_mode="4x", max_slice_nums=4), 4, 500),
    ("minicpm-v-4.6(slice_mode=False)", dict(slice_mode=False), 16, 300),
])
def test_minicpmv4_6_matches_processor_and_prompt(spec, kwargs, divisor, n):
    from transformers.models.minicpmv4_6.image_processing_pil_minicpmv4_6 import MiniCPMV4_6ImageProcessorPil
    from transformers.models.minicpmv4_6.processing_minicpmv4_6 import MiniCPMV4_6Processor

    ip = MiniCPMV4_6ImageProcessorPil()
    proc = _bare(MiniCPMV4_6Processor, slice_mode=kwargs.get("slice_mode", True), **MINICPM_TOKENS)
    bad = []
    for w, h in SIZES[:n]:
        ref = minicpm_oracle(ip, proc, w, h, divisor, **kwargs)
        p = anyres.plan((w, h), spec)
        ts = [(v.size.height // 14, v.size.width // 14) for v in p.views]
        got = ((p.grid or (0, 0)), ts, p.num_tokens, p.layout.text())
        if got != (ref["grid"], ref["target_sizes"], ref["tokens"], ref["text"]):
            bad.append(((w, h), got[:3], (ref["grid"], ref["target_sizes"], ref["tokens"])))
        elif len(p.layout) != p.num_tokens + 2 * len(p.views) + (p.grid[0] - 1 if p.grid else 0):
            bad.append(((w, h), "layout length", len(p.layout)))
    _no_mismatch(bad, spec)
    with pytest.raises(SpecError, match="16x"):
        anyres.plan((10, 10), 'minicpm-v-4.6(downsample_mode="8x")')

"""Ovis2 (and the families added with it) against transformers 5.23 on >= 2,000 sizes a
preset (geometry only: the reference's own helpers on zero-stride arrays, resize stubbed
to shapes)."""

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
    ("ovis2(crop_to_patches=True, use_covering_area_grid=False, max_patches=6)",
     dict(min_patches=1, max_patches=6, use_covering_area_grid=False), 2000),
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

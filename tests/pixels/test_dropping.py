"""NaViT token dropping on the packed sequence, against the public NaViT code's rule
(lucidrains vit_pytorch na_vit.py: keep ``max(1, int(n * (1 - rate)))`` patches, the
top-k of ``randn(n)``, with their positions)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import anyres
from anyres import SpecError
from anyres.pixels import pack
from anyres.pixels.dropping import drop_tokens, kept_count


def _batch(specs_sizes, tensors="np"):
    plans = [anyres.plan(size, spec) for spec, size in specs_sizes]
    rng = np.random.default_rng(0)
    views = [[rng.integers(0, 256, (3, v.size.height, v.size.width), dtype=np.uint8) for v in p.views] for p in plans]
    return pack(plans, views, tensors)


def reference_keep(n: int, rate: float, generator: torch.Generator) -> set[int]:
    keep = max(1, int(n * (1 - rate)))
    return set(torch.randn((n,), generator=generator).topk(keep, dim=-1).indices.tolist())


@pytest.mark.parametrize("tensors", ["np", "pt"])
def test_dropping_keeps_the_references_patches_positions_and_boundaries(tensors):
    full = _batch([("fixed(size=112)", (300, 200)), ("fixed(size=(168, 84))", (90, 400))], tensors)
    rate = 0.3
    dropped = drop_tokens(full, rate, generator=torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)
    cu = [int(x) for x in full.cu_seqlens]
    expected = []
    for k in range(len(cu) - 1):  # one view an image here: the reference's per-image draws, in order
        n = cu[k + 1] - cu[k]
        expected += sorted(cu[k] + i for i in reference_keep(n, rate, g))
    assert [int(i) for i in dropped.kept] == expected
    assert [int(x) for x in dropped.cu_seqlens] == [0, kept_count(64, rate), kept_count(64, rate) + kept_count(72, rate)]
    assert (np.asarray(dropped.patches) == np.asarray(full.patches)[expected]).all()
    assert (np.asarray(dropped.positions) == np.asarray(full.positions)[expected]).all()  # (image, view, row, col)
    assert type(dropped.patches) is type(full.patches)


def test_a_merging_tower_drops_whole_merge_blocks():
    full = _batch([("qwen2-vl", (280, 196))])  # 14 x 20 patches in 2 x 2 blocks: 70 blocks
    dropped = drop_tokens(full, 0.5, generator=torch.Generator().manual_seed(1))
    kept = np.asarray(dropped.kept)
    assert len(kept) == 4 * kept_count(70, 0.5)
    blocks = kept.reshape(-1, 4)
    assert (blocks[:, 0] % 4 == 0).all() and (np.diff(blocks, axis=1) == 1).all()  # whole blocks, in order
    pos = np.asarray(dropped.positions)[:, 2:].reshape(-1, 4, 2)
    assert (pos // 2 == pos[:, :1] // 2).all()  # the four patches of a kept block share one merged cell


def test_resolution_dependent_and_per_image_rates():
    full = _batch([("fixed(size=112)", (300, 200)), ("fixed(size=224)", (300, 200))])
    by_size = drop_tokens(full, lambda size: 0.75 if size.width > 150 else 0.0,
                          generator=torch.Generator().manual_seed(0))
    assert [int(x) for x in by_size.cu_seqlens] == [0, 64, 64 + kept_count(256, 0.75)]
    per_image = drop_tokens(full, [0.5, 0.0], generator=torch.Generator().manual_seed(0))
    assert [int(x) for x in per_image.cu_seqlens] == [0, 32, 32 + 256]
    assert kept_count(3, 0.99) == 1  # at least one patch an image, as the reference


@pytest.mark.parametrize("bad", [1.0, -0.1, float("nan"), True, [0.1]])
def test_bad_rates_are_refused(bad):
    full = _batch([("fixed(size=112)", (300, 200)), ("fixed(size=112)", (30, 20))])
    with pytest.raises(SpecError):
        drop_tokens(full, bad)

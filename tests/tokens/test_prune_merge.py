"""Pruning and merging on constructed inputs whose answers can be worked out by hand."""

from __future__ import annotations

import pytest
import torch

from anyres.errors import ShapeError, SpecError
from anyres.tokens import (
    grid_positions,
    iqr_outliers,
    keep_count,
    prumerge,
    text_guided_topk,
    tome_merge,
    topk_tokens,
    visionzip,
)

from ..tolerance import assert_close_rel


def _attention_from_cls(cls_row: torch.Tensor) -> torch.Tensor:
    """An (N, N) attention whose row 0 (the CLS query) is ``cls_row``; other rows uniform."""
    n = cls_row.shape[0]
    attn = torch.full((n, n), 1.0 / n)
    attn[0] = cls_row
    return attn


def test_topk_keeps_the_k_largest_in_input_order():
    feats = torch.arange(8.0)[:, None].repeat(1, 3)
    scores = torch.tensor([0.1, 0.9, 0.3, 0.8, 0.0, 0.7, 0.2, 0.6])
    pos = grid_positions(2, 4, view=5)
    kept = topk_tokens(feats, scores, 3, pos)
    assert kept.index.tolist() == [1, 3, 5]
    assert kept.embeddings[:, 0].tolist() == [1.0, 3.0, 5.0]
    assert kept.positions.tolist() == [[5, 0, 1], [5, 0, 3], [5, 1, 1]]


def test_positions_stay_consistent_after_pruning():
    torch.manual_seed(0)
    feats = torch.randn(24, 4)
    pos = grid_positions(4, 6, view=2)
    for kept in (
        topk_tokens(feats, torch.randn(24), 10, pos),
        text_guided_topk(feats, query=torch.randn(4), keep=0.25, positions=pos),
        text_guided_topk(feats, query=torch.randn(3), keys=torch.randn(24, 3), keep=0.5, positions=pos),
    ):
        assert torch.equal(kept.positions, pos[kept.index])
        assert torch.equal(kept.embeddings, feats[kept.index])
        assert bool((kept.index[1:] > kept.index[:-1]).all())  # original order, as FastV keeps it


def test_text_guided_topk_ranks_by_the_query():
    feats = torch.eye(6)
    kept = text_guided_topk(feats, query=torch.tensor([0, 0, 1.0, 0, 0, 0.5]), keep=2 / 6)
    assert kept.index.tolist() == [2, 5]
    assert keep_count(576, 0.25) == 144 and keep_count(3, 0.01) == 1 and keep_count(10, 0.0) == 0
    with pytest.raises(SpecError):
        text_guided_topk(feats)


def test_visionzip_counts_and_dominant_choice():
    n = 1 + 24  # CLS + 24 patches
    cls_row = torch.zeros(n)
    cls_row[[3, 7, 20]] = torch.tensor([0.5, 0.3, 0.2])
    torch.manual_seed(1)
    feats, keys = torch.randn(n, 6), torch.randn(n, 5)
    kept = visionzip(feats, _attention_from_cls(cls_row), keys, dominant=3, contextual=4, cls_index=0,
                     positions=grid_positions(4, 6, prefix=1))
    assert len(kept) == 7
    assert kept.index[:3].tolist() == [3, 7, 20]  # dominant: top CLS attention, input order
    assert kept.sizes[:3].tolist() == [1, 1, 1]
    assert float(kept.sizes.sum()) == 24  # every patch accounted for once
    # remaining 21 patches, step 21 // 4 = 5: targets are remaining[0, 5, 10, 15]
    remaining = [i for i in range(1, n) if i not in (3, 7, 20)]
    assert kept.index[3:].tolist() == [remaining[k] for k in (0, 5, 10, 15)]
    assert (kept.positions[:, 1] >= 0).all()  # the CLS row is never returned


def test_visionzip_contextual_token_is_its_target_plus_the_mean_of_its_members():
    # two clusters of keys; targets 0 and 3 (step 6 // 2 = 3); members join by key;
    # dvlab-research/VisionZip: target_hidden + sum(members) / clamp(count, min=1)
    keys = torch.tensor([[1.0, 0], [1, 0.1], [0, 1], [0, 1], [1, -0.1], [0.1, 1]])
    feats = torch.arange(6.0)[:, None]
    kept = visionzip(feats, torch.full((6, 6), 1 / 6), keys, dominant=0, contextual=2)
    assert kept.index.tolist() == [0, 3]
    assert kept.embeddings[:, 0].tolist() == pytest.approx([0 + (1 + 4) / 2, 3 + (2 + 5) / 2])
    assert kept.sizes.tolist() == [3, 3]


def test_visionzip_without_cls_uses_attention_received():
    attn = torch.full((5, 5), 0.1)
    attn[:, 2] = 0.6  # everyone attends to token 2
    kept = visionzip(torch.randn(5, 2), attn, torch.randn(5, 2), dominant=1, contextual=0)
    assert kept.index.tolist() == [2]


def test_prumerge_keeps_the_iqr_outliers():
    n = 1 + 40
    cls_row = torch.zeros(n)
    cls_row[1:] = 0.01 + torch.linspace(0, 0.004, 40)  # a spread: Q1 ~ 0.011, Q3 ~ 0.013
    cls_row[[5, 9, 33]] = torch.tensor([0.3, 0.5, 0.2])  # three clear outliers
    torch.manual_seed(2)
    feats, keys = torch.randn(n, 4), torch.randn(n, 3)
    kept = prumerge(feats, _attention_from_cls(cls_row), keys, neighbours=4)
    assert kept.index[:3].tolist() == [9, 5, 33]  # by attention, largest first (the reference's top-k order)
    assert len(kept) == 4 and kept.index[-1] == -1  # + the summary token
    attn = cls_row[1:]
    pruned = [j for j in range(40) if j + 1 not in (5, 9, 33)]
    # a weighted sum of 37 rows, summed in another order: <= 37 roundings of the terms' size
    terms = (feats[1:][pruned] * attn[pruned, None]).abs().sum(0).max()
    assert_close_rel(kept.embeddings[-1], (feats[1:][pruned] * attn[pruned, None]).sum(0), ulps=2 * 37,
                     what="summary token", scale=terms)
    assert not prumerge(feats, _attention_from_cls(cls_row), keys, summary=False).index.eq(-1).any()


def test_prumerge_merge_rule_by_hand():
    # one outlier (row 1 after CLS); keys put rows 2 and 3 nearest to it
    cls_row = torch.tensor([0.0, 0.9, 0.02, 0.03, 0.01, 0.01, 0.01, 0.01, 0.01])
    keys = torch.tensor([[0, 0, 1.0], [1, 0, 0], [1, 0.1, 0], [1, 0.2, 0], [0, 1, 0], [0, 1, 0.1], [0, 1, 0.2], [0, 0.9, 0.3], [0, 0.8, 0.5]])
    feats = torch.arange(9.0)[:, None]
    kept = prumerge(feats, _attention_from_cls(cls_row), keys, neighbours=2, summary=False)
    assert kept.index.tolist() == [1]
    assert float(kept.embeddings[0, 0]) == pytest.approx(1 + 2 * 0.02 + 3 * 0.03)


def test_prumerge_plus_adds_a_spatial_sample():
    cls_row = torch.full((1 + 60,), 0.01)
    cls_row[[10, 40]] = 0.5
    kept = prumerge(torch.randn(61, 2), _attention_from_cls(cls_row), torch.randn(61, 2), plus=True, summary=False)
    # rows 10 and 40 are patches 9 and 39; ratio 2/60 -> step int(int(30) / 3) = 10: patches 0, 10, ..., 50
    assert kept.index.tolist() == [10, 40] + [1 + p for p in range(0, 59, 10)]


def test_iqr_outliers_matches_numpy_percentiles():
    np = pytest.importorskip("numpy")
    torch.manual_seed(3)
    s = torch.rand(100) ** 4
    q1, q3 = np.percentile(s.numpy(), 25), np.percentile(s.numpy(), 75)
    expect = set(np.where(s.numpy() > q3 + 1.5 * (q3 - q1))[0].tolist())
    assert set(iqr_outliers(s).tolist()) == expect and expect


def test_tome_r0_is_the_identity():
    torch.manual_seed(4)
    feats, keys = torch.randn(11, 5), torch.randn(11, 4)
    kept = tome_merge(feats, keys, 0)
    assert torch.equal(kept.embeddings, feats) and kept.index.tolist() == list(range(11))
    assert kept.sizes.tolist() == [1.0] * 11


def test_tome_preserves_the_size_weighted_mean():
    torch.manual_seed(5)
    feats, keys = torch.randn(20, 6), torch.randn(20, 3)
    sizes = torch.rand(20) * 3 + 1
    kept = tome_merge(feats, keys, 7, sizes=sizes, positions=grid_positions(4, 5))
    assert len(kept) == 13
    # merging re-adds the same 20 (weighted) values in another grouping: <= 20 roundings each
    # of the terms' magnitude on both sides, plus the divide/multiply by merged sizes
    assert_close_rel(kept.sizes.sum(), sizes.sum(), ulps=2 * 20, what="sizes")
    weighted = (feats * sizes[:, None]).abs().sum(0).max()
    assert_close_rel((kept.embeddings * kept.sizes[:, None]).sum(0), (feats * sizes[:, None]).sum(0),
                     ulps=4 * 20, what="weighted mean", scale=weighted)
    assert torch.equal(kept.positions, grid_positions(4, 5)[kept.index])
    assert len(tome_merge(feats, keys, 100)) == 10  # at most half


def test_tome_merges_the_most_similar_pairs():
    keys = torch.tensor([[1.0, 0], [0, 1], [1, 0.01], [0.3, 1], [-1, 0.2], [1, 0]])
    feats = torch.arange(6.0)[:, None]
    kept = tome_merge(feats, keys, 1)  # A = rows 0, 2, 4; B = 1, 3, 5; best edge: 0 -> 5 (identical keys)
    assert kept.index.tolist() == [1, 2, 3, 4, 5]
    assert float(kept.embeddings[-1, 0]) == pytest.approx(2.5) and float(kept.sizes[-1]) == 2


def test_tome_protects_cls():
    keys = torch.tensor([[1.0, 0], [1, 0], [0, 1], [0, 1]])
    kept = tome_merge(torch.randn(4, 2), keys, 2, cls_index=0)
    assert 0 in kept.index.tolist() and len(kept) == 3  # r capped to (4 - 1) // 2 = 1


def test_shape_errors():
    with pytest.raises(ShapeError):
        visionzip(torch.zeros(5, 2), torch.zeros(4, 4), torch.zeros(5, 2))
    with pytest.raises(ShapeError):
        topk_tokens(torch.zeros(5, 2), torch.zeros(5), 2, positions=torch.zeros(4, 3, dtype=torch.int64))
    with pytest.raises(SpecError):
        visionzip(torch.zeros(5, 2), torch.zeros(5, 5), torch.zeros(5, 2), dominant=9)


def test_in_input_order_sorts_survivors_and_puts_summaries_last():
    cls_row = torch.full((1 + 30,), 0.01)
    cls_row[[20, 4]] = torch.tensor([0.6, 0.3])
    kept = prumerge(torch.randn(31, 2), _attention_from_cls(cls_row), torch.randn(31, 2)).in_input_order()
    assert kept.index.tolist() == [4, 20, -1]
    assert kept.positions[-1].tolist() == [0, -1, -1]  # the summary stands for the whole view 0

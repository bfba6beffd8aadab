"""Each reducer against its published reference code, restated here in the reference's
own batched form (its tensor operations, in its order) and run on fixed inputs:

- VisionZip: dvlab-research/VisionZip ``visionzip/clip_encoder.py`` (dominant tokens by
  head-summed CLS attention plus the CLS itself; contextual tokens = target +
  mean of the members assigned to it by L2-normalised key similarity);
- LLaVA-PruMerge: 42Shawn/LLaVA-PruMerge ``clip_encoder.py``,
  ``token_prune_merge_advanced(if_adaptive=False, reduction_ratio)`` (the per-token loop:
  each kept token plus the CLS-attention-weighted sum of its 32 most key-similar other
  tokens, then the weighted sum of the pruned tokens);
- ToMe: facebookresearch/ToMe ``tome/merge.py``, ``bipartite_soft_matching`` +
  ``merge_wavg`` (output order [unmerged A by edge score, B]).

Tolerances: the same float32 values summed in another order, in ulps of the values'
magnitude (tests/tolerance.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from anyres.tokens.merge import tome_merge
from anyres.tokens.prune import prumerge, visionzip

from ..tolerance import assert_close_rel


def _inputs(n_patches=48, width=16, heads=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(1, n_patches + 1, width, generator=g)
    attn = torch.softmax(torch.randn(1, heads, n_patches + 1, n_patches + 1, generator=g) * 3, dim=-1)
    metric = torch.randn(1, n_patches + 1, width // heads, generator=g)
    return hidden, attn, metric


def visionzip_reference(hidden, attn, metric, dominant_num, contextual_num):
    cls_attention_sum = attn[:, :, 0, 1:].sum(dim=1)
    topk = cls_attention_sum.topk(dominant_num, dim=1).indices + 1
    all_indices = torch.cat([torch.zeros((hidden.shape[0], 1), dtype=topk.dtype), topk], dim=1)
    mask = torch.ones_like(hidden[:, :, 0], dtype=torch.bool).scatter_(1, all_indices, False)
    dominant_tokens = hidden.masked_select(~mask.unsqueeze(-1)).view(hidden.shape[0], dominant_num + 1, hidden.shape[2])
    remaining = hidden.shape[1] - (dominant_num + 1)
    metric_filtered = metric[mask].view(hidden.shape[0], remaining, metric.shape[2])
    hidden_filtered = hidden.masked_select(mask.unsqueeze(-1)).view(hidden.shape[0], remaining, hidden.shape[2])
    normed = metric_filtered / metric_filtered.norm(dim=-1, keepdim=True)
    step = max(1, normed.shape[1] // contextual_num)
    targets = torch.arange(0, normed.shape[1], step)[:contextual_num]
    others = ~torch.isin(torch.arange(normed.shape[1]), targets)
    similarity = torch.bmm(normed[:, others], normed[:, targets].transpose(1, 2))
    one_hot = torch.zeros(1, int(others.sum()), contextual_num).scatter_(2, similarity.argmax(dim=2).unsqueeze(-1), 1)
    counts = one_hot.sum(dim=1).clamp(min=1).unsqueeze(-1)
    aggregated = torch.bmm(one_hot.transpose(1, 2), hidden_filtered[:, others]) / counts
    contextual_tokens = hidden_filtered[:, targets] + aggregated
    return torch.cat([dominant_tokens, contextual_tokens], dim=1)


@pytest.mark.parametrize("dominant,contextual,seed", [(54 // 4, 10 // 4, 0), (20, 8, 1), (5, 30, 2)])
def test_visionzip_equals_the_reference(dominant, contextual, seed):
    hidden, attn, metric = _inputs(seed=seed)
    ref = visionzip_reference(hidden, attn, metric, dominant, contextual)[0, 1:]  # LLaVA drops the CLS row
    ours = visionzip(hidden[0], attn[0].mean(0), metric[0], dominant=dominant, contextual=contextual, cls_index=0)
    assert len(ours) == dominant + contextual
    assert_close_rel(ours.embeddings, ref, ulps=8, what="visionzip")


def prumerge_reference(image_features, q, k, ratio, neighbours=32):
    _, n, c = image_features.shape
    attn = F.softmax((q @ k.transpose(-2, -1)) * c**-0.5, dim=-1)
    cls_attn = attn[:, 0, 1:]
    _, idx = torch.topk(cls_attn, int(n * ratio), dim=1, largest=True)
    key_wo_cls = k[:, 1:]
    x_others = torch.gather(image_features, 1, idx.unsqueeze(-1).expand(-1, -1, c))
    x_others_attn = torch.gather(cls_attn, 1, idx)
    key_others = torch.gather(key_wo_cls, 1, idx.unsqueeze(-1).expand(-1, -1, c))
    keep = torch.zeros(n, dtype=torch.bool)
    keep[idx[0]] = True
    compl = torch.nonzero(~keep).flatten()[None]  # complement_idx: ascending
    non_topk = torch.gather(image_features, 1, compl.unsqueeze(-1).expand(-1, -1, c))
    non_topk_key = torch.gather(key_wo_cls, 1, compl.unsqueeze(-1).expand(-1, -1, c))
    non_topk_attn = torch.gather(cls_attn, 1, compl)
    key_others_norm = F.normalize(key_others, p=2, dim=-1)
    non_topk_key_norm = F.normalize(non_topk_key, p=2, dim=-1)
    left = x_others.shape[1]
    updated = torch.zeros_like(x_others)
    for i in range(left):
        rest_x = torch.cat([x_others[0, :i], x_others[0, i + 1 :], non_topk[0]])[None]
        rest_attn = torch.cat([x_others_attn[0, :i], x_others_attn[0, i + 1 :], non_topk_attn[0]])[None]
        rest_keys = torch.cat([key_others_norm[0, :i], key_others_norm[0, i + 1 :], non_topk_key_norm[0]])[None]
        cos = torch.bmm(key_others_norm[0, i][None, None], rest_keys.transpose(1, 2))
        _, cluster = torch.topk(cos, k=neighbours, dim=2, largest=True)
        weights = rest_attn[:, cluster.squeeze()].unsqueeze(-1)
        updated[0, i] = x_others[0, i] + torch.sum(rest_x[:, cluster.squeeze()] * weights, dim=1)[0]
    extra = torch.sum(non_topk * non_topk_attn.unsqueeze(-1), dim=1, keepdim=True)
    return torch.cat([updated, extra], dim=1)


@pytest.mark.parametrize("ratio,seed", [(1 / 8, 0), (0.25, 3)])
def test_prumerge_fixed_ratio_equals_the_reference(ratio, seed):
    g = torch.Generator().manual_seed(seed)
    n, c = 64, 16
    hidden = torch.randn(1, n + 1, c, generator=g)  # the selected layer, CLS first
    q, k = torch.randn(1, n + 1, c, generator=g), torch.randn(1, n + 1, c, generator=g)
    ref = prumerge_reference(hidden[:, 1:], q, k, ratio)[0]
    attention = F.softmax((q[0] @ k[0].T) * c**-0.5, dim=-1)
    ours = prumerge(hidden[0], attention, k[0], cls_index=0, neighbours=32, ratio=ratio)
    assert len(ours) == int(n * ratio) + 1
    assert_close_rel(ours.embeddings, ref, ulps=16, what="prumerge")


def tome_reference(x, metric, r):
    metric = metric / metric.norm(dim=-1, keepdim=True)
    a, b = metric[..., ::2, :], metric[..., 1::2, :]
    scores = a @ b.transpose(-1, -2)
    node_max, node_idx = scores.max(dim=-1)
    edge_idx = node_max.argsort(dim=-1, descending=True)[..., None]
    unm_idx, src_idx = edge_idx[..., r:, :], edge_idx[..., :r, :]
    dst_idx = node_idx[..., None].gather(dim=-2, index=src_idx)

    def merge(t, mode):
        src, dst = t[..., ::2, :], t[..., 1::2, :]
        n, t1, c = src.shape
        unm = src.gather(dim=-2, index=unm_idx.expand(n, t1 - r, c))
        src = src.gather(dim=-2, index=src_idx.expand(n, r, c))
        dst = dst.scatter_reduce(-2, dst_idx.expand(n, r, c), src, reduce=mode)
        return torch.cat([unm, dst], dim=1)

    size = torch.ones_like(x[..., 0, None])
    merged = merge(x * size, "sum")
    size = merge(size, "sum")
    order = [2 * int(u) for u in unm_idx[0, :, 0]] + list(range(1, x.shape[1], 2))
    return merged / size, size[..., 0], order


@pytest.mark.parametrize("n,r", [(50, 10), (49, 24), (16, 8)])
def test_tome_equals_the_reference_up_to_order(n, r):
    g = torch.Generator().manual_seed(n + r)
    x, keys = torch.randn(1, n, 12, generator=g), torch.randn(1, n, 6, generator=g)
    ref, ref_sizes, order = tome_reference(x, keys, r)
    ours = tome_merge(x[0], keys[0], r)
    by_row = {int(i): k for k, i in enumerate(ours.index)}
    mine = torch.stack([ours.embeddings[by_row[row]] for row in order])
    assert_close_rel(mine, ref[0], ulps=8, what="tome")
    assert torch.equal(torch.stack([ours.sizes[by_row[row]] for row in order]), ref_sizes[0])

"""Pruning visual tokens by attention: top-k, FastV-style text-guided, VisionZip, PruMerge.

Inputs are what an encoder (or an LLM layer) gives: ``features`` (N, d), ``attention``
(N, N) averaged over heads (row = query, column = key), ``keys`` (N, d_k), and the row of
the CLS token if there is one (``cls_index``). ``positions`` (N, 3) are carried along so
that the survivors can still be placed (``sequence`` module docstring); the CLS row
itself is never returned. Every method returns ``KeptTokens``.

Attention scores without a CLS token (SigLIP): the mean attention each token receives,
``attention.mean(0)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import ShapeError, SpecError
from .sequence import KeptTokens, default_positions, single_view


def _check(features: torch.Tensor, attention: torch.Tensor | None = None, keys: torch.Tensor | None = None) -> int:
    if features.dim() != 2:
        raise ShapeError(f"features must be (N, d), got {tuple(features.shape)}")
    n = features.shape[0]
    if attention is not None and attention.shape != (n, n):
        raise ShapeError(f"attention must be ({n}, {n}) for {n} tokens, got {tuple(attention.shape)}")
    if keys is not None and (keys.dim() != 2 or keys.shape[0] != n):
        raise ShapeError(f"keys must be ({n}, d_k), got {tuple(keys.shape)}")
    return n


def _patch_rows(n: int, cls_index: int | None) -> torch.Tensor:
    rows = torch.arange(n)
    if cls_index is None:
        return rows
    if not -n <= cls_index < n:
        raise SpecError(f"cls_index {cls_index} is outside {n} tokens")
    return rows[rows != cls_index % n]


def importance(attention: torch.Tensor, cls_index: int | None) -> torch.Tensor:
    """(N,) score of every row: attention from CLS, else mean attention received."""
    if cls_index is not None:
        return attention[cls_index]
    return attention.mean(0)


def _kept(features, positions, rows, sizes=None) -> KeptTokens:
    rows = rows.to(torch.int64)
    if sizes is None:
        sizes = torch.ones(len(rows), dtype=features.dtype)
    return KeptTokens(features[rows], positions[rows], rows, sizes)


def topk_tokens(features: torch.Tensor, scores: torch.Tensor, k: int, positions: torch.Tensor | None = None) -> KeptTokens:
    """The k tokens with the largest scores, in input order (positions preserved)."""
    n = _check(features)
    if scores.shape != (n,):
        raise ShapeError(f"scores must be ({n},), got {tuple(scores.shape)}")
    if not 0 <= k <= n:
        raise SpecError(f"cannot keep {k} of {n} tokens")
    positions = default_positions(n, positions)
    rows = torch.sort(torch.topk(scores, k).indices).values
    return _kept(features, positions, rows)


def keep_count(n: int, keep: float) -> int:
    """FastV's budget: int(n * keep), at least one token when keep > 0."""
    if not 0.0 <= keep <= 1.0:
        raise SpecError(f"keep must be a fraction in [0, 1], got {keep}")
    return min(n, max(1 if keep > 0 and n else 0, int(n * keep)))


def text_guided_topk(
    features: torch.Tensor,
    *,
    query: torch.Tensor | None = None,
    keys: torch.Tensor | None = None,
    scores: torch.Tensor | None = None,
    keep: float = 0.5,
    positions: torch.Tensor | None = None,
) -> KeptTokens:
    """FastV-style pruning: keep the ``keep`` fraction of image tokens that a text query
    attends to most, in their original order with their original positions.

    The ranking comes from ``scores`` (N,) when given (FastV: layer-K attention of the
    last token, mean over heads), else from ``softmax(keys @ query / sqrt(d))`` when
    ``keys`` are given, else from the cosine similarity of ``query`` with ``features``.
    """
    n = _check(features, keys=keys)
    if scores is None:
        if query is None or query.dim() != 1:
            raise SpecError("text_guided_topk needs scores (N,) or a query vector (d,)")
        if keys is not None:
            if keys.shape[1] != query.shape[0]:
                raise ShapeError(f"query of width {query.shape[0]} for keys of width {keys.shape[1]}")
            scores = torch.softmax(keys @ query / keys.shape[1] ** 0.5, dim=0)
        else:
            if features.shape[1] != query.shape[0]:
                raise ShapeError(f"query of width {query.shape[0]} for features of width {features.shape[1]}")
            scores = F.cosine_similarity(features, query[None], dim=1)
    return topk_tokens(features, scores, keep_count(n, keep), positions)


def visionzip(
    features: torch.Tensor,
    attention: torch.Tensor,
    keys: torch.Tensor,
    *,
    dominant: int = 54,
    contextual: int = 10,
    cls_index: int | None = None,
    positions: torch.Tensor | None = None,
) -> KeptTokens:
    """VisionZip (dvlab-research): ``dominant`` tokens by CLS attention (or attention
    received), then the rest merged into ``contextual`` tokens.

    Contextual merging as the reference (dvlab-research/VisionZip ``clip_encoder.py``):
    the remaining tokens, in input order, are targets every ``step = max(1, R //
    contextual)``-th (the first ``contextual``); each other token joins the target with
    the most similar L2-normalised key; a contextual token is its target plus the mean
    of its members, ``x_t + sum(x_m) / max(1, members)`` (not the mean of the whole
    group, as some re-implementations write it). Output: dominant tokens in input
    order, then the contextual tokens in target order (the reference's concatenation;
    its CLS token, which LLaVA then drops, is not returned). A contextual token takes
    its target's position.
    """
    n = _check(features, attention, keys)
    positions = default_positions(n, positions)
    patches = _patch_rows(n, cls_index)
    if dominant < 0 or contextual < 0 or dominant > len(patches):
        raise SpecError(f"cannot keep {dominant} dominant tokens of {len(patches)}")
    scores = importance(attention, cls_index)[patches]
    top = torch.topk(scores, dominant).indices
    is_dominant = torch.zeros(len(patches), dtype=torch.bool)
    is_dominant[top] = True
    dom_rows = patches[is_dominant]
    rest = patches[~is_dominant]
    out = _kept(features, positions, dom_rows)
    contextual = min(contextual, len(rest))
    if contextual == 0:
        return out
    step = max(1, len(rest) // contextual)
    is_target = torch.zeros(len(rest), dtype=torch.bool)
    is_target[torch.arange(0, len(rest), step)[:contextual]] = True
    targets, members = rest[is_target], rest[~is_target]
    metric = F.normalize(keys.to(torch.float32), dim=-1)
    assign = (metric[members] @ metric[targets].T).argmax(dim=1) if len(members) else torch.zeros(0, dtype=torch.int64)
    sums = torch.zeros(contextual, features.shape[1], dtype=features.dtype).index_add_(0, assign, features[members])
    counts = torch.zeros(contextual, dtype=features.dtype).index_add_(0, assign, torch.ones(len(members), dtype=features.dtype))
    merged = features[targets] + sums / counts.clamp(min=1)[:, None]
    ctx = KeptTokens(merged, positions[targets], targets.to(torch.int64), counts + 1)
    return _concat(out, ctx)


def _concat(a: KeptTokens, b: KeptTokens) -> KeptTokens:
    return KeptTokens(
        torch.cat([a.embeddings, b.embeddings]),
        torch.cat([a.positions, b.positions]),
        torch.cat([a.index, b.index]),
        torch.cat([a.sizes.to(b.sizes.dtype), b.sizes]),
    )


def iqr_outliers(scores: torch.Tensor) -> torch.Tensor:
    """Indices of scores above Q3 + 1.5 IQR (linear-interpolated quartiles, as numpy's
    ``percentile``), ordered by score, largest first."""
    s = scores.to(torch.float64)
    q1, q3 = torch.quantile(s, 0.25), torch.quantile(s, 0.75)
    outliers = torch.nonzero(s > q3 + 1.5 * (q3 - q1)).flatten()
    return outliers[torch.argsort(s[outliers], descending=True, stable=True)]


def prumerge(
    features: torch.Tensor,
    attention: torch.Tensor,
    keys: torch.Tensor,
    *,
    cls_index: int | None = 0,
    neighbours: int = 32,
    plus: bool = False,
    summary: bool = True,
    ratio: float | None = None,
    positions: torch.Tensor | None = None,
) -> KeptTokens:
    """PruMerge (LLaVA-PruMerge ``token_prune_merge_advanced``).

    Keep the IQR outliers of the CLS attention (largest first, the reference's top-k
    order); each kept token i becomes x_i + sum_j a_j x_j over its ``neighbours`` most
    key-cosine-similar other tokens j (kept or not), a_j their CLS attention (the
    reference does not normalise the weights). ``summary`` appends the reference's extra
    token sum_j a_j x_j over all pruned tokens. ``plus`` (PruMerge+) also keeps a
    uniform sample of positions every max(1, int(int(1/ratio)/3)) patches (ratio = the
    outlier fraction) that are not outliers already. ``ratio`` (the reference's
    ``if_adaptive=False``): keep the ``int(P * ratio)`` tokens of largest attention instead
    of the outliers, a count known before the pixels are.
    """
    n = _check(features, attention, keys)
    positions = default_positions(n, positions)
    patches = _patch_rows(n, cls_index)
    p = len(patches)
    attn = importance(attention, cls_index)[patches].to(features.dtype)
    if ratio is not None:
        if not 0 < ratio <= 1:
            raise SpecError(f"ratio must be in (0, 1], got {ratio}")
        kept = torch.topk(attn, int(p * ratio)).indices  # largest first, as the reference's topk
    else:
        kept = iqr_outliers(attn)
    if plus and len(kept):
        step = max(1, int(int(p / len(kept)) / 3))
        sample = torch.arange(0, p - 1, step)
        kept = torch.cat([kept, sample[~torch.isin(sample, kept)]])
    x = features[patches]
    metric = F.normalize(keys[patches].to(torch.float32), dim=-1)
    sim = metric[kept] @ metric.T
    sim[torch.arange(len(kept)), kept] = float("-inf")  # a token is not its own neighbour
    k = min(neighbours, p - 1)
    near = torch.topk(sim, k, dim=1).indices if len(kept) and k > 0 else torch.zeros(len(kept), 0, dtype=torch.int64)
    merged = x[kept] + (x[near] * attn[near][..., None]).sum(dim=1)
    rows = patches[kept].to(torch.int64)
    out = KeptTokens(merged, positions[rows], rows, torch.ones(len(rows), dtype=features.dtype) + k)
    if not summary:
        return out
    pruned = torch.ones(p, dtype=torch.bool)
    pruned[kept] = False
    extra = (x[pruned] * attn[pruned][:, None]).sum(dim=0, keepdim=True)
    view = single_view(positions[patches])
    tail = KeptTokens(
        extra,
        torch.tensor([[view, -1, -1]], dtype=torch.int64),
        torch.tensor([-1], dtype=torch.int64),
        torch.tensor([float(pruned.sum())], dtype=features.dtype),
    )
    return _concat(out, tail)

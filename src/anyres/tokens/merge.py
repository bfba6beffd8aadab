"""Token merging by bipartite soft matching (ToMe, facebookresearch/ToMe ``merge.py``).

Tokens alternate into sets A (even rows) and B (odd rows); every A token finds its most
similar B token by cosine similarity of ``keys``; the ``r`` best such edges are merged,
the A token folded into its B token by a size-weighted mean (``merge_wavg``). A
protected CLS row never merges (its edges score -inf, as ToMe's ``class_token``). ``r``
is capped at half the unprotected tokens; ``r=0`` changes nothing.

ToMe reorders its output ([unmerged A by edge score, then B]); here the survivors stay
in input order and a merged group keeps the row and position of its B token, so layout
can still place it. The CLS row, if any, is returned like any other unmerged token.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import ShapeError, SpecError
from .sequence import KeptTokens, default_positions


def bipartite_matches(keys: torch.Tensor, r: int, protected: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(source rows, destination rows) of the r merges ToMe makes, best edge first."""
    n = keys.shape[0]
    metric = F.normalize(keys.to(torch.float32), dim=-1)
    a_rows, b_rows = torch.arange(0, n, 2), torch.arange(1, n, 2)
    scores = metric[a_rows] @ metric[b_rows].T
    if protected is not None:
        scores[a_rows == protected, :] = float("-inf")
        scores[:, b_rows == protected] = float("-inf")
    r = min(r, (n - (protected is not None)) // 2)
    if r <= 0 or len(b_rows) == 0:
        empty = torch.zeros(0, dtype=torch.int64)
        return empty, empty
    best, best_b = scores.max(dim=-1)
    edges = torch.argsort(best, descending=True, stable=True)[:r]
    return a_rows[edges], b_rows[best_b[edges]]


def tome_merge(
    features: torch.Tensor,
    keys: torch.Tensor,
    r: int,
    *,
    sizes: torch.Tensor | None = None,
    cls_index: int | None = None,
    positions: torch.Tensor | None = None,
) -> KeptTokens:
    """Merge away ``r`` tokens. ``sizes`` (N,) are the sizes of already merged tokens
    (default ones); the output sizes add up to the input's and the size-weighted sum of
    the features is preserved."""
    if features.dim() != 2 or keys.dim() != 2 or keys.shape[0] != features.shape[0]:
        raise ShapeError(f"features (N, d) and keys (N, d_k) needed, got {tuple(features.shape)} and {tuple(keys.shape)}")
    if r < 0:
        raise SpecError(f"r must be non-negative, got {r}")
    n = features.shape[0]
    positions = default_positions(n, positions)
    if sizes is None:
        sizes = torch.ones(n, dtype=features.dtype)
    elif sizes.shape != (n,):
        raise ShapeError(f"sizes must be ({n},), got {tuple(sizes.shape)}")
    protected = None if cls_index is None else cls_index % n
    src, dst = bipartite_matches(keys, r, protected)
    weighted = features * sizes[:, None]
    weighted = weighted.index_add(0, dst, weighted[src])
    total = sizes.index_add(0, dst, sizes[src])
    keep = torch.ones(n, dtype=torch.bool)
    keep[src] = False
    rows = torch.nonzero(keep).flatten()
    return KeptTokens(weighted[rows] / total[rows, None], positions[rows], rows, total[rows])

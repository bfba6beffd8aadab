"""Attention over a packed sequence: each segment (one image, or one frame) attends only to
itself, i.e. a block-diagonal attention pattern, never across images.

Three implementations, all exact (they agree to float32 rounding):

- ``"loop"``: one ``scaled_dot_product_attention`` call per segment (what transformers
  does for Qwen2-VL without flash-attention). Work is sum(L_i^2).
- ``"mask"``: one SDPA call with a boolean (N, N) block-diagonal mask. Work is N^2 (the
  CPU flash kernel runs, but over every block, after turning the mask into an additive
  float (N, N) tensor).
- ``"flex"``: ``torch.nn.attention.flex_attention`` with a block mask built from segment
  ids, compiled with ``torch.compile`` (recompiles for every new total length).

``"auto"`` is the loop, and a single segment is one plain SDPA call: the mask does N^2
work whatever the segments, and compiled flex, which skips empty blocks, runs a slower
CPU kernel than SDPA's and compiles anew for every total length. The timings behind
this choice are in ``docs/performance.md`` (``benchmarks/bench_encode.py --flex``
reprints them).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from ..errors import ShapeError, SpecError

IMPLEMENTATIONS = ("auto", "loop", "mask", "flex")


def segment_ids(lengths: tuple[int, ...], device: torch.device | None = None) -> torch.Tensor:
    """(N,) segment index of every position of a packed sequence."""
    return torch.repeat_interleave(torch.arange(len(lengths), device=device), torch.tensor(lengths, device=device))


def block_diagonal_mask(lengths: tuple[int, ...], device: torch.device | None = None) -> torch.Tensor:
    """(N, N) bool, True where query and key belong to the same segment."""
    ids = segment_ids(lengths, device)
    return ids[:, None] == ids[None, :]


@functools.lru_cache(maxsize=1)
def _compiled_flex():
    from torch.nn.attention.flex_attention import flex_attention

    return torch.compile(flex_attention, dynamic=False)


def _flex(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lengths: tuple[int, ...]) -> torch.Tensor:
    from torch.nn.attention.flex_attention import create_block_mask

    ids = segment_ids(lengths, q.device)
    n = q.shape[-2]

    def same_segment(b, h, q_idx, kv_idx):
        return ids[q_idx] == ids[kv_idx]

    block_mask = create_block_mask(same_segment, None, None, n, n, device=q.device)
    return _compiled_flex()(q, k, v, block_mask=block_mask)


def packed_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lengths: tuple[int, ...], impl: str = "auto"
) -> torch.Tensor:
    """Block-diagonal attention of q, k, v (B, heads, N, head_dim), N = sum(lengths)."""
    if impl not in IMPLEMENTATIONS:
        raise SpecError(f"unknown attention implementation {impl!r}; choose from {IMPLEMENTATIONS}")
    if not lengths or min(lengths) < 1 or q.shape[-2] != sum(lengths):
        raise ShapeError(
            f"a sequence of {q.shape[-2]} tokens vs segments {tuple(lengths)} (each at least 1, summing to it)"
        )
    if len(lengths) == 1:
        return F.scaled_dot_product_attention(q, k, v)
    if impl in ("auto", "loop"):
        parts = zip(q.split(lengths, -2), k.split(lengths, -2), v.split(lengths, -2))
        return torch.cat([F.scaled_dot_product_attention(a, b, c) for a, b, c in parts], dim=-2)
    if impl == "mask":
        return F.scaled_dot_product_attention(q, k, v, attn_mask=block_diagonal_mask(lengths, q.device))
    return _flex(q, k, v, lengths)


def attention_with_probs(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Explicit softmax attention: (output (B, heads, N, hd), probabilities (B, heads, N, N)).

    Used only at the layer whose attention a caller asked for (token pruning needs it).
    """
    scores = (q @ k.transpose(-2, -1)) * (q.shape[-1] ** -0.5)
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool else scores + attn_mask
    probs = scores.softmax(dim=-1, dtype=torch.float32).to(q.dtype)
    return probs @ v, probs

"""Attention over a packed sequence: each segment (one image, or one frame) attends only to
itself, i.e. a block-diagonal attention pattern, never across images.

Three implementations, all exact (they agree to float32 rounding), and ``"auto"``:

- ``"loop"``: one ``scaled_dot_product_attention`` call per segment (what transformers
  does for Qwen2-VL without flash-attention). Work is sum(L_i^2).
- ``"mask"``: one SDPA call with a boolean (N, N) block-diagonal mask. Work is N^2 (the
  CPU flash kernel runs, but over every block, after turning the mask into an additive
  float (N, N) tensor).
- ``"flex"``: ``torch.nn.attention.flex_attention`` with a block mask built from segment
  ids, compiled with ``torch.compile`` (recompiles for every new total length).

``"auto"`` is the loop, with one refinement: a run of consecutive segments of equal
length (Qwen2.5-VL's full windows, images of one size) is one batched SDPA call over
(runs, heads, L, head_dim) instead of one call each (exact: the same per-segment
softmax). On a CUDA device ``"auto"`` first tries a variable-length kernel
(``"varlen"``: FlashAttention's ``cu_seqlens`` form for float16/bfloat16, the
memory-efficient kernel's for float32; torch's own ``aten`` ops), which does sum(L_i^2)
work in one launch. Each kernel is checked once per device and dtype against the batched
loop on the first input it sees, and used only if it agrees to the dtype's rounding; a
kernel that is missing, raises, or disagrees is never tried again and the loop runs. A single segment is one plain SDPA call. The mask does N^2 work whatever the
segments, and compiled flex, which skips empty blocks, runs a slower CPU kernel than
SDPA's and compiles anew for every total length. The timings behind this choice are in
``docs/performance.md`` (``benchmarks/bench_encode.py --flex`` reprints them; its
section 4 times the batched runs against the plain loop).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from ..errors import ShapeError, SpecError

IMPLEMENTATIONS = ("auto", "loop", "mask", "flex", "varlen")  # auto: varlen on CUDA if it checks out, else the loop
# Agreement the first-use check asks of a varlen kernel, relative to the output's magnitude:
# a few units of the dtype's rounding over a softmax-weighted sum of head_dim products.
VARLEN_TOLERANCE = {torch.float32: 1e-4, torch.float16: 4e-3, torch.bfloat16: 3e-2}
_VARLEN_CHECKED: dict[tuple[str, torch.dtype], bool] = {}


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


def equal_runs(lengths: tuple[int, ...]) -> list[tuple[int, int]]:
    """(segment length, how many in a row) for each run of consecutive equal lengths."""
    runs: list[tuple[int, int]] = []
    for length in lengths:
        if runs and runs[-1][0] == length:
            runs[-1] = (length, runs[-1][1] + 1)
        else:
            runs.append((length, 1))
    return runs


def _batched_runs(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lengths: tuple[int, ...]) -> torch.Tensor:
    """The per-segment loop, with each run of equal segments batched into one SDPA call."""
    B, H = q.shape[:2]
    out, start = [], 0
    for length, count in equal_runs(lengths):
        end = start + length * count
        if count == 1:
            out.append(F.scaled_dot_product_attention(q[..., start:end, :], k[..., start:end, :], v[..., start:end, :]))
        else:

            def batch(t: torch.Tensor) -> torch.Tensor:  # (B, H, count*L, d) -> (B*count, H, L, d)
                return t[..., start:end, :].unflatten(-2, (count, length)).transpose(1, 2).reshape(B * count, H, length, -1)

            o = F.scaled_dot_product_attention(batch(q), batch(k), batch(v))
            out.append(o.view(B, count, H, length, -1).transpose(1, 2).reshape(B, H, count * length, -1))
        start = end
    return torch.cat(out, dim=-2)


def _cu_seqlens(lengths: tuple[int, ...], device: torch.device) -> torch.Tensor:
    return torch.tensor((0, *lengths), device=device, dtype=torch.int32).cumsum(0, dtype=torch.int32)


def _varlen(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lengths: tuple[int, ...]) -> torch.Tensor:
    """One variable-length kernel launch over (1, heads, N, head_dim) inputs (CUDA only)."""
    if q.shape[0] != 1:
        raise ShapeError(f"varlen attention takes one packed sequence (batch 1), got batch {q.shape[0]}")
    cu, longest = _cu_seqlens(lengths, q.device), max(lengths)
    if q.dtype in (torch.float16, torch.bfloat16):  # FlashAttention: (N, heads, head_dim)
        q_, k_, v_ = (t[0].transpose(0, 1).contiguous() for t in (q, k, v))
        out = torch.ops.aten._flash_attention_forward(q_, k_, v_, cu, cu, longest, longest, 0.0, False, False)[0]
        return out.transpose(0, 1).unsqueeze(0)
    q_, k_, v_ = (t.transpose(1, 2).contiguous() for t in (q, k, v))  # memory-efficient: (1, N, heads, head_dim)
    out = torch.ops.aten._efficient_attention_forward(q_, k_, v_, None, cu, cu, longest, longest, 0.0, 0)[0]
    return out.transpose(1, 2)


def varlen_usable(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, lengths: tuple[int, ...],
                  kernel=_varlen) -> bool:
    """Whether the varlen kernel may serve this device and dtype: decided once, on the
    first input, by running it beside the batched loop (see the module's docstring)."""
    key = (q.device.type, q.dtype)
    if key not in _VARLEN_CHECKED:
        ok = False
        if q.shape[0] == 1 and q.dtype in VARLEN_TOLERANCE:
            try:
                ours, ref = kernel(q, k, v, lengths), _batched_runs(q, k, v, lengths)
                scale = ref.abs().max().item() or 1.0
                ok = ours.shape == ref.shape and (ours - ref).abs().max().item() <= VARLEN_TOLERANCE[q.dtype] * scale
            except (RuntimeError, TypeError, NotImplementedError, AttributeError, ShapeError):
                ok = False  # not built into this torch, or not for this device, head size or dtype
        _VARLEN_CHECKED[key] = ok
    return _VARLEN_CHECKED[key] and q.shape[0] == 1


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
    if impl == "auto":
        if q.is_cuda and varlen_usable(q, k, v, lengths):
            return _varlen(q, k, v, lengths)
        return _batched_runs(q, k, v, lengths)
    if impl == "varlen":
        return _varlen(q, k, v, lengths)
    if impl == "loop":
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

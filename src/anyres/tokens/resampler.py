"""A perceiver resampler: N learned queries, one cross-attention, 2-D sin-cos key positions.

Follows MiniCPM-V 2.6's ``Resampler`` (openbmb resampler.py), parameter names included
(``query``, ``kv_proj``, ``attn.in_proj_weight/in_proj_bias/out_proj``, ``ln_q``,
``ln_kv``, ``ln_post``, ``proj``) so its weights load as they are:

    kv = ln_kv(kv_proj(x));  q = ln_q(query)
    out = MultiheadAttention(q, key=kv + pos(h, w), value=kv)   # queries carry no position
    return ln_post(out) @ proj

``pos(h, w)`` is the 2-D sin-cos table for the view's own (h, w) patch grid. Its first
half encodes the *column* and its second half the *row* (the reference builds
``meshgrid(grid_w, grid_h)`` and encodes ``grid[0]``, the column, first, although it
names that half ``emb_h``); each half is [sin(p*w_i), cos(p*w_i)] with
w_i = 10000^(-i/(D/4)), i < D/4.

``pos_mode="interpolate"`` is LLaVA-UHD's variant: a fixed ``pos_grid`` x ``pos_grid``
sin-cos table bicubically resized (align_corners=False) to (h, w) instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError, ShapeError, SpecError
from .weights import find_module, load_renamed


def sincos_1d(dim: int, pos: torch.Tensor) -> torch.Tensor:
    """(n,) positions -> (n, dim): [sin(p*w), cos(p*w)], w_i = 10000^(-i/(dim/2))."""
    if dim < 2 or dim % 2:
        raise SpecError(f"a 1-D sin-cos embedding needs an even width, got {dim}")
    omega = torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0)
    omega = 1.0 / 10000**omega
    out = pos.to(torch.float64)[:, None] * omega[None]
    return torch.cat([out.sin(), out.cos()], dim=1)


def sincos_2d(dim: int, rows: int, cols: int) -> torch.Tensor:
    """(rows*cols, dim) row-major table: column code first, row code second (MiniCPM-V)."""
    if dim % 4:
        raise SpecError(f"a 2-D sin-cos embedding needs a width divisible by 4, got {dim}")
    r = torch.arange(rows).repeat_interleave(cols)
    c = torch.arange(cols).repeat(rows)
    return torch.cat([sincos_1d(dim // 2, c), sincos_1d(dim // 2, r)], dim=1).float()


class CrossAttention(nn.Module):
    """``nn.MultiheadAttention``'s parameters (packed in-projection), computed with SDPA."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise SpecError(f"width {dim} does not split into {num_heads} heads")
        self.num_heads = num_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_padding: torch.Tensor | None = None) -> torch.Tensor:
        """q (B, Q, D), k and v (B, L, D); ``key_padding`` (B, L) True where a key is padding."""
        b, nq, d = q.shape
        wq, wk, wv = self.in_proj_weight.chunk(3)
        bq, bk, bv = self.in_proj_bias.chunk(3)
        h = self.num_heads

        def heads(x: torch.Tensor) -> torch.Tensor:
            return x.reshape(b, x.shape[1], h, d // h).transpose(1, 2)

        mask = None
        if key_padding is not None:
            mask = (~key_padding)[:, None, None, :]
        out = F.scaled_dot_product_attention(heads(F.linear(q, wq, bq)), heads(F.linear(k, wk, bk)), heads(F.linear(v, wv, bv)), attn_mask=mask)
        return self.out_proj(out.transpose(1, 2).reshape(b, nq, d))


class Resampler(nn.Module):
    def __init__(
        self,
        num_queries: int,
        embed_dim: int,
        num_heads: int,
        kv_dim: int | None = None,
        pos_mode: str = "sincos",
        pos_grid: int = 24,
        eps: float = 1e-6,
    ) -> None:
        super().__init__()
        if pos_mode not in ("sincos", "interpolate"):
            raise SpecError(f"pos_mode must be 'sincos' or 'interpolate', got {pos_mode!r}")
        self.num_queries, self.embed_dim, self.pos_mode, self.pos_grid = num_queries, embed_dim, pos_mode, pos_grid
        self.query = nn.Parameter(torch.randn(num_queries, embed_dim) * 0.02)
        self.kv_proj = nn.Linear(kv_dim, embed_dim, bias=False) if kv_dim not in (None, embed_dim) else nn.Identity()
        self.attn = CrossAttention(embed_dim, num_heads)
        self.ln_q = nn.LayerNorm(embed_dim, eps=eps)
        self.ln_kv = nn.LayerNorm(embed_dim, eps=eps)
        self.ln_post = nn.LayerNorm(embed_dim, eps=eps)
        self.proj = nn.Parameter(embed_dim**-0.5 * torch.randn(embed_dim, embed_dim))
        sincos_2d(embed_dim, 1, 1)  # checks the width

    def key_positions(self, rows: int, cols: int) -> torch.Tensor:
        if self.pos_mode == "sincos":
            return sincos_2d(self.embed_dim, rows, cols)
        g = self.pos_grid
        table = sincos_2d(self.embed_dim, g, g).reshape(1, g, g, -1).permute(0, 3, 1, 2)
        out = F.interpolate(table, size=(rows, cols), mode="bicubic", align_corners=False)
        return out.permute(0, 2, 3, 1).reshape(rows * cols, -1)

    def forward(self, features: Sequence[torch.Tensor], grids: Sequence[tuple[int, int]]) -> torch.Tensor:
        """Views of different sizes at once: features[i] (h_i*w_i, kv_dim) row-major for
        grids[i] = (h_i, w_i) -> (len(features), num_queries, embed_dim)."""
        if len(features) != len(grids):
            raise ShapeError(f"{len(features)} feature maps but {len(grids)} grids")
        if not features:
            return self.query.new_zeros(0, self.num_queries, self.embed_dim)
        lengths = [h * w for h, w in grids]
        for x, (h, w) in zip(features, grids):
            if x.dim() != 2 or x.shape[0] != h * w:
                raise ShapeError(f"features of shape {tuple(x.shape)} do not fill a {h}x{w} grid")
        longest = max(lengths)
        b = len(features)
        kv = self.ln_kv(self.kv_proj(torch.nn.utils.rnn.pad_sequence(list(features), batch_first=True)))
        pos = kv.new_zeros(b, longest, self.embed_dim)
        padding = torch.ones(b, longest, dtype=torch.bool, device=kv.device)
        for i, (h, w) in enumerate(grids):
            pos[i, : h * w] = self.key_positions(h, w).to(kv)
            padding[i, : h * w] = False
        q = self.ln_q(self.query).expand(b, -1, -1)
        out = self.attn(q, kv + pos, kv, key_padding=padding if min(lengths) < longest else None)
        return self.ln_post(out) @ self.proj

    def load_reference(self, state_dict: Mapping[str, torch.Tensor]) -> "Resampler":
        """Weights from a MiniCPM-V / LLaVA-UHD checkpoint (``resampler.*``, or the
        resampler's own state dict; the non-persistent ``pos_embed`` cache is ignored)."""
        try:
            _, tensors = find_module(state_dict, ["resampler"])
        except CheckpointError:
            tensors = dict(state_dict)
        tensors = {k: v for k, v in tensors.items() if k != "pos_embed"}
        load_renamed(self, tensors)
        return self


def default_heads(width: int) -> int:
    """MiniCPM-V uses width // 128 heads; fall back to fewer heads for small widths."""
    heads = max(1, width // 128)
    while width % heads:
        heads -= 1
    return heads


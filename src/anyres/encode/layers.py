"""The pre-norm transformer block shared by the CLIP, SigLIP and Qwen-VL vision towers.

    x = x + attn(norm1(x));  x = x + mlp(norm2(x))

The norm is a LayerNorm (CLIP, SigLIP, Qwen2-VL, Qwen3-VL) or an RMSNorm (Qwen2.5-VL,
Pixtral); the MLP is fc1 -> act -> fc2, or gated (SwiGLU: down(act(gate(x)) * up(x)),
Qwen2.5-VL, Pixtral). Every linear layer has a bias except in Pixtral (``bias=False``).

Attention has one fused QKV projection (rows [q; k; v]); the checkpoints' separate q/k/v
projections are concatenated by the state-dict converters. A block runs on a batch of
equal-length sequences (B, N, D), optionally cut into segments (the same cut for every
row: packed images, or Qwen2.5-VL's windows) that attend only to themselves.

Without autograd (``torch.no_grad``/``inference_mode``) a block updates the residual
stream ``x`` in place: the two residual adds ride inside the output GEMMs
(``addmm_`` with beta=1) and the MLP activation runs in place, which saves four
large temporaries and two memory passes per block (CPU inference is memory-bound
outside the GEMMs). With autograd on, the plain out-of-place path runs.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import SpecError
from .attention import attention_with_probs, block_diagonal_mask, packed_attention
from .rope import apply_rope


def quick_gelu(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(1.702 * x)


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="tanh")


def quick_gelu_(x: torch.Tensor) -> torch.Tensor:
    """In place: x * sigmoid(1.702 x) = silu(1.702 x) / 1.702."""
    return F.silu(x.mul_(1.702), inplace=True).div_(1.702)


# transformers' ACT2FN names for the activations these towers use: (function, in-place variant).
ACTIVATIONS: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]] = {
    "quick_gelu": (quick_gelu, quick_gelu_),
    "gelu": (F.gelu, torch.ops.aten.gelu_),
    "gelu_pytorch_tanh": (gelu_tanh, lambda x: torch.ops.aten.gelu_(x, approximate="tanh")),
    "gelu_new": (gelu_tanh, lambda x: torch.ops.aten.gelu_(x, approximate="tanh")),
    "gelu_fast": (gelu_tanh, lambda x: torch.ops.aten.gelu_(x, approximate="tanh")),
    "silu": (F.silu, lambda x: F.silu(x, inplace=True)),
}


def add_linear_(residual: torch.Tensor, x: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    """residual += layer(x) in place, the add fused into the GEMM (``residual`` contiguous)."""
    flat = residual.view(-1, residual.shape[-1])
    flat.addmm_(x.reshape(-1, x.shape[-1]), layer.weight.t())
    if layer.bias is not None:
        flat.add_(layer.bias)
    return residual


class Probe(NamedTuple):
    """What one block reports when asked: head-averaged attention and its keys."""

    attention: torch.Tensor  # (B, N, N)
    keys: torch.Tensor  # (B, N, D)


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int, bias: bool = True):
        super().__init__()
        if num_heads < 1 or dim % num_heads:
            raise SpecError(f"attention width {dim} does not split into {num_heads} heads")
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=bias)
        self.proj = nn.Linear(dim, dim, bias=bias)
        self.impl = "auto"  # packed attention implementation, see attention.py

    def heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q, k, v of (B, N, D) inputs, each (B, heads, N, head_dim) (a subclass may
        normalise them first: InternViT's QK norm)."""
        B, N, _ = x.shape
        return self.qkv(x).view(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)

    def forward(
        self,
        x: torch.Tensor,
        *,
        segments: tuple[int, ...] | None = None,
        rope: tuple[torch.Tensor, torch.Tensor] | None = None,
        attn_mask: torch.Tensor | None = None,
        probe: bool = False,
        residual: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, Probe | None]:
        """Attention output, or ``residual`` + it (in place) when a residual is given."""
        B, N, D = x.shape
        q, k, v = self.heads(x)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        found = None
        if probe:
            if segments is not None and len(segments) > 1:  # windows: the probabilities stay block-diagonal
                attn_mask = block_diagonal_mask(segments, x.device)
            out, probs = attention_with_probs(q, k, v, attn_mask)
            found = Probe(probs.mean(dim=1), k.transpose(1, 2).reshape(B, N, D))
        elif segments is not None:  # every row of the batch is cut into the same segments
            out = packed_attention(q, k, v, segments, self.impl)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        out = out.transpose(1, 2).reshape(B, N, D)
        if residual is not None:
            return add_linear_(residual, out, self.proj), found
        return self.proj(out), found


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, act: str, bias: bool = True):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden, bias=bias)
        self.fc2 = nn.Linear(hidden, dim, bias=bias)
        self.act, self.act_ = ACTIVATIONS[act]

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        """MLP output, or ``residual`` + it (in place, no autograd) when a residual is given."""
        if residual is None:
            return self.fc2(self.act(self.fc1(x)))
        return add_linear_(residual, self.act_(self.fc1(x)), self.fc2)


class GatedMlp(nn.Module):
    """SwiGLU-style: down(act(gate(x)) * up(x)) (Qwen2.5-VL's vision MLP, with biases;
    Pixtral's, without)."""

    def __init__(self, dim: int, hidden: int, act: str, bias: bool = True):
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden, bias=bias)
        self.up_proj = nn.Linear(dim, hidden, bias=bias)
        self.down_proj = nn.Linear(hidden, dim, bias=bias)
        self.act, self.act_ = ACTIVATIONS[act]

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        if residual is None:
            return self.down_proj(self.act(self.gate_proj(x)) * self.up_proj(x))
        return add_linear_(residual, self.act_(self.gate_proj(x)).mul_(self.up_proj(x)), self.down_proj)


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * weight, normalised in float32 and cast back before the
    weight is applied (transformers' Qwen2RMSNorm order, which matters in bfloat16)."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.to(x.dtype)


NORMS = {"layer": nn.LayerNorm, "rms": RMSNorm}


class Block(nn.Module):
    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_hidden: int,
        act: str,
        eps: float,
        *,
        norm: str = "layer",
        gated: bool = False,
        bias: bool = True,
    ):
        super().__init__()
        self.norm1 = NORMS[norm](dim, eps=eps)
        self.attn = Attention(dim, num_heads, bias=bias)
        self.norm2 = NORMS[norm](dim, eps=eps)
        self.mlp = (GatedMlp if gated else Mlp)(dim, mlp_hidden, act, bias=bias)

    def forward(self, x: torch.Tensor, probe: bool = False, **attn_kwargs) -> tuple[torch.Tensor, Probe | None]:
        if torch.is_grad_enabled() or not x.is_contiguous():
            a, found = self.attn(self.norm1(x), probe=probe, **attn_kwargs)
            x = x + a
            return x + self.mlp(self.norm2(x)), found
        x, found = self.attn(self.norm1(x), probe=probe, residual=x, **attn_kwargs)
        return self.mlp(self.norm2(x), residual=x), found


def run_blocks(
    blocks: nn.ModuleList, x: torch.Tensor, probe: bool = False, **attn_kwargs
) -> tuple[torch.Tensor, Probe | None]:
    """Run every block; with ``probe`` the last block reports its attention (the feature layer).

    Without autograd ``x`` is updated in place (pass a tensor you own)."""
    found = None
    for i, block in enumerate(blocks):
        x, found = block(x, probe=probe and i == len(blocks) - 1, **attn_kwargs)
    return x, found

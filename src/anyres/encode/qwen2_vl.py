"""The Qwen2-VL vision tower (``Qwen2VisionTransformerPretrainedModel``).

- Patch embedding: a Conv3d whose kernel equals its stride over (C, t, p, p) patch
  vectors, i.e. a bias-free linear layer on the flattened vectors.
- No absolute positions: 2-D RoPE (``rope.py``) on q and k in every block.
- Pre-norm blocks (LayerNorm eps 1e-6, fused qkv, MLP of ``mlp_ratio`` x width, quick_gelu).
- Packed input: each image (each frame of a video) attends only to itself.
- PatchMerger: LayerNorm -> group every ``merge_size``^2 consecutive patches (the
  packed order keeps merge blocks contiguous) -> Linear -> GELU -> Linear, to the
  language model's width (``hidden_size``).

``hidden_states[i]`` counts like transformers' (0 = patch embeddings, -1 = last block);
the merger runs on the feature layer's output (-1 is what Qwen2-VL itself uses).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ShapeError
from .base import EncoderOutput, VisionEncoder, check_feature_layer, check_packed, grid_rows, patchify
from .layers import Block, run_blocks
from .rope import grid_positions, packed_positions, rope_2d


@dataclass(frozen=True)
class Qwen2VLConfig:
    embed_dim: int
    hidden_size: int  # merger output width
    num_layers: int
    num_heads: int
    mlp_ratio: float = 4.0
    patch_size: int = 14
    temporal_patch_size: int = 2
    merge_size: int = 2
    num_channels: int = 3
    act: str = "quick_gelu"
    rope_theta: float = 10000.0


class PatchMerger(nn.Module):
    def __init__(self, dim: int, out_dim: int, merge_size: int):
        super().__init__()
        self.group = merge_size**2
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = nn.Linear(dim * self.group, dim * self.group)
        self.fc2 = nn.Linear(dim * self.group, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., n, dim) -> (..., n / merge^2, out_dim)."""
        *lead, n, dim = x.shape
        if n % self.group:
            raise ShapeError(f"{n} patches do not form whole merge groups of {self.group}")
        x = self.norm(x).reshape(*lead, n // self.group, dim * self.group)
        return self.fc2(F.gelu(self.fc1(x)))


class Qwen2VLEncoder(VisionEncoder):
    """Qwen2-VL vision tower truncated at ``feature_layer``; outputs merged tokens."""

    family = "qwen2_vl"
    has_cls = False
    image_size = None  # native resolution: no trained grid

    def __init__(self, cfg: Qwen2VLConfig, feature_layer: int):
        super().__init__()
        check_feature_layer(feature_layer, cfg.num_layers)
        d = cfg.embed_dim
        self.cfg = cfg
        self.patch_size, self.temporal_patch_size, self.merge_size = (
            cfg.patch_size,
            cfg.temporal_patch_size,
            cfg.merge_size,
        )
        self.hidden_size, self.num_channels, self.feature_layer = cfg.hidden_size, cfg.num_channels, feature_layer
        self.head_dim = d // cfg.num_heads
        self.patch_embed = nn.Linear(cfg.num_channels * cfg.temporal_patch_size * cfg.patch_size**2, d, bias=False)
        self.blocks = nn.ModuleList(
            Block(d, cfg.num_heads, int(d * cfg.mlp_ratio), cfg.act, 1e-6) for _ in range(feature_layer)
        )
        self.merger = PatchMerger(d, cfg.hidden_size, cfg.merge_size)

    def forward_features(
        self, pixel_values: torch.Tensor, *, keep_cls: bool = False, output_attention: bool = False
    ) -> torch.Tensor | EncoderOutput:
        """Views of one shape, each a still image. With ``output_attention`` the attention
        and keys are over the view's unmerged patches (in merge-block order)."""
        B, C, H, W = self.check_views(pixel_values, output_attention)
        p, m = self.patch_size, self.merge_size
        dtype = self.patch_embed.weight.dtype
        x = self.patch_embed(patchify(pixel_values.to(dtype), p, m, self.temporal_patch_size))
        rope = rope_2d(grid_positions(1, H // p, W // p, m).to(x.device), self.head_dim, self.cfg.rope_theta)
        x, probe = run_blocks(self.blocks, x, probe=output_attention, rope=rope)
        features = self.merger(x)
        assert features.shape == (B, self.tokens_per_view(H, W), self.hidden_size)  # invariant
        if output_attention:
            return EncoderOutput(features, probe.attention, probe.keys, 0)
        return features

    def forward_packed(
        self, patches: torch.Tensor, grid_thw: torch.Tensor | list, *, keep_cls: bool = False
    ) -> torch.Tensor:
        rows = grid_rows(grid_thw)
        m = self.merge_size
        check_packed(patches, rows, self.patch_embed.in_features, self.family)
        if any(h % m or w % m for _, h, w in rows):
            raise ShapeError(f"{self.family}: grid_thw h and w must be multiples of the merge size {m}, got {rows}")
        x = self.patch_embed(patches.to(self.patch_embed.weight.dtype)).unsqueeze(0)
        rope = rope_2d(packed_positions(rows, m).to(x.device), self.head_dim, self.cfg.rope_theta)
        segments = tuple(h * w for t, h, w in rows for _ in range(t))
        x, _ = run_blocks(self.blocks, x, segments=segments, rope=rope)
        return self.merger(x[0])


_RENAMES = {
    "merger.ln_q.": "merger.norm.",
    "merger.mlp.0.": "merger.fc1.",
    "merger.mlp.2.": "merger.fc2.",
}
_BLOCK = re.compile(r"^blocks\.\d+\.(norm1|norm2|attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2)\.(weight|bias)$")


def qwen2_vl_state_dict(hf: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A transformers Qwen2-VL vision-tower state dict (prefix removed) -> ``Qwen2VLEncoder``'s.

    Block names already match; the Conv3d becomes a linear layer over (C, t, p, p)
    vectors and the merger's Sequential indices get names. Unknown keys pass through.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in hf.items():
        if key == "patch_embed.proj.weight":
            out["patch_embed.weight"] = value.reshape(value.shape[0], -1)
            continue
        if _BLOCK.match(key):
            out[key] = value
            continue
        for old, new in _RENAMES.items():
            if key.startswith(old):
                out[new + key[len(old) :]] = value
                break
        else:
            out[key] = value
    return out

"""The Qwen3-VL vision tower (``Qwen3VLVisionModel``).

Qwen2-VL's tower (``qwen2_vl.py``: packed images, 2-D RoPE in every block, LayerNorm
blocks, 2x2 patch merger) with these changes:

- 16 px patches; the patch embedding has a bias; the MLP is fc1 -> gelu (tanh) -> fc2 of
  ``intermediate_size``;
- learned absolute position embeddings on a square ``side x side`` grid
  (``num_position_embeddings = side^2``), resampled to every image's patch grid by
  bilinear interpolation with aligned corners (``interpolated_positions``), added to the
  patch embeddings (RoPE still rotates q and k in every block);
- DeepStack: after each block listed in ``deepstack_visual_indexes`` the hidden states go
  through a merger of their own (its LayerNorm over the grouped 2x2 vector) and are
  returned beside the main tokens, same rows: the language model adds level ``i`` to its
  hidden states after its layer ``i``, at the image token positions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import SpecError
from .config import DEFAULT_LIMITS, ConfigLimits, FieldReader, check_parameters, check_rope_heads, layer_indexes, rope_theta
from .layers import ACTIVATIONS, Probe
from .qwen2_vl import PatchMerger, Qwen2VLConfig, Qwen2VLEncoder, qwen2_vl_state_dict
from .rope import block_positions
from .towers import TowerFamily, register_tower


@dataclass(frozen=True)
class Qwen3VLConfig(Qwen2VLConfig):
    num_position_embeddings: int = 2304
    deepstack_indexes: tuple[int, ...] = (8, 16, 24)


def bilinear_taps(index: torch.Tensor, size: int, side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 2) source rows and (n, 2) weights that resample ``side`` positions to ``size``
    with aligned corners: source = index * (side - 1) / (size - 1) in float32 (0 when
    ``size`` is 1), taps floor and floor + 1 clamped to the table, linear weights."""
    src = index.float() * (side - 1) / max(size - 1, 1)
    floor = src.floor()
    offsets = torch.arange(2, device=index.device)
    taps = (floor.long()[:, None] + offsets).clamp(0, side - 1)
    weights = (1 - (src[:, None] - floor[:, None] - offsets).abs()).clamp(min=0)
    return taps, weights


def interpolated_positions(table: torch.Tensor, height: int, width: int, merge_size: int) -> torch.Tensor:
    """A (side^2, D) position table resampled to an h x w patch grid: (h*w, D) float32 rows
    in merge-block order, each the weighted sum of its 4 bilinear taps (the arithmetic of
    transformers' ``get_vision_interpolation_indices_and_weights`` + weighted embedding sum,
    bilinear, align_corners=True)."""
    side = math.isqrt(table.shape[0])
    rows, cols = block_positions(1, height, width, merge_size).to(table.device).unbind(-1)
    row_taps, row_weights = bilinear_taps(rows, height, side)
    col_taps, col_weights = bilinear_taps(cols, width, side)
    index = (row_taps[:, :, None] * side + col_taps[:, None, :]).reshape(-1, 4)
    weights = (row_weights[:, :, None] * col_weights[:, None, :]).reshape(-1, 4)
    return (table[index] * weights[:, :, None]).sum(1)


class Qwen3VLEncoder(Qwen2VLEncoder):
    """Qwen3-VL vision tower truncated at ``feature_layer``; merged tokens and DeepStack levels."""

    family = "qwen3_vl"

    def __init__(self, cfg: Qwen3VLConfig, feature_layer: int):
        super().__init__(cfg, feature_layer)
        late = [i for i in cfg.deepstack_indexes if not 0 <= i < feature_layer]
        if late:
            raise SpecError(
                f"qwen3_vl: DeepStack reads layers {list(cfg.deepstack_indexes)} but feature_layer={feature_layer} "
                f"runs only {feature_layer} of {cfg.num_layers} layers (layers {late} would not run); "
                f"use feature_layer >= {max(late) + 1} or -1"
            )
        self.deepstack_levels = len(cfg.deepstack_indexes)
        d, m = cfg.embed_dim, cfg.merge_size
        self.pos_embed = nn.Embedding(cfg.num_position_embeddings, d)
        self.deepstack_mergers = nn.ModuleList(
            PatchMerger(d, cfg.hidden_size, m, postshuffle=True) for _ in cfg.deepstack_indexes
        )

    def positions(self, rows: list[tuple[int, int, int]]) -> torch.Tensor:
        """(N, D) float32 interpolated position embeddings of packed images (one grid computed once)."""
        table = self.pos_embed.weight
        per_grid = {(h, w): interpolated_positions(table, h, w, self.merge_size) for _, h, w in set(rows)}
        return torch.cat([per_grid[h, w].repeat(t, 1) for t, h, w in rows])

    def encode(
        self, x: torch.Tensor, rows: list[tuple[int, int, int]], probe: bool = False
    ) -> tuple[torch.Tensor, Probe | None, tuple[torch.Tensor, ...]]:
        x = x + self.positions(rows).to(x.dtype)
        rope = self.rope(rows, x.device)
        segments = tuple(h * w for t, h, w in rows for _ in range(t))
        indexes = list(self.cfg.deepstack_indexes)
        levels, found = [], None
        for i, block in enumerate(self.blocks):
            x, found = block(x, probe=probe and i == len(self.blocks) - 1, segments=segments, rope=rope)
            if i in indexes:  # in layer order, each through the merger at its place in the list
                levels.append(self.deepstack_mergers[indexes.index(i)](x))
        return self.merger(x), found, tuple(levels)


def qwen3_vl_config(cfg: dict, folder: Path, limits: ConfigLimits = DEFAULT_LIMITS) -> Qwen3VLConfig:
    """Qwen3VLVisionConfig fields, with transformers 5.23's defaults (``hidden_size`` is the
    tower's width, ``out_hidden_size`` the mergers' output), checked (``config.py``) before
    anything is built from them."""
    read = FieldReader(cfg, folder, limits)
    embed = read.integer("hidden_size", default=1152, limit=limits.hidden_size)
    heads = read.integer("num_heads", "num_attention_heads", default=16, limit=limits.num_heads)
    check_rope_heads(read, "hidden_size", embed, "num_heads", heads)
    depth = read.integer("depth", "num_hidden_layers", default=27, limit=limits.num_layers)
    positions = read.integer("num_position_embeddings", default=2304, limit=limits.image_size**2)
    if math.isqrt(positions) ** 2 != positions:
        raise read.fail("num_position_embeddings", positions, "is not a square grid (side x side learned positions)")
    deepstack = layer_indexes(read, "deepstack_visual_indexes", (8, 16, 24), depth)
    out = Qwen3VLConfig(
        embed_dim=embed,
        hidden_size=read.integer("out_hidden_size", default=3584, limit=limits.hidden_size),
        num_layers=depth,
        num_heads=heads,
        intermediate_size=read.integer("intermediate_size", default=4304, limit=limits.intermediate_size),
        patch_size=read.integer("patch_size", default=16, limit=limits.patch_size),
        temporal_patch_size=read.integer("temporal_patch_size", default=2, limit=limits.temporal_patch_size),
        merge_size=read.integer("spatial_merge_size", default=2, limit=limits.merge_size),
        num_channels=read.integer("in_channels", default=3, limit=limits.num_channels),
        act=read.choice("hidden_act", "gelu_pytorch_tanh", ACTIVATIONS),
        rope_theta=rope_theta(read),
        patch_bias=True,
        num_position_embeddings=positions,
        deepstack_indexes=deepstack,
    )
    merged = embed * out.merge_size**2
    block = 4 * embed * embed + 2 * embed * out.mlp_hidden
    mergers = (1 + len(deepstack)) * (2 * merged * merged + merged * out.hidden_size)  # fc1, fc2 (+ norm)
    patch_in = out.num_channels * out.temporal_patch_size * out.patch_size**2
    check_parameters(read, depth * block + mergers + (positions + patch_in) * embed)
    return out


register_tower(TowerFamily(
    name="qwen3_vl", model_types=("qwen3_vl_vision", "qwen3_vl_moe_vision"), parents=("qwen3_vl", "qwen3_vl_moe"),
    anchor="patch_embed.proj.weight", feature_layer=-1,  # the same tower (the MoE model subclasses it unchanged)
    read_config=qwen3_vl_config, convert=qwen2_vl_state_dict, build=lambda cfg, depth, _: Qwen3VLEncoder(cfg, depth),
))

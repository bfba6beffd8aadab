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

import torch
from torch import nn

from .layers import Probe
from .qwen2_vl import PatchMerger, Qwen2VLConfig, Qwen2VLEncoder
from .rope import grid_positions


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
    rows, cols = grid_positions(1, height, width, merge_size).to(table.device).unbind(-1)
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
        from ..errors import SpecError

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


def qwen3_vl_config(cfg: dict, folder) -> Qwen3VLConfig:
    """Qwen3VLVisionConfig fields, with transformers 5.23's defaults (``hidden_size`` is the
    tower's width, ``out_hidden_size`` the mergers' output)."""
    from ..errors import CheckpointError
    from .load import _act, _float, _int

    rope = cfg.get("rope_parameters") or {}
    positions = _int(cfg, folder, "num_position_embeddings", default=2304)
    if math.isqrt(positions) ** 2 != positions:
        raise CheckpointError(f"{folder}: num_position_embeddings={positions} is not a square grid")
    deepstack = cfg.get("deepstack_visual_indexes", (8, 16, 24))
    if not isinstance(deepstack, (list, tuple)) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in deepstack
    ):
        raise CheckpointError(f"{folder}: deepstack_visual_indexes={deepstack!r} must be a list of layer indexes")
    return Qwen3VLConfig(
        embed_dim=_int(cfg, folder, "hidden_size", default=1152),
        hidden_size=_int(cfg, folder, "out_hidden_size", default=3584),
        num_layers=_int(cfg, folder, "depth", "num_hidden_layers", default=27),
        num_heads=_int(cfg, folder, "num_heads", "num_attention_heads", default=16),
        intermediate_size=_int(cfg, folder, "intermediate_size", default=4304),
        patch_size=_int(cfg, folder, "patch_size", default=16),
        temporal_patch_size=_int(cfg, folder, "temporal_patch_size", default=2),
        merge_size=_int(cfg, folder, "spatial_merge_size", default=2),
        num_channels=_int(cfg, folder, "in_channels", default=3),
        act=_act(cfg, folder, "gelu_pytorch_tanh"),
        rope_theta=_float(rope, folder, "rope_theta", 10000.0),
        patch_bias=True,
        num_position_embeddings=positions,
        deepstack_indexes=tuple(deepstack),
    )

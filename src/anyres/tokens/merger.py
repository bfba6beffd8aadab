"""Qwen2-VL's PatchMerger: LayerNorm -> concatenate each m x m block -> Linear -> GELU -> Linear.

Same parameter names as transformers' ``qwen2_vl.modeling_qwen2_vl.PatchMerger``
(``ln_q``, ``mlp.0``, ``mlp.2``), so its weights load from ``visual.merger.*``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from ..errors import CheckpointError, ShapeError
from .compress import space_to_depth
from .weights import find_module, load_renamed


class PatchMerger(nn.Module):
    def __init__(self, context_dim: int, out_dim: int, merge_size: int = 2, eps: float = 1e-6) -> None:
        super().__init__()
        self.merge_size = merge_size
        self.hidden_size = context_dim * merge_size**2
        self.ln_q = nn.LayerNorm(context_dim, eps=eps)
        self.mlp = nn.Sequential(
            nn.Linear(self.hidden_size, self.hidden_size), nn.GELU(), nn.Linear(self.hidden_size, out_dim)
        )

    def forward(self, x: torch.Tensor, grid: tuple[int, int] | None = None) -> torch.Tensor:
        """(N, c) patch features -> (N / m^2, out_dim).

        Without ``grid`` the rows are in Qwen2-VL's merge-block order (each m x m block
        contiguous, as its processor emits patches). With ``grid=(rows, cols)`` they are
        plain row-major and the blocks are gathered here; the output is then in
        block-row-major order, the same as Qwen2-VL's.
        """
        if x.dim() != 2 or x.shape[0] % self.merge_size**2:
            raise ShapeError(f"expected (N, c) with N a multiple of {self.merge_size ** 2}, got {tuple(x.shape)}")
        x = self.ln_q(x)
        if grid is not None:
            rows, cols = grid
            if rows * cols != x.shape[0]:
                raise ShapeError(f"grid {rows}x{cols} does not hold {x.shape[0]} patches")
            x = space_to_depth(x.reshape(rows, cols, -1), self.merge_size)
        return self.mlp(x.reshape(-1, self.hidden_size))

    def load_reference(self, state_dict: Mapping[str, torch.Tensor]) -> "PatchMerger":
        """Weights from a Qwen2-VL state dict (``visual.merger.*`` or a bare merger's)."""
        try:
            _, tensors = find_module(state_dict, ["merger"])
        except CheckpointError:  # the merger's own state dict
            tensors = dict(state_dict)
        load_renamed(self, tensors)
        return self


def block_order(rows: int, cols: int, merge_size: int = 2) -> torch.Tensor:
    """The permutation from row-major patch order to Qwen2-VL's merge-block order:
    ``x_blocks = x_row_major[block_order(rows, cols)]``."""
    if rows % merge_size or cols % merge_size:
        raise ShapeError(f"a {rows}x{cols} patch grid does not split into {merge_size}x{merge_size} blocks")
    idx = torch.arange(rows * cols).reshape(rows, cols, 1)
    return space_to_depth(idx, merge_size).flatten()

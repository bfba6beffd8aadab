"""Qwen2-VL's PatchMerger as a token-stage module: LayerNorm -> concatenate each m x m
block -> Linear -> GELU -> Linear.

There is one PatchMerger class, the one Qwen2-VL's tower runs
(``anyres.encode.qwen2_vl.PatchMerger``); it loads transformers' weights
(``visual.merger.*``: ``ln_q``, ``mlp.0``, ``mlp.2``) with ``load_reference`` and gathers
row-major patches into merge blocks with ``forward(x, grid=(rows, cols))``.
``block_order`` is the permutation from row-major patches to Qwen2-VL's block order.
"""

from __future__ import annotations

import torch

from ..encode.qwen2_vl import PatchMerger
from ..errors import ShapeError
from .compress import space_to_depth

__all__ = ["PatchMerger", "block_order"]


def block_order(rows: int, cols: int, merge_size: int = 2) -> torch.Tensor:
    """The permutation from row-major patch order to Qwen2-VL's merge-block order:
    ``x_blocks = x_row_major[block_order(rows, cols)]``."""
    if rows % merge_size or cols % merge_size:
        raise ShapeError(f"a {rows}x{cols} patch grid does not split into {merge_size}x{merge_size} blocks")
    idx = torch.arange(rows * cols).reshape(rows, cols, 1)
    return space_to_depth(idx, merge_size).flatten()

"""Learned k x k patch mergers.

- Qwen2-VL's PatchMerger (LayerNorm -> concatenate each m x m block -> Linear -> GELU ->
  Linear) runs inside Qwen2-VL's tower (``anyres.encode.qwen2_vl.PatchMerger``); it loads
  transformers' weights (``visual.merger.*``: ``ln_q``, ``mlp.0``, ``mlp.2``) with
  ``load_reference`` and gathers row-major patches into merge blocks with
  ``forward(x, grid=(rows, cols))``. ``block_order`` is the permutation from row-major
  patches to Qwen2-VL's block order.
- ``SpatialMerger`` is Mistral 3's, run by the token stage over a merge-free (Pixtral)
  tower's patch map: RMSNorm of each patch feature -> each k x k block unfolded
  channel-major (the vector is (width, k, k), as ``torch.nn.functional.unfold`` orders
  it) -> a bias-free Linear back to the tower's width. The projector (Linear -> GELU ->
  Linear) follows it. Built by the ``Assembler`` when the plan's connector is a learned
  ``patch-merger`` whose merge no tower applies (``factor`` not in ``tower_merges``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ..encode.layers import RMSNorm
from ..encode.qwen2_vl import PatchMerger
from ..errors import CheckpointError, ShapeError
from .compress import space_to_depth

__all__ = ["PatchMerger", "SpatialMerger", "block_order"]


def block_order(rows: int, cols: int, merge_size: int = 2) -> torch.Tensor:
    """The permutation from row-major patch order to Qwen2-VL's merge-block order:
    ``x_blocks = x_row_major[block_order(rows, cols)]``."""
    if rows % merge_size or cols % merge_size:
        raise ShapeError(f"a {rows}x{cols} patch grid does not split into {merge_size}x{merge_size} blocks")
    idx = torch.arange(rows * cols).reshape(rows, cols, 1)
    return space_to_depth(idx, merge_size).flatten()


class SpatialMerger(nn.Module):
    """RMSNorm -> k x k blocks unfolded channel-major -> bias-free Linear (Mistral 3's
    ``multi_modal_projector.norm`` and ``patch_merger.merging_layer``)."""

    def __init__(self, width: int, merge_size: int, eps: float = 1e-5):
        super().__init__()
        self.merge_size = merge_size
        self.norm = RMSNorm(width, eps=eps)
        self.merging_layer = nn.Linear(width * merge_size**2, width, bias=False)

    def forward(self, grid: torch.Tensor) -> torch.Tensor:
        """(rows, cols, width) patch map -> (rows // k, cols // k, width) merged map; a
        last odd row or column is left out, as ``unfold`` leaves it."""
        if grid.dim() != 3:
            raise ShapeError(f"a patch map is (rows, cols, width), got shape {tuple(grid.shape)}")
        k = self.merge_size
        rows, cols, width = grid.shape
        gh, gw = rows // k, cols // k
        if gh < 1 or gw < 1:
            raise ShapeError(f"a {rows}x{cols} patch map holds no {k}x{k} block")
        x = self.norm(grid[: gh * k, : gw * k])
        x = x.reshape(gh, k, gw, k, width).permute(0, 2, 4, 1, 3).reshape(gh, gw, width * k * k)
        return self.merging_layer(x)

    def load_reference(
        self, state_dict: Mapping[str, torch.Tensor], config: Mapping[str, Any] | None = None
    ) -> set[str]:
        """Load ``multi_modal_projector.norm`` and ``.patch_merger.merging_layer`` from a
        Mistral 3 state dict; with the folder's ``config``, the norm's eps is its
        ``text_config.rms_norm_eps`` (as transformers builds it). Returns the keys used."""
        from .weights import load_renamed

        suffixes = {"norm.weight": "norm.weight", "patch_merger.merging_layer.weight": "merging_layer.weight"}
        found: dict[str, torch.Tensor] = {}
        used: set[str] = set()
        for key, value in state_dict.items():
            for suffix, ours in suffixes.items():
                if key == f"multi_modal_projector.{suffix}" or key.endswith(f".multi_modal_projector.{suffix}"):
                    if ours in found:
                        raise CheckpointError(f"several multi_modal_projector.{suffix} tensors in the state dict")
                    found[ours] = value
                    used.add(key)
        if len(found) < len(suffixes):
            missing = sorted(f"multi_modal_projector.{s}" for s, o in suffixes.items() if o not in found)
            raise CheckpointError(f"the state dict lacks the patch merger's {', '.join(missing)}")
        if config is not None:
            self.norm.eps = merger_eps(config)
        load_renamed(self, found)
        return used


def merger_eps(config: Mapping[str, Any]) -> float:
    """``text_config.rms_norm_eps`` of a Mistral 3 config (transformers' default 1e-6),
    checked; a list ``vision_feature_layer`` (features of several layers concatenated)
    is refused: anyres reads one layer."""
    layer = config.get("vision_feature_layer", -1)
    if not isinstance(layer, int) or isinstance(layer, bool):
        raise CheckpointError(
            f"config vision_feature_layer={layer!r}: the token stage reads one feature layer (an integer)"
        )
    text = config.get("text_config") or {}
    eps = text.get("rms_norm_eps", 1e-6) if isinstance(text, Mapping) else None
    ok = isinstance(eps, (int, float)) and not isinstance(eps, bool) and math.isfinite(eps) and 0 < eps <= 1
    if not ok:
        raise CheckpointError(f"config text_config.rms_norm_eps={eps!r} must be a finite number in (0, 1]")
    return float(eps)

"""Absolute position embeddings resampled to any patch grid (pure functions, timm style).

A ViT trained at one resolution stores one embedding per patch of its native grid
(``old_hw``), optionally after ``num_prefix_tokens`` rows for CLS/register tokens. To
encode another grid the patch rows are viewed as a 2-D map and interpolated; the prefix
rows are kept as they are.

Parity with transformers (``interpolate_pos_encoding=True`` in CLIP and SigLIP, 5.23):
``F.interpolate(size=(new_h, new_w), mode="bicubic", align_corners=False)`` with **no
antialiasing**, in both directions, and no interpolation at all when the grid is the
native one. That is ``antialias=False`` here, which the encoders pass by default
(``load_encoder(..., pos_antialias=False)``). The function's own default,
``antialias=True``, is PyTorch's antialiased bicubic (timm's choice), applied only when
at least one axis shrinks:
note that PyTorch's antialiased path uses a different cubic kernel (a = -0.5 instead of
-0.75), so it also changes the numbers of an upsampled axis in a mixed resize.
Interpolation runs in float32 and is cast back (transformers interpolates in the weight
dtype, which only differs for half precision).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import ShapeError


def native_grid(num_patch_positions: int) -> tuple[int, int]:
    """The square (h, w) grid a checkpoint's ``num_patch_positions`` rows describe."""
    side = math.isqrt(num_patch_positions)
    if side * side != num_patch_positions:
        raise ShapeError(f"{num_patch_positions} patch position embeddings do not form a square grid")
    return side, side


def resample_abs_pos_embed(
    pos: torch.Tensor,
    new_hw: tuple[int, int],
    old_hw: tuple[int, int] | None = None,
    num_prefix_tokens: int = 0,
    *,
    mode: str = "bicubic",
    antialias: bool = True,
) -> torch.Tensor:
    """Resample position embeddings ``pos`` ((1,) P + old_h*old_w, D) to a ``new_hw`` grid.

    Returns (P + new_h*new_w, D), or with the leading 1 if ``pos`` had it. Rows are
    row-major over the grid; the P prefix rows pass through unchanged. ``old_hw``
    defaults to the square grid the rows imply. ``antialias`` applies only when some
    axis is downsampled; pass ``False`` for transformers' numbers (module docstring).
    """
    batched = pos.dim() == 3
    if batched:
        if pos.shape[0] != 1:
            raise ShapeError(f"position embeddings: expected a leading batch of 1, got {tuple(pos.shape)}")
        pos = pos[0]
    if pos.dim() != 2:
        raise ShapeError(f"position embeddings: expected (tokens, dim), got {tuple(pos.shape)}")
    new_h, new_w = int(new_hw[0]), int(new_hw[1])
    if new_h < 1 or new_w < 1:
        raise ShapeError(f"target grid must be at least 1x1, got {new_hw}")
    num_patches = pos.shape[0] - num_prefix_tokens
    old_h, old_w = old_hw if old_hw is not None else native_grid(num_patches)
    if old_h * old_w != num_patches:
        raise ShapeError(f"position embeddings: old grid {old_h}x{old_w} does not hold {num_patches} rows")
    if (new_h, new_w) == (old_h, old_w):
        out = pos
    else:
        prefix, grid = pos[:num_prefix_tokens], pos[num_prefix_tokens:]
        dim = grid.shape[-1]
        image = grid.float().reshape(1, old_h, old_w, dim).permute(0, 3, 1, 2)
        shrinks = new_h < old_h or new_w < old_w
        image = F.interpolate(
            image,
            size=(new_h, new_w),
            mode=mode,
            align_corners=False if mode in ("bilinear", "bicubic") else None,
            antialias=bool(antialias and shrinks),
        )
        grid = image.permute(0, 2, 3, 1).reshape(new_h * new_w, dim).to(pos.dtype)
        out = torch.cat([prefix, grid], dim=0)
    return out.unsqueeze(0) if batched else out

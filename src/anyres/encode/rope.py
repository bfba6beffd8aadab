"""2-D rotary position embeddings of the Qwen2-VL vision tower (pure functions).

Every patch has a (row, col) position on its image's patch grid. Each head dimension is
split in halves that are rotated together (the ``rotate_half`` convention); the first
quarter of the frequencies turn with the row, the second with the column:

    inv_freq[i] = theta ** (-(2 i) / (head_dim / 2)),  i < head_dim / 4
    angles      = [row * inv_freq, col * inv_freq]            # head_dim / 2
    cos, sin    = cos([angles, angles]), sin([angles, angles]) # head_dim

Pixtral's axial variant (``rope_axial``) spreads the frequencies over the whole head:
``inv_freq[i] = theta ** (-(2 i) / head_dim)``, i < head_dim / 2; the row turns with the
even-indexed ones and the column with the odd-indexed ones (each a quarter of the head),
then the same [rows, cols] angles fill both halves as above.

Positions run over patches in the order the packed sequence holds them: merge blocks
of ``merge_size`` x ``merge_size`` patches are contiguous (block-major), and a video's
``t`` temporal patches repeat the same spatial positions.
"""

from __future__ import annotations

import torch

from ..errors import ShapeError, SpecError


def block_positions(t: int, h: int, w: int, merge_size: int = 1) -> torch.Tensor:
    """(t*h*w, 2) long (row, col) of each patch in packed, merge-block-major order."""
    if merge_size < 1 or h % merge_size or w % merge_size:
        raise ShapeError(f"patch grid {h}x{w} is not a whole number of {merge_size}x{merge_size} merge blocks")
    rows = torch.arange(h).view(h, 1).expand(h, w)
    cols = torch.arange(w).view(1, w).expand(h, w)
    m = merge_size
    block = (h // m, m, w // m, m)
    rows = rows.reshape(block).transpose(1, 2).reshape(-1)
    cols = cols.reshape(block).transpose(1, 2).reshape(-1)
    return torch.stack([rows, cols], dim=-1).repeat(t, 1)


def packed_positions(grid_thw: list[tuple[int, int, int]], merge_size: int = 1) -> torch.Tensor:
    """(sum t*h*w, 2) positions of every image of a packed sequence, concatenated."""
    return torch.cat([block_positions(t, h, w, merge_size) for t, h, w in grid_thw], dim=0)


def rope_2d(positions: torch.Tensor, head_dim: int, theta: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin of shape (N, head_dim) in float32 for (N, 2) (row, col) positions."""
    if positions.dim() != 2 or positions.shape[1] != 2:
        raise ShapeError(f"positions must be (N, 2) (row, col), got {tuple(positions.shape)}")
    if head_dim < 4 or head_dim % 4:
        raise SpecError(f"2-D RoPE needs a head width divisible by 4, got {head_dim}")
    half = head_dim // 2
    inv_freq = 1.0 / (theta ** (torch.arange(0, half, 2, dtype=torch.float32) / half))
    angles = (positions.float()[..., None] * inv_freq).flatten(1)  # (N, 2 * head_dim/4): rows then cols
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def grid_positions(h: int, w: int) -> torch.Tensor:
    """(h*w, 2) long (row, col) of a patch grid in plain row-major order."""
    return block_positions(1, h, w, 1)


def rope_axial(positions: torch.Tensor, head_dim: int, theta: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixtral's 2-D RoPE: cos, sin of shape (N, head_dim) in float32 for (N, 2) (row, col)
    positions (the row on the even frequencies of the head, the column on the odd ones)."""
    if positions.dim() != 2 or positions.shape[1] != 2:
        raise ShapeError(f"positions must be (N, 2) (row, col), got {tuple(positions.shape)}")
    if head_dim < 4 or head_dim % 4:
        raise SpecError(f"2-D RoPE needs a head width divisible by 4, got {head_dim}")
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    pos = positions.float()
    angles = torch.cat([pos[:, :1] * inv_freq[0::2], pos[:, 1:] * inv_freq[1::2]], dim=-1)  # (N, head_dim / 2)
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x`` (..., N, head_dim) by cos/sin (N, head_dim); computed in float32."""
    if x.shape[-2:] != cos.shape or sin.shape != cos.shape:
        raise ShapeError(f"RoPE of shape {tuple(cos.shape)} (N, head_dim) does not fit x of shape {tuple(x.shape)}")
    xf = x.float()
    return (xf * cos + rotate_half(xf) * sin).to(x.dtype)

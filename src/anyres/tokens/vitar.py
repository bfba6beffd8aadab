"""ViTAR-style adaptive token merging to a target grid, and fuzzy positional encoding
(Fan et al. 2024, "ViTAR: Vision Transformer with Any Resolution").

Adaptive Token Merger (ATM): a (h, w) token map is merged step by step towards a
target (gh, gw); each step groups the map into cells of at most 2 x 2 tokens (an axis
of n tokens becomes ``max(g, ceil(n / 2))`` contiguous cells, the longer ones first,
so no token is padded or counted twice), and each cell becomes one token: the cell's
mean is the query of a cross-attention over the cell's tokens (GridAttention), added
back to the query, then a feed-forward layer; the steps share their weights. Without
learned weights (``merger=None``) a cell becomes its mean: the parameter-free merge a
plan can run on any tower.

Fuzzy positional encoding (FPE): during training each token reads the learned
position table at its grid coordinate plus a uniform offset in [-0.5, 0.5] (bilinear);
at inference the offsets are off and every token reads its exact coordinate.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import ShapeError, SpecError


def cell_bounds(n: int, cells: int) -> list[tuple[int, int]]:
    """``cells`` contiguous [start, end) ranges covering 0..n, sizes differing by at most
    one, the longer ones first."""
    if not 1 <= cells <= n:
        raise SpecError(f"cannot split {n} tokens into {cells} cells")
    base, extra = divmod(n, cells)
    out, start = [], 0
    for i in range(cells):
        end = start + base + (1 if i < extra else 0)
        out.append((start, end))
        start = end
    return out


def merge_steps(side: int, target: int) -> list[int]:
    """The sizes an axis of ``side`` tokens passes through on its way to ``target``."""
    if target < 1:
        raise SpecError(f"a ViTAR target side must be at least 1, got {target}")
    steps = []
    while side > target:
        side = max(target, math.ceil(side / 2))
        steps.append(side)
    return steps


def vitar_merge(x: torch.Tensor, target: tuple[int, int], merger: torch.nn.Module | None = None) -> torch.Tensor:
    """(h, w, c) -> (min(h, gh), min(w, gw), c) by ATM steps (module doc). ``merger(query,
    cell)`` (query (n, 1, c), cell tokens (n, k, c) -> (n, 1, c)) is the learned
    GridAttention + FFN; None merges each cell to its mean."""
    if x.dim() != 3:
        raise ShapeError(f"vitar_merge takes an (h, w, c) map, got shape {tuple(x.shape)}")
    gh, gw = target
    rows = merge_steps(x.shape[0], gh)
    cols = merge_steps(x.shape[1], gw)
    for k in range(max(len(rows), len(cols))):
        nh = rows[k] if k < len(rows) else x.shape[0]
        nw = cols[k] if k < len(cols) else x.shape[1]
        x = _merge_once(x, nh, nw, merger)
    return x


def _merge_once(x: torch.Tensor, nh: int, nw: int, merger) -> torch.Tensor:
    out = []
    for r0, r1 in cell_bounds(x.shape[0], nh):
        row = []
        for c0, c1 in cell_bounds(x.shape[1], nw):
            cell = x[r0:r1, c0:c1].reshape(1, -1, x.shape[-1])
            query = cell.mean(dim=1, keepdim=True)
            row.append(query if merger is None else merger(query, cell))
        out.append(torch.cat(row, dim=1))
    return torch.cat(out, dim=0)


def fuzzy_coordinates(rows: int, cols: int, *, training: bool, generator: torch.Generator | None = None) -> torch.Tensor:
    """(rows, cols, 2) (y, x) coordinates at which tokens read the position table: their
    grid coordinates, plus a uniform offset in [-0.5, 0.5] each when ``training``."""
    ys, xs = torch.meshgrid(torch.arange(rows, dtype=torch.float32), torch.arange(cols, dtype=torch.float32),
                            indexing="ij")
    coords = torch.stack([ys, xs], dim=-1)
    if training:
        coords = coords + torch.rand(rows, cols, 2, generator=generator) - 0.5
    return coords


def sample_positions(table: torch.Tensor, coords: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Bilinear reads of a learned (H0, W0, c) position table at ``coords`` of a
    ``grid`` = (rows, cols) token map (a coordinate spans the table as the grid does;
    reads past the edge clamp to it): (rows, cols, c)."""
    rows, cols = grid
    h0, w0, _ = table.shape
    # grid coordinate -> table pixel centre (align_corners=False), then -> [-1, 1]
    y = (coords[..., 0] + 0.5) * h0 / rows - 0.5
    x = (coords[..., 1] + 0.5) * w0 / cols - 0.5
    norm = torch.stack([(x + 0.5) / w0 * 2 - 1, (y + 0.5) / h0 * 2 - 1], dim=-1)
    out = F.grid_sample(table.permute(2, 0, 1)[None], norm[None].to(table.dtype), mode="bilinear",
                        padding_mode="border", align_corners=False)
    return out[0].permute(1, 2, 0)

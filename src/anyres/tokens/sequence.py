"""What the token stage hands on: a visual sequence, and the survivors of pruning.

Position convention, shared by every function of ``anyres.tokens``: each token row has
``(view, row, col)`` int64, where ``view`` indexes ``plan.views`` and ``(row, col)`` is
the cell of that view's final token grid (``plan.views[view].token_grid``) the token stands
for. Special rows:

- a kept CLS token: ``(view, -1, -1)``;
- a learned newline embedding (``kind == NEWLINE_ROW``): ``(-1, r, -1)`` where ``r`` is the
  row of the image feature map it terminates;
- a pruning summary token that stands for many places at once (PruMerge's extra token):
  ``(view, -1, -1)`` when its sources share one view, else ``(-1, -1, -1)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import ShapeError
from ..plan.connector import query_grid

VISUAL_ROW = 0  # an encoder feature after compression (or a resampler query output)
NEWLINE_ROW = 1  # a learned layout embedding (LLaVA-NeXT image_newline)
KIND_NAMES = ("visual", "newline")


def _rows(tokens, what: str) -> int:
    """Rows of ``tokens.embeddings``, which must be a (rows, width) tensor."""
    e = tokens.embeddings
    if not isinstance(e, torch.Tensor) or e.dim() != 2:
        shape = tuple(e.shape) if isinstance(e, torch.Tensor) else type(e).__name__
        raise ShapeError(f"{what}.embeddings must be (rows, width), got {shape}")
    return e.shape[0]


def _expect(x, shape: tuple[int, ...], dtype, what: str) -> None:
    if not isinstance(x, torch.Tensor) or tuple(x.shape) != shape or (dtype is not None and x.dtype != dtype):
        got = f"{tuple(x.shape)} {x.dtype}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise ShapeError(f"{what} must be {shape}{'' if dtype is None else ' ' + str(dtype)}, got {got}")


@dataclass(frozen=True, eq=False)
class VisualSequence:
    """The token vectors of one image, in ``plan.layout`` order.

    - ``embeddings``: (T, d) float
    - ``positions``: (T, 3) int64, ``(view, row, col)`` (module docstring)
    - ``kind``: (T,) int8, ``VISUAL_ROW`` (0) or ``NEWLINE_ROW`` (1)
    """

    embeddings: torch.Tensor
    positions: torch.Tensor
    kind: torch.Tensor

    def __post_init__(self) -> None:
        t = _rows(self, "VisualSequence")
        _expect(self.positions, (t, 3), torch.int64, "VisualSequence.positions")
        _expect(self.kind, (t,), torch.int8, "VisualSequence.kind")

    def __len__(self) -> int:
        return self.embeddings.shape[0]

    @property
    def width(self) -> int:
        return self.embeddings.shape[1]

    def kind_names(self) -> list[str]:
        return [KIND_NAMES[k] for k in self.kind.tolist()]

    def rows_of_view(self, view: int) -> torch.Tensor:
        """Indices of the rows that come from ``view``."""
        return torch.nonzero(self.positions[:, 0] == view).flatten()


@dataclass(frozen=True, eq=False)
class KeptTokens:
    """What a pruning or merging method keeps.

    - ``embeddings``: (k, d)
    - ``positions``: (k, 3) int64 ``(view, row, col)`` of the token each survivor stands
      for (a merged group takes the position of the token it was merged into)
    - ``index``: (k,) int64, the input row of that representative, -1 for a summary
      token without one
    - ``sizes``: (k,) float, how many input tokens each survivor accounts for
    """

    embeddings: torch.Tensor
    positions: torch.Tensor
    index: torch.Tensor
    sizes: torch.Tensor

    def __post_init__(self) -> None:
        k = _rows(self, "KeptTokens")
        _expect(self.positions, (k, 3), torch.int64, "KeptTokens.positions")
        _expect(self.index, (k,), torch.int64, "KeptTokens.index")
        _expect(self.sizes, (k,), None, "KeptTokens.sizes")

    def __len__(self) -> int:
        return self.embeddings.shape[0]

    def in_input_order(self) -> "KeptTokens":
        """The survivors sorted by input row (summary tokens, index -1, last)."""
        key = torch.where(self.index < 0, torch.iinfo(torch.int64).max, self.index)
        order = torch.sort(key, stable=True).indices
        return KeptTokens(self.embeddings[order], self.positions[order], self.index[order], self.sizes[order])


def grid_positions(rows: int, cols: int, view: int = 0, prefix: int = 0) -> torch.Tensor:
    """(prefix + rows*cols, 3) positions of a row-major grid, ``prefix`` CLS-like rows
    (``(view, -1, -1)``) first."""
    r = torch.arange(rows, dtype=torch.int64).repeat_interleave(cols)
    c = torch.arange(cols, dtype=torch.int64).repeat(rows)
    grid = torch.stack([torch.full_like(r, view), r, c], dim=1)
    if prefix:
        head = torch.tensor([[view, -1, -1]], dtype=torch.int64).repeat(prefix, 1)
        grid = torch.cat([head, grid])
    return grid


def query_positions(num_queries: int, view: int) -> torch.Tensor:
    _, side = query_grid(num_queries)
    q = torch.arange(num_queries, dtype=torch.int64)
    return torch.stack([torch.full_like(q, view), q // side, q % side], dim=1)


def default_positions(n: int, positions: torch.Tensor | None) -> torch.Tensor:
    """Positions given for n rows, checked; ``None`` means ``(0, 0, i)``."""
    if positions is None:
        return grid_positions(1, n)
    if positions.shape != (n, 3):
        raise ShapeError(f"positions must have shape ({n}, 3), one row per feature row; got {tuple(positions.shape)}")
    return positions.to(torch.int64)


def single_view(positions: torch.Tensor) -> int:
    """The view all rows share, or -1."""
    if positions.numel() == 0:
        return -1
    v = positions[:, 0]
    return int(v[0]) if bool((v == v[0]).all()) else -1

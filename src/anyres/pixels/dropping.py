"""NaViT token dropping on a packed sequence (Dehghani et al. 2023, "Patch n' Pack").

Restated from the public NaViT implementation (lucidrains ``vit_pytorch/na_vit.py``):
each image's patch sequence of length n keeps ``max(1, int(n * (1 - rate)))`` patches,
those with the largest of n standard-normal draws (``randn(n).topk(keep)``), together
with their (row, col) positions; ``rate`` is one number or a function of the image's
size (resolution-dependent dropping). Here:

- a sequence is a view of the packed batch (``PackedBatch``: one view an image for the
  native presets), dropped in its own order of draws from one ``torch.Generator``;
- a tower that merges m x m patches after the encoder (Qwen2-VL's packed merge-block
  order) drops whole blocks: the unit of n is a block, so every kept block stays whole;
- the kept rows stay in the sequence's order (the reference keeps the top-k order; the
  set is the same), ``positions`` are theirs, ``cu_seqlens`` count them, and ``kept``
  holds each row's index in the full sequence (``grid_thw`` still describes the full
  views, which the positions index into).

``rate`` as a function receives the view's ``Size`` (width, height); the reference's
receives (height, width) positionally.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

from ..errors import SpecError
from ..plan.types import Size
from .batch import PackedBatch

Rate = float | Callable[[Size], float] | Sequence[float]


def _rate_of(rate: Rate, image: int, view: Size) -> float:
    if callable(rate):
        value = rate(view)
    elif isinstance(rate, (list, tuple)):
        if image >= len(rate):
            raise SpecError(f"a drop rate for each image: {len(rate)} rates for image {image}")
        value = rate[image]
    else:
        value = rate
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 <= value < 1) or math.isnan(value):
        raise SpecError(f"a NaViT drop rate is a number in [0, 1), got {value!r} for image {image}")
    return float(value)


def kept_count(n: int, rate: float) -> int:
    """The reference's ``max(1, int(n * (1 - rate)))`` (0 for an empty sequence)."""
    return max(1, int(n * (1 - rate))) if n else 0


def drop_tokens(batch: PackedBatch, rate: Rate, *, generator: Any = None) -> PackedBatch:
    """A copy of ``batch`` with NaViT token dropping applied (see the module doc)."""
    import numpy as np
    import torch

    as_numpy = isinstance(batch.patches, np.ndarray)
    cu = [int(x) for x in np.asarray(batch.cu_seqlens)]
    positions = np.asarray(batch.positions)
    keep_rows: list[Any] = []
    lengths = []
    for k in range(len(cu) - 1):
        start, end = cu[k], cu[k + 1]
        if end == start:
            lengths.append(0)
            continue
        image, view = int(positions[start, 0]), int(positions[start, 1])
        plan = batch.plans[image]
        unit = plan.connector.packing_merge ** 2
        n = (end - start) // unit
        keep = kept_count(n, _rate_of(rate, image, plan.views[view].size))
        chosen = torch.randn(n, generator=generator).topk(keep).indices.sort().values
        rows = (chosen[:, None] * unit + torch.arange(unit)[None]).reshape(-1) + start
        keep_rows.append(rows)
        lengths.append(len(rows))
    index = torch.cat(keep_rows) if keep_rows else torch.zeros(0, dtype=torch.int64)
    idx = index.numpy() if as_numpy else index
    new_cu = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    out = PackedBatch(
        batch.plans,
        batch.patches[idx],
        batch.positions[idx],
        batch.grid_thw,
        new_cu if as_numpy else torch.from_numpy(new_cu),
        list(batch.indices),
        list(batch.errors),
        idx if batch.kept is None else batch.kept[idx],
    )
    return out

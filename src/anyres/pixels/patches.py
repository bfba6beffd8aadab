"""Patch matrices for native-resolution encoders (Qwen2-VL's layout) and packing.

Qwen2-VL flattens each patch as (C, T, p, p) -- the frame repeated T times for an
image -- and orders patches so that every merge x merge group is contiguous: patch
rows run over (row block, col block, row in block, col in block). The patches are
gathered in uint8 (one byte an element) and normalised straight into the output.
"""

from __future__ import annotations

from typing import Sequence

from .normalize import normalise


def patch_grid(hwc_u8, patch: int, merge: int):
    """(H, W, C) uint8 -> (H/p * W/p, C, p, p) uint8 in merge-group order."""
    h, w, c = hwc_u8.shape
    gh, gw = h // patch, w // patch
    assert gh * patch == h and gw * patch == w and gh % merge == 0 and gw % merge == 0, (h, w, patch, merge)
    x = hwc_u8.reshape(gh // merge, merge, patch, gw // merge, merge, patch, c)
    x = x.transpose(0, 3, 1, 4, 6, 2, 5)  # (gh/m, gw/m, m, m, C, p, p)
    return x.reshape(gh * gw, c, patch, patch)


def patchify(
    hwc_u8,
    patch: int,
    merge: int,
    temporal: int,
    mean: Sequence[float],
    std: Sequence[float],
    scale: float = 1 / 255,
    out=None,
):
    """(H, W, C) uint8 -> normalised (H/p * W/p, C * temporal * p * p) float32
    (into ``out`` when given); returns (patches, grid_h, grid_w)."""
    import numpy as np

    h, w, c = hwc_u8.shape
    gh, gw = h // patch, w // patch
    u8 = patch_grid(hwc_u8, patch, merge)
    if out is None:
        out = np.empty((gh * gw, c * temporal * patch * patch), dtype=np.float32)
    frames = out.reshape(gh * gw, c, temporal, patch, patch)
    normalise(u8, mean, std, scale, axis=1, out=frames[:, :, 0])
    if temporal > 1:
        frames[:, :, 1:] = frames[:, :, :1]
    return out, gh, gw


def patch_positions(gh: int, gw: int, merge: int):
    """(row, col) of every patch in ``patchify`` order."""
    import numpy as np

    r = np.arange(gh).reshape(gh // merge, merge, 1, 1)
    c = np.arange(gw).reshape(1, 1, gw // merge, merge)
    shape = (gh // merge, merge, gw // merge, merge)
    rows = np.broadcast_to(r, shape).transpose(0, 2, 1, 3).reshape(-1)
    cols = np.broadcast_to(c, shape).transpose(0, 2, 1, 3).reshape(-1)
    return rows, cols

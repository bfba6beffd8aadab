"""Patch matrices for native-resolution encoders (Qwen2-VL's layout) and packing.

Qwen2-VL flattens each patch as (C, T, p, p) -- the frame repeated T times for an
image -- and orders patches so that every merge x merge group is contiguous: patch
rows run over (row block, col block, row in block, col in block). The patches are
read from the (C, H, W) uint8 view and normalised straight into the output.
"""

from __future__ import annotations

from typing import Sequence

from .normalize import lookup_kernels, normalise, normalise_table, torch_backend


def patch_grid(chw_u8, patch: int, merge: int):
    """(C, H, W) -> a (H/p / m, W/p / m, m, m, C, p, p) view in merge-group order: the
    first four axes flatten to the patch index."""
    c, h, w = chw_u8.shape
    gh, gw = h // patch, w // patch
    if gh * patch != h or gw * patch != w or gh % merge or gw % merge:
        from ..errors import ShapeError

        raise ShapeError(f"a {h}x{w} (HxW) view is not a whole number of {patch * merge} px merge blocks "
                         f"(patch {patch} x merge {merge})")
    x = chw_u8.reshape(c, gh // merge, merge, patch, gw // merge, merge, patch)
    return x.transpose(1, 4, 2, 5, 0, 3, 6)


def normalised_patches(
    chw_u8,
    patch: int,
    merge: int,
    temporal: int,
    mean: Sequence[float],
    std: Sequence[float],
    scale: float = 1 / 255,
    out=None,
):
    """(C, H, W) uint8 -> normalised (H/p * W/p, C * temporal * p * p) float32
    (into ``out`` when given); returns (patches, grid_h, grid_w). The gather is a strided
    read inside the normalisation: no intermediate copy."""
    import numpy as np

    c, h, w = chw_u8.shape
    gh, gw = h // patch, w // patch
    src = patch_grid(chw_u8, patch, merge)  # checks the view is whole merge blocks
    if out is None:
        out = np.empty((gh * gw, c * temporal * patch * patch), dtype=np.float32)
    lookup = lookup_kernels()
    if lookup is not None and out.flags.c_contiguous:  # every frame written in the same pass
        table = normalise_table(tuple(float(x) for x in mean), tuple(float(x) for x in std), float(scale))
        lookup.lookup_patches(chw_u8, table, out.reshape(-1), patch, merge, temporal)
        return out, gh, gw
    frames = out.reshape(src.shape[:5] + (temporal, patch, patch))
    normalise(src, mean, std, scale, axis=4, out=frames[:, :, :, :, :, 0])
    if temporal > 1:  # an image is its own frames
        flat = out.reshape(gh * gw, c, temporal, patch * patch)
        torch = torch_backend()
        if torch is not None:
            t = torch.from_numpy(flat)
            t[:, :, 1:] = t[:, :, :1]
        else:
            flat[:, :, 1:] = flat[:, :, :1]
    return out, gh, gw


def normalised_patch_rows(chw_u8, patch: int, mean: Sequence[float], std: Sequence[float], scale: float, out):
    """(C, H, W) uint8 -> normalised patch rows, into ``out`` ((H/p) * (W/p) rows of
    p * p * C float32 each, or any array of that many values): patches in (row, col)
    order, each row-major with channels last, as SigLIP2's NaFlex and Gemma 4's
    processors lay them out. The gather is a strided read inside the normalisation (one
    pass; no normalised (C, H, W) image to transpose afterwards)."""
    c, h, w = chw_u8.shape
    gh, gw = h // patch, w // patch
    src = chw_u8[:, : gh * patch, : gw * patch].reshape(c, gh, patch, gw, patch).transpose(1, 3, 2, 4, 0)
    dst = out.reshape(gh, gw, patch, patch, c)
    lookup = lookup_kernels()
    if lookup is not None:
        table = normalise_table(tuple(float(x) for x in mean), tuple(float(x) for x in std), float(scale))
        if c == 3:
            lookup.lookup_patch_rows_rgb(chw_u8, table, dst)
        else:
            lookup.lookup_channels_last(src, table, dst)
    else:
        normalise(src, mean, std, scale, axis=4, out=dst)
    return gh, gw


def patch_positions(gh: int, gw: int, merge: int):
    """(row, col) of every patch in ``normalised_patches`` order."""
    import numpy as np

    r = np.arange(gh).reshape(gh // merge, merge, 1, 1)
    c = np.arange(gw).reshape(1, 1, gw // merge, merge)
    shape = (gh // merge, merge, gw // merge, merge)
    rows = np.broadcast_to(r, shape).transpose(0, 2, 1, 3).reshape(-1)
    cols = np.broadcast_to(c, shape).transpose(0, 2, 1, 3).reshape(-1)
    return rows, cols

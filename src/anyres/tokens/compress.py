"""Compression of a feature map: pooling, interpolation, pixel shuffle, tile stitching.

Pure functions on tensors. Feature maps are channels-last ``(h, w, c)`` or
``(n, h, w, c)`` (row-major token order, as encoders emit them); the helpers that
follow a reference which works channels-first say so.

Pixel shuffle, checked against transformers 5.23: InternVL's ``pixel_shuffle(x, 0.5)``
and Idefics3's ``Idefics3Connector.pixel_shuffle(x, 2)`` produce the *same* layout:
output cell (i, j) concatenates input cells (s*i + dr, s*j + dc) in row-major (dr, dc)
order, channels of each cell contiguous. (The original InternVL code with
``ps_version='v1'`` skips the final permute and leaves the output grid transposed;
transformers implements v2 only.) Qwen2-VL's 2x2 merge-block order is the same too.
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F

from ..errors import ShapeError, SpecError


def _as_batch(x: torch.Tensor) -> tuple[torch.Tensor, bool]:
    if x.dim() == 3:
        return x[None], True
    if x.dim() == 4:
        return x, False
    raise ShapeError(f"expected a feature map (h, w, c) or (n, h, w, c), got shape {tuple(x.shape)}")


def _positive_int(value, what: str) -> int:
    """A caller's integer factor (pool size, shuffle factor): an int >= 1, never a bool or float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise SpecError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def _channels_first(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 3, 1, 2)


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 2, 3, 1)


def avg_pool(x: torch.Tensor, k: int = 2, ceil_mode: bool = False) -> torch.Tensor:
    """k x k average pooling, stride k: (h, w, c) -> (h//k, w//k, c) (``ceil_mode``:
    ceil(h/k), the edge windows averaged over the cells they cover)."""
    _positive_int(k, "pooling size")
    xb, single = _as_batch(x)
    out = _channels_last(F.avg_pool2d(_channels_first(xb), k, k, ceil_mode=ceil_mode))
    return out[0] if single else out


def bilinear_resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize to ``size`` = (rows, cols), ``align_corners=False``: LLaVA-OneVision's
    ``F.interpolate(feature[None], [h, w], mode="bilinear")`` on (h, w, c) maps."""
    xb, single = _as_batch(x)
    out = _channels_last(F.interpolate(_channels_first(xb), size=list(size), mode="bilinear"))
    return out[0] if single else out


def area_resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Area (adaptive average) resize to ``size`` = (rows, cols), as the S2 wrapper merges scales."""
    xb, single = _as_batch(x)
    out = _channels_last(F.interpolate(_channels_first(xb), size=list(size), mode="area"))
    return out[0] if single else out


def shrink_to_max_views(x: torch.Tensor, max_views: int, side: int, threshold: float = 1.1) -> torch.Tensor:
    """OneVision's shrink of an unpadded (h, w, c) map to about ``max_views`` views of
    side^2 (the size is the plan's ``shrink_size``, the anyres_max_N rule)."""
    from ..plan.strategies.anyres_tiling import shrink_size

    rows, cols = shrink_size(x.shape[0], x.shape[1], max_views, side, threshold)
    if (rows, cols) == (x.shape[0], x.shape[1]):
        return x
    return bilinear_resize(x, (rows, cols))


def space_to_depth(x: torch.Tensor, factor: int) -> torch.Tensor:
    """(n, h, w, c) -> (n, h/f, w/f, f*f*c); cell (i, j) holds cells (f*i + dr, f*j + dc)
    for dr, dc in row-major order."""
    _positive_int(factor, "space-to-depth factor")
    xb, single = _as_batch(x)
    n, h, w, c = xb.shape
    if h % factor or w % factor:
        raise ShapeError(f"a {h}x{w} map does not split into {factor}x{factor} blocks")
    out = xb.reshape(n, h // factor, factor, w // factor, factor, c).permute(0, 1, 3, 2, 4, 5)
    out = out.reshape(n, h // factor, w // factor, factor * factor * c)
    return out[0] if single else out


def depth_to_space(x: torch.Tensor, factor: int) -> torch.Tensor:
    """The inverse of ``space_to_depth``: (n, h, w, f*f*c) -> (n, h*f, w*f, c)."""
    _positive_int(factor, "depth-to-space factor")
    xb, single = _as_batch(x)
    n, h, w, cc = xb.shape
    if cc % (factor * factor):
        raise ShapeError(f"{cc} channels do not split into {factor}x{factor} cells")
    c = cc // (factor * factor)
    out = xb.reshape(n, h, w, factor, factor, c).permute(0, 1, 3, 2, 4, 5).reshape(n, h * factor, w * factor, c)
    return out[0] if single else out


def _factor(scale: float) -> int:
    """The integer k of a pixel-shuffle scale 1/k (0.5 -> 2); anything else is a SpecError."""
    ok = isinstance(scale, (int, float)) and not isinstance(scale, bool) and 0 < scale <= 1
    f = round(1 / scale) if ok else 0  # 0 < scale <= 1 also rules out NaN
    if not ok or abs(f * scale - 1) > 1e-9:
        raise SpecError(f"pixel shuffle scale must be 1/k for a positive integer k (0.5, 0.25, ...), got {scale!r}")
    return f


def pixel_shuffle(x: torch.Tensor, scale: float = 0.5) -> torch.Tensor:
    """InternVL's pixel shuffle (transformers ``InternVLModel.pixel_shuffle``):
    (n, h, w, c) -> (n, h*scale, w*scale, c/scale^2)."""
    return space_to_depth(x, _factor(scale))


def pixel_unshuffle(x: torch.Tensor, scale: float = 0.5) -> torch.Tensor:
    """The inverse of ``pixel_shuffle(x, scale)``."""
    return depth_to_space(x, _factor(scale))


def idefics3_pixel_shuffle(x: torch.Tensor, scale_factor: int = 2) -> torch.Tensor:
    """Idefics3's connector shuffle on token sequences of square maps:
    (n, seq, c) -> (n, seq/f^2, f^2*c)."""
    _positive_int(scale_factor, "Idefics3 scale_factor")
    if x.dim() != 3:
        raise ShapeError(f"expected (n, seq, c), got shape {tuple(x.shape)}")
    n, seq, c = x.shape
    side = math.isqrt(seq)
    if side * side != seq:
        raise ShapeError(f"Idefics3's pixel shuffle needs a square map, got {seq} tokens")
    out = space_to_depth(x.reshape(n, side, side, c), scale_factor)
    return out.reshape(n, -1, out.shape[-1])


def stitch_tiles(tiles: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """Row-major tile maps (rows*cols, s, s, c) -> one (rows*s, cols*s, c) map."""
    _positive_int(rows, "tile rows"), _positive_int(cols, "tile cols")
    if tiles.dim() != 4:
        raise ShapeError(f"expected tile maps (n, s, s, c), got shape {tuple(tiles.shape)}")
    n, th, tw, c = tiles.shape
    if n != rows * cols:
        raise ShapeError(f"{n} tile maps do not fill a {rows}x{cols} grid")
    return tiles.reshape(rows, cols, th, tw, c).permute(0, 2, 1, 3, 4).reshape(rows * th, cols * tw, c)


def split_tiles(x: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """The inverse of ``stitch_tiles``."""
    _positive_int(rows, "tile rows"), _positive_int(cols, "tile cols")
    if x.dim() != 3:
        raise ShapeError(f"expected one (h, w, c) map, got shape {tuple(x.shape)}")
    h, w, c = x.shape
    if h % rows or w % cols:
        raise ShapeError(f"a {h}x{w} map does not split into a {rows}x{cols} grid")
    th, tw = h // rows, w // cols
    return x.reshape(rows, th, cols, tw, c).permute(0, 2, 1, 3, 4).reshape(rows * cols, th, tw, c)

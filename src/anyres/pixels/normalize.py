"""Rescale and normalise uint8 pixels exactly as transformers does, fast.

transformers computes ``float32(float64(v) * scale)`` and then ``(x - mean) / std`` in
float32. Every uint8 value has one result per channel, so the reference is a 3 x 256
table. Looking values up in a table is slow in numpy (a gather per element); three
float32 passes are cheaper (``docs/performance.md``). For the usual ``scale = 1/255``,
``float32(v) / 255`` happens to equal ``float32(float64(v) * (1/255))`` for all 256
values, so ``(float32(v) / 255 - mean) / std`` reproduces the table bit for bit.
``kernel`` proves that once per (mean, std, scale) against the table and falls back to
the table when it does not hold.

The three passes run in PyTorch when it is installed: its elementwise kernels read
strided inputs (a channels-last image, Qwen2-VL's patch gather) faster than numpy's
(``docs/performance.md``). IEEE float32 division is correctly rounded in both, so the values
are the same; ``kernel``'s proof runs the backend in use (on a strided input with a
vector tail), and the tests run both.

When numba is installed, the (C, H, W) views and Qwen2-VL's patch matrices take a
third kernel instead (``_normalize_kernels``): the table itself, looked up in compiled
code in one pass in output order, 2.5-3x cheaper than the three float32 passes (and
exact for any constants, with no proof needed). ``lookup_kernels`` says whether it is
in use; the arithmetic kernels stay for other shapes and when numba is absent.

All functions write into a caller's buffer when given one (``out=``), so the output
layouts (shape groups, padded hf batches, patch matrices) are filled in place without
an intermediate float copy.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Sequence


@lru_cache(maxsize=32)
def normalise_table(mean: tuple[float, ...], std: tuple[float, ...], scale: float):
    """(3, 256) float32: the reference's result for every channel and uint8 value."""
    import numpy as np

    values = (np.arange(256, dtype=np.float64) * scale).astype(np.float32)
    m = np.asarray(mean, dtype=np.float32)[:, None]
    s = np.asarray(std, dtype=np.float32)[:, None]
    table = (values[None, :] - m) / s
    table.setflags(write=False)
    return table


_TORCH: list = []  # [module or None], resolved on first use; tests set it
_LOOKUP: list = []  # [kernels module or None], resolved on first use; tests set it


def lookup_kernels():
    """The compiled table look-up kernels when numba is installed, else None."""
    if not _LOOKUP:
        try:
            from . import _normalize_kernels as kernels
        except ImportError:
            kernels = None
        _LOOKUP.append(kernels)
    return _LOOKUP[0]


def torch_backend():
    """The torch module when it is installed (and not switched off), else None."""
    if not _TORCH:
        try:
            import torch
        except ImportError:
            torch = None
        _TORCH.append(torch)
    return _TORCH[0]


@lru_cache(maxsize=64)
def _proof(mean: tuple[float, ...], std: tuple[float, ...], scale: float, backend: Any) -> str:
    import numpy as np

    n = len(mean)
    values = np.tile(np.arange(256, dtype=np.uint8), 5)[: 256 * 5 - 3]  # each value, and a vector tail
    hwc = np.ascontiguousarray(np.broadcast_to(values[:, None], (values.size, n)))
    want = normalise_table(mean, std, scale)[:, values]
    got = [_arith(hwc.T, mean, std, axis=0)]  # strided, as a channels-last image is read
    hwc.setflags(write=False)  # read-only arrays take the numpy kernel
    got.append(_arith(hwc.T, mean, std, axis=0))
    return "arith" if all(np.array_equal(g, want) for g in got) else "table"


def kernel(mean: tuple[float, ...], std: tuple[float, ...], scale: float) -> str:
    """"arith" when float32 arithmetic (in the backend in use) reproduces the table for
    every value, else "table"."""
    return _proof(mean, std, scale, torch_backend())


def _arith(u8, mean, std, axis: int, out=None):
    """(u8 / 255 - mean) / std in float32, channels on ``axis``. ``u8`` must be writable
    when torch runs it (torch warns on read-only numpy arrays); it is never written."""
    import numpy as np

    shape = [1] * u8.ndim
    shape[axis] = len(mean)
    if out is None:
        out = np.empty(u8.shape, dtype=np.float32)
    torch = torch_backend()
    if torch is not None and u8.flags.writeable:
        t = torch.from_numpy(out)
        t.copy_(torch.from_numpy(u8))
        t.div_(255.0)
        t.sub_(torch.tensor(mean, dtype=torch.float32).view(shape))
        t.div_(torch.tensor(std, dtype=torch.float32).view(shape))
        return out
    np.divide(u8, np.float32(255), out=out, dtype=np.float32)
    out -= np.asarray(mean, dtype=np.float32).reshape(shape)
    out /= np.asarray(std, dtype=np.float32).reshape(shape)
    return out


def normalise(u8, mean: Sequence[float], std: Sequence[float], scale: float = 1 / 255, *, axis: int = 0, out=None):
    """uint8 values with channels on ``axis`` -> float32 of the same shape, as
    transformers' rescale + normalize (into ``out`` when given)."""
    import numpy as np

    mean, std = tuple(float(x) for x in mean), tuple(float(x) for x in std)
    lookup = lookup_kernels()
    if lookup is not None and u8.ndim == 3 and axis == 0:
        if out is None:
            out = np.empty(u8.shape, dtype=np.float32)
        lookup.lookup_chw(u8, normalise_table(mean, std, float(scale)), out)
        return out
    if lookup is not None and u8.ndim == 4 and axis == 0:
        if out is None:
            out = np.empty(u8.shape, dtype=np.float32)
        lookup.lookup_4d(u8, normalise_table(mean, std, float(scale)), out)
        return out
    if scale == 1 / 255 and kernel(mean, std, scale) == "arith":
        return _arith(u8, mean, std, axis, out)
    table = normalise_table(mean, std, scale)
    if out is None:
        out = np.empty(u8.shape, dtype=np.float32)
    moved_in, moved_out = np.moveaxis(u8, axis, 0), np.moveaxis(out, axis, 0)
    for c in range(len(mean)):
        moved_out[c] = table[c][moved_in[c]]
    return out


def normalise_view(chw_u8, mean, std, scale: float = 1 / 255, out=None):
    """(3, H, W) uint8 -> (3, H, W) float32 (into ``out`` when given)."""
    return normalise(chw_u8, mean, std, scale, axis=0, out=out)

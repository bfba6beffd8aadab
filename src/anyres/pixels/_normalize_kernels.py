"""numba kernels of ``anyres.pixels.normalize`` (imported only when numba is installed).

Each output value is a look-up in the reference's (C, 256) float32 table: one uint8
load, one load from a 3 KB table that stays in L1, one store, in output order. The
table is transformers' own arithmetic evaluated once per value, so the result is the
reference's bit for bit whatever the constants, and one pass replaces the three
float32 passes (convert, subtract, divide) of the arithmetic kernels.
"""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def lookup_chw(src, table, out):
    """out[c, y, x] = table[c, src[c, y, x]] for (C, H, W) arrays of any strides."""
    channels, height, width = src.shape
    for c in range(channels):
        row = table[c]
        for y in range(height):
            for x in range(width):
                out[c, y, x] = row[src[c, y, x]]


@njit(cache=True)
def lookup_patches(src, table, out):
    """Qwen2-VL's patch matrix: src is the (gh/m, gw/m, m, m, C, p, p) uint8 view of
    ``patches.patch_grid`` and out its (gh/m, gw/m, m, m, C, T, p, p) float32 frames;
    every one of the T frames gets the image's values."""
    nbh, nbw, m1, m2, channels, frames, p1, p2 = out.shape
    for a in range(nbh):
        for b in range(nbw):
            for i in range(m1):
                for j in range(m2):
                    for c in range(channels):
                        row = table[c]
                        for y in range(p1):
                            for x in range(p2):
                                v = row[src[a, b, i, j, c, y, x]]
                                for t in range(frames):
                                    out[a, b, i, j, c, t, y, x] = v


@njit(cache=True)
def lookup_channels_last(src, table, out):
    """out[a, b, y, x, c] = table[c, src[a, b, y, x, c]] for 5-D arrays of any strides:
    patch rows with channels last (SigLIP2 NaFlex, Gemma 4), read from a (C, H, W) view."""
    n0, n1, n2, n3, channels = out.shape
    for a in range(n0):
        for b in range(n1):
            for y in range(n2):
                for x in range(n3):
                    for c in range(channels):
                        out[a, b, y, x, c] = table[c, src[a, b, y, x, c]]

"""numba kernels of ``anyres.pixels.normalize`` (imported only when numba is installed).

Each output value is a look-up in the reference's (C, 256) float32 table: one uint8
load, one load from a 3 KB table that stays in L1, one store, in output order. The
table is transformers' own arithmetic evaluated once per value, so the result is the
reference's bit for bit whatever the constants, and one pass replaces the three
float32 passes (convert, subtract, divide) of the arithmetic kernels.
"""

from __future__ import annotations

import numpy as np
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
def lookup_4d(src, table, out):
    """out[c, i, j, k] = table[c, src[c, i, j, k]] for 4-D arrays of any strides: a (C, H, W)
    view read as (C, p, H/p, W) rows of patches (MiniCPM-V's patch rows)."""
    channels, n1, n2, n3 = src.shape
    for c in range(channels):
        for i in range(n1):
            for j in range(n2):
                for k in range(n3):
                    out[c, i, j, k] = table[c, src[c, i, j, k]]


@njit(cache=True)
def lookup_patches(src, table, out, patch, merge, frames):
    """Qwen2-VL's patch matrix: src is the (C, H, W) uint8 view (any strides) and out the
    flat float32 output, written strictly in order: patches in merge-group order (row
    block, col block, row in block, col in block), each as (C, frames, p, p), every frame
    holding the image's values. Writing in output order with one flat index is what makes
    it fast: the same loops over an 8-D strided view of the output ran 2-3x slower
    (scattered partial cache-line writes and per-access stride arithmetic). The first
    frame is looked up, the others are copies of it; indices are unsigned (numba adds no
    negative-index wraparound to them): 1.4-1.9x the frame-by-frame lookup with signed
    indices (``benchmarks/bench_normalize_kernels.py``)."""
    channels, height, width = src.shape
    blocks_h = height // patch // merge
    blocks_w = width // patch // merge
    u = np.uint64
    area = patch * patch
    k = 0
    for a in range(blocks_h):
        for b in range(blocks_w):
            for i in range(merge):
                y0 = (a * merge + i) * patch
                for j in range(merge):
                    x0 = (b * merge + j) * patch
                    for c in range(channels):
                        row = table[c]
                        first = k
                        for y in range(patch):
                            line = src[c, y0 + y]
                            for x in range(patch):
                                out[u(k + x)] = row[line[u(x0 + x)]]
                            k += patch
                        for _ in range(1, frames):
                            for q in range(area):
                                out[u(k + q)] = out[u(first + q)]
                            k += area


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


@njit(cache=True)
def lookup_patch_rows_rgb(src, table, out):
    """``lookup_channels_last`` for three channels, read from the (3, H, W) view itself:
    out[a, b, y, x, c] = table[c, src[c, a * p + y, b * p + x]]. The channel loop is
    unrolled over the three source rows of one image row, each read in order: 1.6-3.1x
    faster than the 5-D strided gather on SigLIP2 / Gemma 4 views (3x on the planar
    views torch's resize returns; ``benchmarks/bench_normalize_kernels.py``)."""
    gh, gw, p = out.shape[0], out.shape[1], out.shape[2]
    r0, r1, r2 = table[0], table[1], table[2]
    for a in range(gh):
        for y in range(p):
            s0, s1, s2 = src[0, a * p + y], src[1, a * p + y], src[2, a * p + y]
            for b in range(gw):
                o = out[a, b, y]
                for x in range(p):
                    i = b * p + x
                    o[x, 0] = r0[s0[i]]
                    o[x, 1] = r1[s1[i]]
                    o[x, 2] = r2[s2[i]]

"""numba kernels of ``anyres.pixels.resample`` (imported only when numba is installed).

Images reach the kernels as a 1-D uint8 buffer plus byte offsets and strides, so that
one compiled signature serves every layout (a contiguous array, a crop of one, Pillow's
RGBX memory) and the inner loops see unit-stride bytes. Every kernel has a serial
version and a ``_parallel`` one (threads over output rows): both call the same per-row
function, so they compute the same values.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

PRECISION_BITS = 22
HALF = 1 << (PRECISION_BITS - 1)
HAMMING_A = float(np.float32(0.54))  # Pillow writes 0.54f and 0.46f: float constants
HAMMING_B = float(np.float32(0.46))
BOX_ID, BILINEAR_ID, HAMMING_ID, BICUBIC_ID, LANCZOS_ID = 4, 2, 5, 3, 1


@njit(cache=True)
def _sinc(x):
    if x == 0.0:
        return 1.0
    x = x * math.pi
    return math.sin(x) / x


@njit(cache=True)
def _filter(flt, x):
    if flt == BOX_ID:
        return 1.0 if (x > -0.5 and x <= 0.5) else 0.0
    if flt == BILINEAR_ID:
        if x < 0.0:
            x = -x
        return 1.0 - x if x < 1.0 else 0.0
    if flt == HAMMING_ID:
        if x < 0.0:
            x = -x
        if x == 0.0:
            return 1.0
        if x >= 1.0:
            return 0.0
        x = x * math.pi
        return math.sin(x) / x * (HAMMING_A + HAMMING_B * math.cos(x))
    if flt == BICUBIC_ID:
        a = -0.5
        if x < 0.0:
            x = -x
        if x < 1.0:
            return ((a + 2.0) * x - (a + 3.0)) * x * x + 1
        if x < 2.0:
            return (((x - 5) * x + 8) * x - 4) * a
        return 0.0
    # Lanczos
    if -3.0 <= x and x < 3.0:
        return _sinc(x) * _sinc(x / 3)
    return 0.0


@njit(cache=True)
def coefficients(in_size, in0, in_len, out_size, flt, filter_support):
    """Pillow's precompute_coeffs + normalize_coeffs_8bpc: (ksize, bounds, kk) with
    bounds[2i] the first input and bounds[2i+1] the count for output i, and kk the
    int32 weights, ksize a row."""
    scale = in_len / out_size
    filterscale = scale if scale >= 1.0 else 1.0
    support = filter_support * filterscale
    ksize = int(math.ceil(support)) * 2 + 1
    bounds = np.empty(2 * out_size, dtype=np.int32)
    kk = np.zeros(out_size * ksize, dtype=np.int32)
    pre = np.zeros(ksize, dtype=np.float64)
    inv = 1.0 / filterscale
    for xx in range(out_size):
        center = in0 + (xx + 0.5) * scale
        ww = 0.0
        xmin = int(center - support + 0.5)
        if xmin < 0:
            xmin = 0
        xmax = int(center + support + 0.5)
        if xmax > in_size:
            xmax = in_size
        xmax -= xmin
        for x in range(xmax):
            w = _filter(flt, (x + xmin - center + 0.5) * inv)
            pre[x] = w
            ww += w
        for x in range(xmax):
            v = pre[x] / ww if ww != 0.0 else pre[x]
            if v < 0:
                kk[xx * ksize + x] = int(-0.5 + v * (1 << PRECISION_BITS))
            else:
                kk[xx * ksize + x] = int(0.5 + v * (1 << PRECISION_BITS))
        bounds[2 * xx] = xmin
        bounds[2 * xx + 1] = xmax
    return ksize, bounds, kk


@njit(cache=True, inline="always")
def _clip8(s):
    v = s >> PRECISION_BITS
    if v < 0:
        return np.uint8(0)
    if v > 255:
        return np.uint8(255)
    return np.uint8(v)


@njit(cache=True)
def _horizontal_row(src, rowbase, c, bounds, kx, ks, out, outbase, out_w):
    """One row of the horizontal pass over packed pixels of ``c`` (4 or 1) bytes at byte
    ``rowbase`` of ``src``, into out[outbase + xx * c + ch]. ``kx`` holds each weight
    ``c`` times (once a channel), so that for RGBX a step multiplies 8 contiguous bytes
    (two taps) by 8 contiguous weights, in eight int32 lanes. Indices are uint64: numba
    adds no negative-index wraparound to them. (LLVM vectorises this loop across taps,
    with shuffles, rather than across the lanes: RGBX buffers aligned to 4 bytes take
    ``horizontal_t`` instead, which is several times faster.)"""
    u4 = np.uint64(4)
    u8 = np.uint64(8)
    uc = np.uint64(c)
    uks = np.uint64(ks)
    if c == 4:
        for x in range(out_w):
            xx = np.uint64(x)
            n = np.uint64(bounds[2 * x + 1]) * u4
            p = rowbase + np.uint64(bounds[2 * x]) * u4
            ko = xx * uks * u4
            a0 = np.int32(0)
            a1 = np.int32(0)
            a2 = np.int32(0)
            a3 = np.int32(0)
            a4 = np.int32(0)
            a5 = np.int32(0)
            a6 = np.int32(0)
            a7 = np.int32(0)
            for b in range(n // u8):
                q = p + b * u8
                r = ko + b * u8
                a0 = np.int32(a0 + np.int32(src[q + np.uint64(0)]) * kx[r + np.uint64(0)])
                a1 = np.int32(a1 + np.int32(src[q + np.uint64(1)]) * kx[r + np.uint64(1)])
                a2 = np.int32(a2 + np.int32(src[q + np.uint64(2)]) * kx[r + np.uint64(2)])
                a3 = np.int32(a3 + np.int32(src[q + np.uint64(3)]) * kx[r + np.uint64(3)])
                a4 = np.int32(a4 + np.int32(src[q + np.uint64(4)]) * kx[r + np.uint64(4)])
                a5 = np.int32(a5 + np.int32(src[q + np.uint64(5)]) * kx[r + np.uint64(5)])
                a6 = np.int32(a6 + np.int32(src[q + np.uint64(6)]) * kx[r + np.uint64(6)])
                a7 = np.int32(a7 + np.int32(src[q + np.uint64(7)]) * kx[r + np.uint64(7)])
            if n % u8 != np.uint64(0):
                q = p + n - u4
                r = ko + n - u4
                a0 = np.int32(a0 + np.int32(src[q + np.uint64(0)]) * kx[r + np.uint64(0)])
                a1 = np.int32(a1 + np.int32(src[q + np.uint64(1)]) * kx[r + np.uint64(1)])
                a2 = np.int32(a2 + np.int32(src[q + np.uint64(2)]) * kx[r + np.uint64(2)])
                a3 = np.int32(a3 + np.int32(src[q + np.uint64(3)]) * kx[r + np.uint64(3)])
            o = outbase + xx * u4
            out[o] = _clip8(np.int32(HALF + a0 + a4))
            out[o + np.uint64(1)] = _clip8(np.int32(HALF + a1 + a5))
            out[o + np.uint64(2)] = _clip8(np.int32(HALF + a2 + a6))
            out[o + np.uint64(3)] = _clip8(np.int32(HALF + a3 + a7))
        return
    # c == 1 (L)
    for x in range(out_w):
        xx = np.uint64(x)
        n = np.uint64(bounds[2 * x + 1])
        p = rowbase + np.uint64(bounds[2 * x])
        ko = xx * uks
        acc = np.int32(HALF)
        for t in range(n):  # a dot product: LLVM vectorises the reduction
            acc += np.int32(src[p + t]) * kx[ko + t]
        out[outbase + xx] = _clip8(np.int32(acc))


@njit(cache=True)
def horizontal(src, base, rs, c, bounds, kx, ks, out):
    """out (rows, out_w * c): the horizontal pass of the rows at byte base + r * rs."""
    rows, length = out.shape
    flat = out.reshape(rows * length)
    for r in range(rows):
        _horizontal_row(src, np.uint64(base + r * rs), c, bounds, kx, ks, flat, np.uint64(r * length), length // c)


@njit(cache=True, parallel=True)
def horizontal_parallel(src, base, rs, c, bounds, kx, ks, out):
    rows, length = out.shape
    flat = out.reshape(rows * length)
    for r in prange(rows):
        _horizontal_row(src, np.uint64(base + r * rs), c, bounds, kx, ks, flat, np.uint64(r * length), length // c)


CHUNK = 2048  # int32 accumulators a step: 8 KB, in L1


@njit(cache=True)
def _vertical_row(src, rs, bounds, kk, ks, out_row, yy, acc):
    """One output row of the vertical pass over packed rows of ``out_row.shape[0]``
    bytes (uint64 indices: no negative-index wraparound in the vector loop)."""
    length = out_row.shape[0]
    ymin = bounds[2 * yy]
    n = bounds[2 * yy + 1]
    for start in range(0, length, CHUNK):
        m = min(CHUNK, length - start)
        for i in range(m):
            acc[i] = HALF
        for j in range(0, n - 1, 2):  # two source rows a sweep: half the accumulator traffic
            w0 = kk[yy * ks + j]
            w1 = kk[yy * ks + j + 1]
            r0 = np.uint64((ymin + j) * rs + start)
            r1 = np.uint64((ymin + j + 1) * rs + start)
            for i in range(m):
                acc[i] += np.int32(src[r0 + np.uint64(i)]) * w0 + np.int32(src[r1 + np.uint64(i)]) * w1
        if n % 2:
            w = kk[yy * ks + n - 1]
            rb = np.uint64((ymin + n - 1) * rs + start)
            for i in range(m):
                acc[i] += np.int32(src[rb + np.uint64(i)]) * w
        for i in range(m):
            out_row[start + i] = _clip8(acc[i])


@njit(cache=True)
def vertical(src, rs, bounds, kk, ks, out):
    acc = np.empty(CHUNK, dtype=np.int32)
    for yy in range(out.shape[0]):
        _vertical_row(src, rs, bounds, kk, ks, out[yy], yy, acc)


@njit(cache=True, parallel=True)
def vertical_parallel(src, rs, bounds, kk, ks, out):
    for yy in prange(out.shape[0]):
        acc = np.empty(CHUNK, dtype=np.int32)
        _vertical_row(src, rs, bounds, kk, ks, out[yy], yy, acc)


@njit(cache=True)
def reduce(src, base, rs, ps, bw, bh, fx, fy, mult, out):
    """Image.reduce over the box of bw x bh pixels at byte ``base``: out[y, x] is the
    rounded mean of its fx x fy block (fewer pixels in the last row and column)."""
    oh, ow, c = out.shape
    sums = np.empty(c, dtype=np.int64)
    for y in range(oh):
        y0 = y * fy
        y1 = min(y0 + fy, bh)
        for x in range(ow):
            x0 = x * fx
            x1 = min(x0 + fx, bw)
            npx = (y1 - y0) * (x1 - x0)
            for ch in range(c):
                sums[ch] = npx // 2
            for yy in range(y0, y1):
                rb = base + yy * rs
                for xx in range(x0, x1):
                    p = rb + xx * ps
                    for ch in range(c):
                        sums[ch] += src[p + ch]
            m = np.int64(mult[npx])
            for ch in range(c):
                out[y, x, ch] = np.uint8(((sums[ch] * m) & 0xFFFFFFFF) >> 24)


STRIP = 16  # rows a horizontal strip: its transpose (16 x width x 4 bytes) stays in L2 (8: 1.5x slower, 32 and 64: 1.1x)
LANES = STRIP * 4  # bytes of one transposed source column: a compile-time trip count for ``_columns``
BLOCK = 8  # the transposes move 8 x 8 pixel blocks


@njit(cache=True, inline="always")
def _rgb_word(src8, q):
    """The 3-byte pixel at byte q as an RGBX word (fourth byte 0)."""
    u = np.uint64
    return np.uint32(src8[q]) | (np.uint32(src8[q + u(1)]) << 8) | (np.uint32(src8[q + u(2)]) << 16)


def _pixel(src, rowbase, x):
    """Pixel x of the row at element ``rowbase`` of ``src`` as an RGBX word: ``src`` holds
    uint32 RGBX words, or packed 3-byte RGB bytes (``rowbase`` a byte offset). Chosen
    when numba types the call (one compiled transpose each, no branch in the loop)."""
    raise NotImplementedError("numba only")


@overload(_pixel, inline="always")
def _pixel_typed(src, rowbase, x):
    if src.dtype == types.uint32:
        return lambda src, rowbase, x: src[rowbase + x]
    return lambda src, rowbase, x: _rgb_word(src, rowbase + np.uint64(3) * x)


@njit(cache=True)
def _transpose_in(src, rs, r0, nr, in_w, t):
    """t[x * STRIP + r] = pixel x of source row r0 + r (rows ``rs`` elements apart, see
    ``_pixel``), for r < nr. Rows nr..STRIP of
    a short last strip keep what they held: their results are never read. 8 x 8 blocks
    with constant bounds, which LLVM unrolls into register shuffles (1.5x the 4 x 4
    blocks written out by hand)."""
    u = np.uint64
    urs = u(rs)
    rb = 0
    while rb + BLOCK <= nr:
        b0 = u((r0 + rb) * rs)
        x = 0
        while x + BLOCK <= in_w:
            for xi in range(BLOCK):
                o = u((x + xi) * STRIP + rb)
                for ri in range(BLOCK):
                    t[o + u(ri)] = _pixel(src, b0 + u(ri) * urs, u(x + xi))
            x += BLOCK
        for xr in range(x, in_w):
            for r in range(rb, rb + BLOCK):
                t[u(xr * STRIP + r)] = _pixel(src, u((r0 + r) * rs), u(xr))
        rb += BLOCK
    for r in range(rb, nr):
        base = u((r0 + r) * rs)
        for x in range(in_w):
            t[u(x * STRIP + r)] = _pixel(src, base, u(x))


@njit(cache=True)
def _columns(t8, bounds, kk, ks, res8, acc):
    """The horizontal pass on a transposed strip: res8[xx * LANES + i] = clip8(HALF +
    sum_j t8[(xmin + j) * LANES + i] * k[xx, j]), i.e. each output column a weighted sum
    of whole source columns of LANES bytes, four taps a sweep over the accumulators.
    LANES is a constant: LLVM unrolls the lane loops without runtime checks (1.1-1.7x
    a trip count passed in)."""
    u = np.uint64
    ul = u(LANES)
    out_w = bounds.shape[0] // 2
    for xx in range(out_w):
        xmin = u(bounds[2 * xx])
        n = bounds[2 * xx + 1]
        kb = xx * ks
        for i in range(LANES):
            acc[i] = HALF
        j = 0
        while j + 4 <= n:
            w0, w1, w2, w3 = kk[kb + j], kk[kb + j + 1], kk[kb + j + 2], kk[kb + j + 3]
            p0 = (xmin + u(j)) * ul
            for i in range(LANES):
                ui = u(i)
                acc[i] += (
                    np.int32(t8[p0 + ui]) * w0
                    + np.int32(t8[p0 + ul + ui]) * w1
                    + np.int32(t8[p0 + u(2 * LANES) + ui]) * w2
                    + np.int32(t8[p0 + u(3 * LANES) + ui]) * w3
                )
            j += 4
        while j < n:
            w0 = kk[kb + j]
            p0 = (xmin + u(j)) * ul
            for i in range(LANES):
                acc[i] += np.int32(t8[p0 + u(i)]) * w0
            j += 1
        ob = u(xx) * ul
        for i in range(LANES):
            res8[ob + u(i)] = _clip8(acc[i])


@njit(cache=True)
def _transpose_out(res, r0, nr, out32):
    """out32[r0 + r, xx] = res[xx * STRIP + r] for r < nr, in 8 x 8 blocks (1.1-1.4x the
    whole horizontal pass over 32-column runs)."""
    u = np.uint64
    out_w = out32.shape[1]
    flat = out32.reshape(out32.size)
    ow = u(out_w)
    rb = 0
    while rb + BLOCK <= nr:
        x = 0
        while x + BLOCK <= out_w:
            for ri in range(BLOCK):
                o = u(r0 + rb + ri) * ow + u(x)
                for xi in range(BLOCK):
                    flat[o + u(xi)] = res[u((x + xi) * STRIP + rb + ri)]
            x += BLOCK
        for xx in range(x, out_w):
            for r in range(rb, rb + BLOCK):
                flat[u(r0 + r) * ow + u(xx)] = res[u(xx * STRIP + r)]
        rb += BLOCK
    for r in range(rb, nr):
        for xx in range(out_w):
            flat[u(r0 + r) * ow + u(xx)] = res[u(xx * STRIP + r)]


@njit(cache=True)
def _horizontal_strip(src, rs, r0, nr, in_w, bounds, kk, ks, out32, t, res, acc):
    """The horizontal pass of rows r0..r0+nr, done as a vertical pass: the strip is
    transposed (one uint32 RGBX pixel an element) so that each source column is a
    contiguous run of STRIP pixels, ``_columns`` combines whole columns (the loop that
    vectorises), and the result is transposed back into out32[r0:r0+nr]."""
    _transpose_in(src, rs, r0, nr, in_w, t)
    _columns(t.view(np.uint8), bounds, kk, ks, res.view(np.uint8), acc)
    _transpose_out(res, r0, nr, out32)


@njit(cache=True)
def horizontal_t(src, rs, in_w, bounds, kk, ks, out32):
    """out32 (rows, out_w) RGBX words: the horizontal pass of the rows of ``src``, either
    uint32 RGBX words (rows ``rs`` words apart) or packed 3-byte RGB (rows ``rs`` bytes
    apart)."""
    rows, out_w = out32.shape
    t = np.zeros(in_w * STRIP, dtype=np.uint32)
    res = np.empty(out_w * STRIP, dtype=np.uint32)
    acc = np.empty(LANES, dtype=np.int32)
    for s in range((rows + STRIP - 1) // STRIP):
        r0 = s * STRIP
        _horizontal_strip(src, rs, r0, min(STRIP, rows - r0), in_w, bounds, kk, ks, out32, t, res, acc)


@njit(cache=True, parallel=True)
def horizontal_t_parallel(src, rs, in_w, bounds, kk, ks, out32):
    rows, out_w = out32.shape
    for s in prange((rows + STRIP - 1) // STRIP):
        r0 = s * STRIP
        t = np.zeros(in_w * STRIP, dtype=np.uint32)
        res = np.empty(out_w * STRIP, dtype=np.uint32)
        acc = np.empty(LANES, dtype=np.int32)
        _horizontal_strip(src, rs, r0, min(STRIP, rows - r0), in_w, bounds, kk, ks, out32, t, res, acc)

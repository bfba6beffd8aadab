"""Pillow's ``Image.resize``, bit for bit, for 8-bit L, RGB, RGBX and RGBA pixels, in
numba: int32 SIMD over whole rows, optional threads over output rows.

Both passes run as vertical passes (each output row a weighted sum of whole source
rows: long unit-stride loops that vectorise): the horizontal pass of RGBX images
transposes 16-row strips (one uint32 pixel an element) and back. RGB arrays are read
as RGBX (Pillow's own layout; a padded copy for packed numpy RGB).

The arithmetic is Pillow's (``libImaging/Resample.c``, ``Reduce.c``, ``Convert.c``,
and ``Image.resize`` in Python), restated:

- The box is C ``float`` (``in1 - in0`` is a float subtraction); the filter windows
  are computed in double: ``scale = (in1 - in0) / out``, ``filterscale = max(scale,
  1)``, ``support = filter_support * filterscale``; output pixel ``i`` is centred at
  ``in0 + (i + 0.5) * scale`` and reads inputs ``[trunc(c - support + 0.5),
  trunc(c + support + 0.5))`` clipped to the image, weights ``filter((x - c + 0.5) /
  filterscale)`` divided by their sum, then rounded half away from zero to 22-bit
  fixed point (``PRECISION_BITS = 32 - 8 - 2``).
- Each output value is ``clip8((2**21 + sum(v * k)) >> 22)`` in int32. The horizontal
  pass runs first (only over the rows the vertical windows read), then the vertical;
  Pillow >= 13 runs the vertical first when the height loses more than twice as many
  pixels as the width. A pass whose axis keeps its size and box is skipped, and a box
  with integral corners whose size equals the output is a plain crop.
- ``reducing_gap``: ``Image.reduce`` by integer factors over a box widened by the
  filter's support, first; a block of ``n`` pixels becomes ``((sum + n // 2) * m) >>
  24`` with ``m = uint32(float32(2**32) / float32(256 * n))``; the last row and
  column take the partial blocks.
- RGBA is resampled premultiplied (``RGBa``): ``c * a`` divided by 255 with Pillow's
  ``MULDIV255``, and back with ``min(255, 255 * c // a)`` (alpha 0 and 255 unchanged).

All these int32 and uint32 values stay far inside their ranges, so the order of the
additions does not matter: vectorised sums give Pillow's values exactly. Pillow stays
the oracle (``tests/pixels/test_resample.py``) and the fallback: NEAREST, other modes,
and a missing numba go through Pillow.
"""

from __future__ import annotations

import functools
import math
import os
import threading
from typing import Any, Sequence

NEAREST, LANCZOS, BILINEAR, BICUBIC, BOX, HAMMING = 0, 1, 2, 3, 4, 5
SUPPORT = {BOX: 0.5, BILINEAR: 1.0, HAMMING: 1.0, BICUBIC: 2.0, LANCZOS: 3.0}
PRECISION_BITS = 32 - 8 - 2
MODES = {"L": 1, "RGB": 3, "RGBX": 4, "RGBA": 4}
# below this many output values x taps, a thread pool costs more than it saves
PARALLEL_MIN_WORK = 1 << 21

_kernels: Any = None
_kernels_lock = threading.Lock()


def _threads_from_env() -> int | None:
    """ANYRES_RESAMPLE_THREADS: a number, or "auto" for numba's default (every core);
    unset: 1. One thread an image is the default because on a busy machine a parallel
    region waits for its slowest thread (measured here: 2 threads were slower than 1
    with another process on the second core); parallelism comes from workers."""
    value = os.environ.get("ANYRES_RESAMPLE_THREADS", "1").strip().lower()
    if value == "auto":
        return None
    try:
        return max(1, int(value))
    except ValueError:
        return 1


_threads: int | None = _threads_from_env()
_parallel_pid: int | None = None
# numba's workqueue threading layer (the one left where OpenMP and TBB are missing)
# aborts the process when two threads enter parallel kernels at once
_parallel_lock = threading.Lock()


def numba_available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def kernels():
    """The compiled kernels (``anyres.pixels._resample_kernels``), imported on first use
    (numba's import and cache load cost ~0.5 s)."""
    global _kernels
    if _kernels is None:
        with _kernels_lock:
            if _kernels is None:
                from . import _resample_kernels

                _kernels = _resample_kernels
    return _kernels


@functools.lru_cache(maxsize=256)
def coefficients(in_size: int, in0: float, in_len: float, out_size: int, flt: int):
    """Pillow's windows and int32 weights for one pass (``_resample_kernels.coefficients``),
    computed once per geometry: a tiling preset resizes many views of the same sizes,
    image after image (Idefics3's 17 tiles spent ~4% of a preprocess recomputing them).
    The arrays are shared, so they are read-only."""
    ks, bounds, kk = kernels().coefficients(in_size, in0, in_len, out_size, flt, SUPPORT[flt])
    bounds.flags.writeable = False
    kk.flags.writeable = False
    return ks, bounds, kk


def set_threads(n: int | None) -> None:
    """Threads for the resampler in this process: 1 (the default, see
    ``_threads_from_env``) runs the serial kernels, with no thread pool at all; n > 1
    runs the parallel ones on n threads (when the work is large enough); None uses
    numba's setting (every core)."""
    global _threads
    _threads = n


def _use_parallel(work: int) -> bool:
    """Parallel kernels only when there is enough work, more than one thread is allowed,
    and this process is the one that started numba's thread pool (GNU OpenMP is not
    fork-safe: a forked child that entered a parallel region of its parent's pool would
    abort)."""
    global _parallel_pid
    if work < PARALLEL_MIN_WORK or (_threads is not None and _threads <= 1):
        return False
    pid = os.getpid()
    if _parallel_pid is None:
        _parallel_pid = pid
    elif _parallel_pid != pid:  # checked before numba's threads are touched in a child
        return False
    import numba

    if _threads is not None:
        numba.set_num_threads(min(_threads, numba.config.NUMBA_NUM_THREADS))
    return numba.get_num_threads() > 1


# --- the geometry: Image.resize's Python part, and _imaging.c's _resize ---------------


def _f32(v: float) -> float:
    """``v`` rounded to a C float (the box crosses into C as ``float``)."""
    import numpy as np

    return float(np.float32(v))


def _safe_box(size, support: float, box, in_size) -> tuple[int, int, int, int]:
    """Image._get_safe_box: the box widened by the filter's support, in whole pixels."""
    s = support - 0.5
    sx = (box[2] - box[0]) / size[0] * s
    sy = (box[3] - box[1]) / size[1] * s
    return (
        max(0, int(box[0] - sx)),
        max(0, int(box[1] - sy)),
        min(in_size[0], math.ceil(box[2] + sx)),
        min(in_size[1], math.ceil(box[3] + sy)),
    )


def _flat(px):
    """(a 1-D C-contiguous uint8 view from px's first byte to its last, row stride,
    pixel stride) for the kernels, which index bytes themselves and read rows of packed
    pixels (a copy is made for any other layout)."""
    import numpy as np

    h, w, c = px.shape
    s0, s1, s2 = px.strides
    if s2 != 1 or s1 != c or s0 < w * c:  # the kernels read rows of packed pixels
        px = np.ascontiguousarray(px)
        s0, s1, s2 = px.strides
    span = (h - 1) * s0 + (w - 1) * s1 + c
    flat = np.lib.stride_tricks.as_strided(px, shape=(span,), strides=(1,))
    return flat, s0, s1


def _padded_to_4(px):
    """A 3-channel view with a 4-byte pixel stride (an RGBX buffer's RGB) widened to its
    4 bytes, so that the kernels run 4 lanes; None when the fourth byte of the last
    pixel is not inside the array that owns the memory."""
    import numpy as np

    if px.shape[2] != 3 or px.strides[1] != 4 or px.strides[2] != 1 or px.strides[0] < 0:
        return None
    owner = px
    while isinstance(owner.base, np.ndarray):
        owner = owner.base
    byte_bounds = getattr(np.lib, "array_utils", np).byte_bounds  # numpy 2 moved it
    lo, hi = byte_bounds(owner)
    start = px.__array_interface__["data"][0]
    h, w, _ = px.shape
    if start < lo or start + (h - 1) * px.strides[0] + (w - 1) * 4 + 4 > hi:
        return None
    return np.lib.stride_tricks.as_strided(px, shape=(h, w, 4), strides=(px.strides[0], 4, 1))


@functools.lru_cache(maxsize=1)
def _pillow_orders_passes() -> bool:
    """Pillow 13 runs the vertical pass first when the height shrinks by more than twice
    as many pixels as the width (older Pillow: always horizontal first)."""
    import PIL

    return int(PIL.__version__.split(".")[0]) >= 13


def _run(kernel, parallel: bool, *args) -> None:
    if parallel:
        with _parallel_lock:
            kernel(*args)
    else:
        kernel(*args)


def _horizontal(px, xsize: int, flt: int, b0, b2, y0: int, rows: int, out=None):
    """The horizontal pass over rows y0..y0+rows of px: (rows, xsize, c), written into
    ``out`` (a C-contiguous (rows, xsize * c) uint8 array) when given. Packed 3-byte RGB
    pixels come out as (rows, xsize, 4) RGBX (``_resample_kernels.horizontal_t`` reads
    them as they are: no RGBX copy of the source first; the fourth byte is not a
    value)."""
    import numpy as np

    k = kernels()
    w, c = px.shape[1], px.shape[2]
    ks, bounds, kk = coefficients(w, float(b0), float(np.float32(b2 - b0)), xsize, flt)
    flat, rs, _ = _flat(px)  # packed pixels (copied when px is not)
    rgb = c == 3 and out is None
    tmp = np.empty((rows, xsize * (4 if rgb else c)), dtype=np.uint8) if out is None else out
    parallel = _use_parallel(tmp.size * ks)
    if rgb or c == 4 and rs % 4 == 0 and flat.ctypes.data % 4 == 0:
        # the pass runs as a vertical pass over transposed strips of RGBX words
        if rgb:
            src, stride = flat[y0 * rs :], rs
        else:
            words = np.lib.stride_tricks.as_strided(flat, shape=(flat.size // 4 * 4,), strides=(1,)).view(np.uint32)
            src, stride = words[y0 * rs // 4 :], rs // 4
        _run(k.horizontal_t_parallel if parallel else k.horizontal_t, parallel,
             src, stride, w, bounds, kk, ks, tmp.view(np.uint32))
        if rgb:
            return tmp.reshape(rows, xsize, 4)
    else:
        kx = np.repeat(kk, c)  # one weight a channel: the kernel multiplies whole pixels
        _run(k.horizontal_parallel if parallel else k.horizontal, parallel, flat, y0 * rs, rs, c, bounds, kx, ks, tmp)
    return tmp.reshape(rows, xsize, c)


def _vertical(px, ysize: int, ks: int, bounds, kk):
    """The vertical pass with precomputed windows: (ysize, width, c)."""
    import numpy as np

    k = kernels()
    out = np.empty((ysize, px.shape[1], px.shape[2]), dtype=np.uint8)
    flat, rs, _ = _flat(px)
    parallel = _use_parallel(out.size * ks)
    _run(k.vertical_parallel if parallel else k.vertical, parallel, flat, rs, bounds, kk, ks, out.reshape(ysize, -1))
    return out


def _vertical_runs(runs, ysize: int, ks: int, bounds, kk):
    """``_vertical`` over an image given as runs of contiguous rows (``memory.row_runs``):
    each output row whose window lies inside one run is computed there in place; the few
    whose window straddles two runs gather their rows into a small scratch array."""
    import numpy as np

    k = kernels()
    width, c = runs[0][1].shape[1], runs[0][1].shape[2]
    out = np.empty((ysize, width * c), dtype=np.uint8)
    starts = bounds[0::2].astype(np.int64)
    ends = starts + bounds[1::2]
    done = np.zeros(ysize, dtype=bool)
    for r0, arr in runs:
        r1 = r0 + arr.shape[0]
        lo = int(np.searchsorted(starts, r0, "left"))  # windows are monotone in both ends
        hi = int(np.searchsorted(ends, r1, "right"))
        if hi <= lo:
            continue
        part = bounds[2 * lo : 2 * hi].copy()
        part[0::2] -= r0
        flat, rs, _ = _flat(arr)
        parallel = _use_parallel((hi - lo) * out.shape[1] * ks)
        _run(k.vertical_parallel if parallel else k.vertical, parallel, flat, rs, part, kk[lo * ks : hi * ks], ks, out[lo:hi])
        done[lo:hi] = True
    for yy in np.flatnonzero(~done).tolist():
        y0, y1 = int(starts[yy]), int(ends[yy])
        rows = np.concatenate([arr[max(y0, r0) - r0 : min(y1, r0 + arr.shape[0]) - r0] for r0, arr in runs
                               if r0 < y1 and r0 + arr.shape[0] > y0])
        flat, rs, _ = _flat(rows)
        k.vertical(flat, rs, np.array([0, y1 - y0], dtype=bounds.dtype), kk[yy * ks : (yy + 1) * ks], ks, out[yy : yy + 1])
    return out.reshape(ysize, width, c)


def resize_runs(runs, width: int, height: int, size, flt: int, box=None):
    """``resize`` (4-byte pixels, mode RGBX or L, no ``reducing_gap``) of a width x height
    image given as runs of contiguous rows, read in place: the same pixels as ``resize``
    of the whole image, without first copying it into one array; None for a box or size
    that ``resize`` refuses (the caller then raises its error)."""
    import numpy as np

    xsize, ysize = int(size[0]), int(size[1])
    box = (0, 0, width, height) if box is None else tuple(box)
    b0, b1, b2, b3 = (np.float32(v) for v in box)
    if xsize < 1 or ysize < 1 or b0 < 0 or b1 < 0 or b2 > width or b3 > height or b2 < b0 or b3 < b1:
        return None  # resize's own checks raise
    need_h = xsize != width or b0 != 0 or b2 != xsize
    need_v = ysize != height or b1 != 0 or b3 != ysize
    crop = b0 == np.float32(int(b0)) and b1 == np.float32(int(b1)) and b2 - b0 == xsize and b3 - b1 == ysize
    c = runs[0][1].shape[2]
    if crop or not (need_h or need_v):  # Pillow's crop shortcut: the box's rows, copied once
        x0, y0 = int(b0), int(b1)
        return np.concatenate(
            [arr[max(y0, r0) - r0 : min(y0 + ysize, r0 + arr.shape[0]) - r0, x0 : x0 + xsize]
             for r0, arr in runs if r0 < y0 + ysize and r0 + arr.shape[0] > y0]
        )
    if not need_v:  # the horizontal pass alone, over every row, run by run
        out = np.empty((height, xsize * c), dtype=np.uint8)
        for r0, arr in runs:
            _horizontal(arr, xsize, flt, b0, b2, 0, arr.shape[0], out=out[r0 : r0 + arr.shape[0]])
        return out.reshape(height, xsize, c)
    ks_v, bounds_v, kk_v = coefficients(height, float(b1), float(np.float32(b3 - b1)), ysize, flt)
    if need_h and horizontal_first(width, height, xsize, ysize):
        y_first = int(bounds_v[0])
        y_last = int(bounds_v[2 * ysize - 2] + bounds_v[2 * ysize - 1])
        bounds_v = bounds_v.copy()  # the cached windows are shared
        bounds_v[0::2] -= y_first
        tmp = np.empty((y_last - y_first, xsize * c), dtype=np.uint8)
        for r0, arr in runs:
            a, e = max(r0, y_first), min(r0 + arr.shape[0], y_last)
            if a < e:
                _horizontal(arr, xsize, flt, b0, b2, a - r0, e - a, out=tmp[a - y_first : e - y_first])
        return _vertical(tmp.reshape(y_last - y_first, xsize, c), ysize, ks_v, bounds_v, kk_v)
    src = _vertical_runs(runs, ysize, ks_v, bounds_v, kk_v)
    return _horizontal(src, xsize, flt, b0, b2, 0, ysize) if need_h else src


def horizontal_first(w: int, h: int, xsize: int, ysize: int) -> bool:
    """Whether Pillow resizes w x h to xsize x ysize width first (it does, unless Pillow 13
    or later sees the height shrink by more than twice as many pixels as the width)."""
    return not (_pillow_orders_passes() and h - ysize > 0 and h - ysize > (w - xsize) * 2)


def _resample_pass_pair(px, xsize: int, ysize: int, flt: int, box) -> Any:
    """ImagingResample: two separable passes, each skipped when its axis keeps its size
    and box. Horizontal first (over only the rows the vertical windows read), unless
    Pillow >= 13 would run the vertical first (see ``_pillow_orders_passes``)."""
    import numpy as np

    h, w, _ = px.shape
    b0, b1, b2, b3 = (np.float32(v) for v in box)
    need_h = xsize != w or b0 != 0 or b2 != xsize
    need_v = ysize != h or b1 != 0 or b3 != ysize
    width_first = horizontal_first(w, h, xsize, ysize)
    if need_v or need_h and width_first:
        ks_v, bounds_v, kk_v = coefficients(h, float(b1), float(np.float32(b3 - b1)), ysize, flt)
    src = px
    if width_first:
        if need_h:
            y_first = int(bounds_v[0])
            y_last = int(bounds_v[2 * ysize - 2] + bounds_v[2 * ysize - 1])
            bounds_v = bounds_v.copy()  # the cached windows are shared
            bounds_v[0::2] -= y_first
            src = _horizontal(px, xsize, flt, b0, b2, y_first, y_last - y_first)
        if need_v:
            src = _vertical(src, ysize, ks_v, bounds_v, kk_v)
    else:
        if need_v:
            src = _vertical(src, ysize, ks_v, bounds_v, kk_v)
        if need_h:
            src = _horizontal(src, xsize, flt, b0, b2, 0, src.shape[0])
    return src if src is not px else px.copy()


def _core_resize(px, size, flt: int, box) -> Any:
    """_imaging.c's ``_resize`` for a non-NEAREST filter: argument checks, the crop
    shortcut, then ImagingResample."""
    import numpy as np

    h, w, _ = px.shape
    xsize, ysize = size
    b = [np.float32(v) for v in box]
    if xsize < 1 or ysize < 1:
        raise ValueError("height and width must be > 0")
    if b[0] < 0 or b[1] < 0:
        raise ValueError("box offset can't be negative")
    if b[2] > w or b[3] > h:
        raise ValueError("box can't exceed original image size")
    if b[2] - b[0] < 0 or b[3] - b[1] < 0:
        raise ValueError("box can't be empty")
    if (
        b[0] - np.float32(int(b[0])) == 0
        and b[2] - b[0] == xsize
        and b[1] - np.float32(int(b[1])) == 0
        and b[3] - b[1] == ysize
    ):
        x0, y0, x1, y1 = (int(v) for v in b)
        return px[y0:y1, x0:x1].copy()
    return _resample_pass_pair(px, xsize, ysize, flt, box)


def _reduce(px, factor: tuple[int, int], box: tuple[int, int, int, int]) -> Any:
    """Image.reduce (factor != (1, 1)) over an integer box."""
    import numpy as np

    fx, fy = factor
    x0, y0, x1, y1 = box
    h, w, c = px.shape
    if x0 < 0 or y0 < 0 or x1 > w or y1 > h or x1 <= x0 or y1 <= y0:
        raise ValueError("invalid reduce box")
    out = np.empty(((y1 - y0 + fy - 1) // fy, (x1 - x0 + fx - 1) // fx, c), dtype=np.uint8)
    mult = np.empty(fx * fy + 1, dtype=np.uint32)
    for n in range(1, fx * fy + 1):
        mult[n] = int(np.float32(4294967296.0) / np.float32(256 * n))
    flat, rs, ps = _flat(px)
    kernels().reduce(flat, y0 * rs + x0 * ps, rs, ps, x1 - x0, y1 - y0, fx, fy, mult, out)
    return out


def _premultiply(px):
    """RGBA -> RGBa (Convert.c rgbA2rgba)."""
    import numpy as np

    out = np.empty(px.shape, dtype=np.uint8)
    a = px[..., 3].astype(np.uint32)
    tmp = px[..., :3].astype(np.uint32) * a[..., None] + 128
    out[..., :3] = ((tmp >> 8) + tmp) >> 8
    out[..., 3] = px[..., 3]
    return out


def _unpremultiply(px):
    """RGBa -> RGBA (Convert.c rgba2rgbA), in place."""
    import numpy as np

    a = px[..., 3]
    partial = (a != 0) & (a != 255)
    rgb = px[partial, :3].astype(np.uint32)
    px[partial, :3] = np.minimum(255, (255 * rgb) // a[partial, None].astype(np.uint32))
    return px


def _pillow_resize(px, size, flt: int, box, reducing_gap, mode: str):
    import numpy as np
    from PIL import Image

    h, w, c = px.shape
    raw = np.ascontiguousarray(px if c != 1 else px[:, :, 0])
    im = Image.frombuffer(mode, (w, h), raw.tobytes(), "raw", mode, 0, 1)
    out = np.asarray(im.resize(tuple(size), flt, box=box, reducing_gap=reducing_gap))
    return out.reshape(out.shape[0], out.shape[1], -1).copy()


def resize(
    pixels: Any,
    size: Sequence[int],
    resample: int = BICUBIC,
    box: Sequence[float] | None = None,
    reducing_gap: float | None = None,
    mode: str | None = None,
    *,
    rgbx: bool = False,
):
    """``Image.resize(size, resample, box, reducing_gap)`` on an (H, W, C) uint8 array:
    a new (h, w, C) uint8 array with Pillow's exact values.

    ``size`` is (width, height) and ``box`` (left, top, right, bottom) in source pixels,
    as Pillow's. ``mode`` is the Pillow mode the array holds: "L" (C = 1), "RGB" (3),
    "RGBX" or "RGBA" (4; the default for 4 channels is "RGBA", resampled premultiplied
    as Pillow does). NEAREST, or no numba installed: Pillow itself does it.

    ``rgbx``: for an RGB array, return the (h, w, 4) RGBX array the kernels wrote when
    they wrote one (the fourth byte is not a value), sparing the copy to three channels
    (the exact path makes a Pillow image of it, Pillow's own RGBX layout)."""
    import numpy as np

    px = np.asarray(pixels)
    if px.ndim == 2:
        px = px[:, :, None]
    if px.ndim != 3 or px.dtype != np.uint8:
        raise ValueError(f"pixels must be an (H, W, C) uint8 array, got {px.dtype} of shape {px.shape}")
    c = px.shape[2]
    if mode is None:
        mode = {1: "L", 3: "RGB", 4: "RGBA"}.get(c)
    if MODES.get(mode) != c:
        raise ValueError(f"mode {mode!r} does not match {c} channels (L: 1, RGB: 3, RGBX and RGBA: 4)")
    size = (int(size[0]), int(size[1]))
    if resample not in SUPPORT and resample != NEAREST:
        raise ValueError(f"unsupported resampling filter {resample}")
    if reducing_gap is not None and reducing_gap < 1.0:
        raise ValueError("reducing_gap must be 1.0 or greater")
    h, w = px.shape[:2]
    box = (0, 0, w, h) if box is None else tuple(box)
    if (w, h) == size and box == (0, 0, w, h):
        return px.copy()
    if resample == NEAREST or not numba_available():
        return _pillow_resize(px, size, resample, box, reducing_gap, mode)
    if mode == "RGBA":
        return _unpremultiply(_resize_premultiplied(_premultiply(px), size, resample, box, reducing_gap))
    if c == 3:  # the 4-lane kernels: over the RGB array's own RGBX padding, or reading its 3-byte pixels
        wide = _padded_to_4(px)
        out = _resize_premultiplied(px if wide is None else wide, size, resample, box, reducing_gap)
        return out if rgbx and out.shape[2] == 4 else np.ascontiguousarray(out[:, :, :3])
    return _resize_premultiplied(px, size, resample, box, reducing_gap)


def _resize_premultiplied(px, size, flt: int, box, reducing_gap):
    """Image.resize's path for a mode other than RGBA/LA (or after premultiplying)."""
    if reducing_gap is not None:
        factor_x = int((box[2] - box[0]) / size[0] / reducing_gap) or 1
        factor_y = int((box[3] - box[1]) / size[1] / reducing_gap) or 1
        if factor_x > 1 or factor_y > 1:
            h, w = px.shape[:2]
            rbox = _safe_box(size, SUPPORT[flt], box, (w, h))
            px = _reduce(px, (factor_x, factor_y), rbox)
            box = (
                (box[0] - rbox[0]) / factor_x,
                (box[1] - rbox[1]) / factor_y,
                (box[2] - rbox[0]) / factor_x,
                (box[3] - rbox[1]) / factor_y,
            )
    return _core_resize(px, size, flt, box)


def resize_image(image: Any, size: Sequence[int], resample: int, box=None, reducing_gap=None) -> Any:
    """``image.resize(size, resample, box=box, reducing_gap=reducing_gap)`` for an RGB or
    L PIL image or an ``RGBArray``, with this module's kernels (the same pixels), as a
    PIL image; Pillow's own resize for other modes, NEAREST, or without numba."""
    from ..image.arrays import RGBArray
    from ..image.memory import exportable, image_from_rgbx, pixels, row_runs

    if image.mode not in ("RGB", "L") or resample not in SUPPORT or not numba_available():
        return image.resize(tuple(size), resample, box=box, reducing_gap=reducing_gap)
    import numpy as np
    from PIL import Image

    if isinstance(image, RGBArray):  # the caller's array, read in place
        a = image.hwc
        if a.strides[1] == 3 and a.strides[2] == 1:  # packed RGB rows: the kernels read 3-byte pixels
            out = resize(a, size, resample, box, reducing_gap, mode="RGB", rgbx=True)
            return image_from_rgbx(out) if out.shape[2] == 4 else Image.fromarray(out)
        return image_from_rgbx(resize(image.rgbx(), size, resample, box, reducing_gap, mode="RGBX"))  # planar: one copy

    if image.mode == "RGB":
        if reducing_gap is None and not exportable(image):  # several blocks: read them in place
            runs = row_runs(image)
            out = None if runs is None else resize_runs(runs, image.width, image.height, size, resample, box)
            if out is not None:
                return image_from_rgbx(out)
        px = pixels(image, 4)  # RGBX: Pillow's own layout, no copy when it exports it
        return image_from_rgbx(resize(px, size, resample, box, reducing_gap, mode="RGBX"))  # one copy
    px = np.asarray(image)[:, :, None]
    out = resize(px, size, resample, box, reducing_gap, mode="L")
    return Image.fromarray(out[:, :, 0])

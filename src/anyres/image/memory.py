"""Pillow images as numpy arrays without a slow copy.

``np.asarray(image)`` copies through Pillow's raw encoder (``tobytes``) line by line
and then joins the pieces: ~50-90 ms for a 12-megapixel photo, longer than resizing it
with a SIMD kernel. Pillow >= 11.2 exports its memory through the Arrow C data
interface (``__arrow_c_array__``); an RGB image is stored as RGBX, four bytes a pixel,
so the export is an (H, W, 4) uint8 array over Pillow's own buffer. This module reads
that export with ctypes (the interface is a stable C ABI, so no pyarrow is needed).

Pillow allocates an image in blocks of ``Image.core.get_block_size()`` bytes (16 MB by
default) and exports only images held in one block. Every image over 16 MB that the
caller's own code made (a dataset's decoded photos) is in several blocks. Such an image
is copied once, by Pillow's ``paste`` (a ``memcpy`` a line), into a new image that is
one block (``Image.core.new_block``): ``one_block``. anyres's own decodes of large
JPEG and PNG files are written straight into one block (``decode_into_one_block``), so
they need no copy at all.

anyres does not change Pillow's allocator. ``contiguous_images()`` is an opt-in that
raises the block size process-wide (every later image in the process is then one
allocation, as numpy's); nothing in anyres calls it, except ``load_image`` when the
environment variable ``ANYRES_PILLOW_ONE_BLOCK=1`` is set.

Only where Pillow has neither the Arrow export nor ``new_block`` (Pillow < 11.2) does
``pixels`` fall back to ``np.asarray``.
"""

from __future__ import annotations

import ctypes
import os
import threading
from typing import Any

BLOCK_SIZE = (1 << 31) - 4096  # the largest C int that is a multiple of the page size
ONE_BLOCK_ENV = "ANYRES_PILLOW_ONE_BLOCK"
ONE_BLOCK_MODES = ("RGB", "RGBA", "RGBX", "L")  # modes without a palette: paste copies them whole
_done = False
_lock = threading.Lock()


def contiguous_images() -> None:
    """Opt-in: let Pillow allocate every new image of this process in one block
    (idempotent). A process-wide change of Pillow's allocator: anyres only makes it when
    asked (``ANYRES_PILLOW_ONE_BLOCK=1``); it is not needed for speed."""
    global _done
    if _done:
        return
    with _lock:
        from PIL import Image

        core = Image.core
        if hasattr(core, "set_block_size") and core.get_block_size() < BLOCK_SIZE:
            core.set_block_size(BLOCK_SIZE)
        _done = True


def opted_in() -> bool:
    return os.environ.get(ONE_BLOCK_ENV, "") not in ("", "0")


def _has_new_block() -> bool:
    from PIL import Image

    return hasattr(Image.core, "new_block")


def new_image(mode: str, size: tuple[int, int]) -> Any:
    """A new, uninitialised PIL image of ``mode`` and ``size`` in one block (exportable
    without a copy); a plain ``Image.new`` where Pillow lacks ``new_block``."""
    from PIL import Image

    if not _has_new_block():
        return Image.new(mode, size)
    return Image.Image()._new(Image.core.new_block(mode, tuple(size)))


def exportable(image: Any) -> bool:
    """Whether Pillow exports the (loaded) image's memory as one Arrow array."""
    if not hasattr(image, "__arrow_c_array__"):
        return False
    try:
        image.__arrow_c_array__()
    except (ValueError, TypeError, AttributeError, MemoryError):
        return False
    return True


def one_block(image: Any) -> Any:
    """``image`` itself when Pillow holds it in one block (or cannot do better), else a
    copy in one block made by one ``paste`` (a line-by-line ``memcpy``; never
    ``tobytes``). Same mode, size, pixels and ``info``."""
    image.load()
    if image.mode not in ONE_BLOCK_MODES or not _has_new_block() or exportable(image):
        return image
    out = new_image(image.mode, image.size)
    out.im.paste(image.im, (0, 0) + image.size)
    out.info = dict(image.info)
    return out


def decode_into_one_block(im: Any) -> None:
    """Before ``im.load()``: give a lazily opened JPEG or PNG image of a plain mode its
    memory in one block, so the decoder writes there and the pixels are exportable (no
    copy later). Left to Pillow for other formats (some replace the image while
    loading), small images (one block anyway), and Pillow without ``new_block``."""
    from PIL import Image

    if (
        getattr(im, "_im", 0) is None  # not allocated yet (Pillow's load_prepare would)
        and im.format in ("JPEG", "PNG")
        and im.mode in ("RGB", "L", "RGBA")
        and _has_new_block()
        and im.width * im.height * 4 > Image.core.get_block_size()
        and not getattr(im, "is_animated", False)
    ):
        im.im = Image.core.new_block(im.mode, im.size)


class _ArrowArray(ctypes.Structure):
    pass


_ArrowArray._fields_ = [
    ("length", ctypes.c_int64),
    ("null_count", ctypes.c_int64),
    ("offset", ctypes.c_int64),
    ("n_buffers", ctypes.c_int64),
    ("n_children", ctypes.c_int64),
    ("buffers", ctypes.POINTER(ctypes.c_void_p)),
    ("children", ctypes.POINTER(ctypes.POINTER(_ArrowArray))),
    ("dictionary", ctypes.POINTER(_ArrowArray)),
    ("release", ctypes.c_void_p),
    ("private_data", ctypes.c_void_p),
]

_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_get_pointer.restype = ctypes.c_void_p
_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


def _arrow_rgbx(image: Any):
    """(H, W, 4) uint8 over an RGB image's memory, or None when Pillow will not export it."""
    import numpy as np

    if image.mode != "RGB" or not hasattr(image, "__arrow_c_array__"):
        return None
    try:
        image.load()
        _, capsule = image.__arrow_c_array__()
    except (ValueError, TypeError, AttributeError):  # several blocks, or no Arrow support
        return None
    top = _ArrowArray.from_address(_get_pointer(capsule, b"arrow_array"))
    w, h = image.size
    if top.length != w * h or top.n_children != 1:
        return None
    child = top.children[0].contents
    if child.n_buffers != 2 or child.length != 4 * (top.length + top.offset):
        return None
    address = child.buffers[1] + child.offset + 4 * top.offset
    buffer = (ctypes.c_uint8 * (4 * w * h)).from_address(address)
    array = np.frombuffer(buffer, dtype=np.uint8).reshape(h, w, 4)
    # The capsule's destructor releases Pillow's export (its reference to the image's
    # memory): keep it alive as long as the array, through the ctypes buffer.
    buffer._capsule = capsule  # type: ignore[attr-defined]
    return array


def pixels(image: Any, channels: int = 3):
    """An RGB image's pixels as an (H, W, channels) uint8 array, ``channels`` 3 or 4
    (RGBX: the fourth is padding). A view of Pillow's memory when it can be exported (the
    3-channel view then has a pixel stride of 4 bytes); an image in several blocks is
    copied once, block by block, into a new array (``_joined_runs``; ``one_block`` where
    its blocks cannot be read). Never write to it: it may be the image itself."""
    import numpy as np

    rgb = image.convert("RGB") if image.mode != "RGB" else image
    rgbx = _arrow_rgbx(rgb)
    if rgbx is None:
        rgbx = _joined_runs(rgb)
    if rgbx is None:
        rgbx = _arrow_rgbx(one_block(rgb))
    if rgbx is not None:
        return rgbx[:, :, :channels]
    rgb = np.asarray(rgb)  # Pillow without the Arrow export: its copy
    if channels == 3:
        return rgb
    out = np.empty(rgb.shape[:2] + (4,), dtype=np.uint8)
    out[:, :, :3] = rgb
    out[:, :, 3] = 255
    return out


def _joined_runs(image: Any):
    """An image Pillow holds in several blocks, copied run by run into one new numpy
    array ((H, W, 4) uint8 for RGB), or None when its runs cannot be read. numpy's large
    allocations are backed by huge pages where the kernel allows (2 MB page faults), while
    ``one_block``'s new Pillow block is faulted in 4 KB pages: 1.5x less CPU time for a
    12 MP photo (``benchmarks/bench_pixel_choices.py``)."""
    import numpy as np

    runs = row_runs(image)
    if runs is None:
        return None
    out = np.empty((image.height, image.width, runs[0][1].shape[2]), dtype=np.uint8)
    for r0, arr in runs:
        out[r0 : r0 + arr.shape[0]] = arr
    return out


_PIXEL_SIZE = {"RGB": 4, "RGBA": 4, "RGBX": 4, "L": 1}
_get_name = ctypes.pythonapi.PyCapsule_GetName
_get_name.restype = ctypes.c_char_p
_get_name.argtypes = [ctypes.py_object]


def _line_table(image: Any) -> int | None:
    """The address of Pillow's table of line pointers (``Imaging->image``) for a loaded
    image of a plain 8-bit mode, or None when the struct does not look as expected.

    ``ImagingMemoryInstance`` starts with the mode (a 7-byte string before Pillow 12, an
    int since), then the ints type, depth, bands, xsize, ysize, then the pointers
    palette, image8, image32, image. The ints (bands, xsize, ysize) are found in the
    first 64 bytes, so both layouts are read; the caller still checks pixels against
    ``getpixel`` before trusting the table."""
    try:
        capsule = image.im.ptr
        address = _get_pointer(capsule, _get_name(capsule))
    except (AttributeError, ValueError, TypeError):
        return None
    if not address:
        return None
    w, h = image.size
    bands = len(image.getbands()) if image.mode != "RGBX" else 4
    ints = (ctypes.c_int32 * 16).from_address(address)
    found = [i for i in range(1, 13) if (ints[i], ints[i + 1], ints[i + 2]) == (bands, w, h)]
    if len(found) != 1:
        return None
    pointers = (found[0] * 4 + 12 + 7) // 8 * 8  # palette, image8, image32, image
    image8, image32, table = (ctypes.c_void_p.from_address(address + pointers + 8 * k).value for k in (1, 2, 3))
    if not table or table != (image8 if _PIXEL_SIZE[image.mode] == 1 else image32):
        return None
    return table


def row_runs(image: Any) -> list[tuple[int, Any]] | None:
    """A loaded image of mode RGB, RGBA, RGBX or L as runs of contiguous rows, read in
    place from Pillow's memory: [(first row, (rows, W, pixel bytes) uint8 array), ...],
    one run per block Pillow allocated (an RGB pixel is 4 bytes, RGBX). No copy: the
    way to read an image that Pillow holds in several blocks (every image over 16 MB
    made before its block size was raised), which it will not export.

    None when the mode is another, or Pillow's struct cannot be read and verified
    (unknown layout): the caller then copies (``one_block``). The arrays keep the image
    alive; never write to them."""
    import numpy as np
    import PIL

    if image.mode not in _PIXEL_SIZE or not 9 <= int(PIL.__version__.split(".")[0]) <= 13:
        return None
    image.load()
    table = _line_table(image)
    if table is None:
        return None
    w, h = image.size
    ps = _PIXEL_SIZE[image.mode]
    line = w * ps
    rows = np.ctypeslib.as_array((ctypes.c_uint64 * h).from_address(table)).copy()
    if not rows.all():
        return None
    breaks = np.flatnonzero(np.diff(rows.astype(np.int64)) != line) + 1
    starts = [0, *breaks.tolist()]
    ends = [*breaks.tolist(), h]
    core = image.im  # the arrays hold Pillow's image object: its memory lives as long as they do
    runs = []
    for a, e in zip(starts, ends):
        buffer = (ctypes.c_uint8 * (line * (e - a))).from_address(int(rows[a]))
        buffer._owner = core  # type: ignore[attr-defined]
        runs.append((a, np.frombuffer(buffer, dtype=np.uint8).reshape(e - a, w, ps)))
    if not _same_pixels(image, runs):
        return None
    return runs


def _same_pixels(image: Any, runs: list[tuple[int, Any]]) -> bool:
    """Whether the runs hold the image's pixels: ``getpixel`` at the first and last row
    of every run and at a few columns (the check that the struct was read right)."""
    w = image.width
    bands = len(image.getbands())
    for a, arr in runs:
        for y in {0, arr.shape[0] - 1}:
            for x in {0, w // 2, w - 1}:
                want = image.getpixel((x, a + y))
                want = want if isinstance(want, tuple) else (want,)
                if tuple(int(v) for v in arr[y, x, :bands]) != tuple(want):
                    return False
    return True


def writable_rgbx(size: tuple[int, int]):
    """A new one-block RGB PIL image of ``size`` and a writable (H, W, 4) uint8 view of
    its RGBX memory (to fill it in one copy), or None where Pillow cannot export it."""
    image = new_image("RGB", size)
    view = _arrow_rgbx(image)
    if view is None:
        return None
    view.flags.writeable = True
    return image, view


def image_from_rgbx(rgbx: Any) -> Any:
    """An (H, W, 4) uint8 RGBX array as an RGB PIL image in one block. A C-contiguous
    array becomes the image's memory itself through Pillow's Arrow import (no copy: the
    caller hands the array over and must not write to it afterwards; a 2800x2100 canvas
    took 3.8-13 ms to copy into a new Pillow block, most of it faulting the block's
    pages); otherwise, or without Arrow (Pillow < 11.2, no pyarrow), one copy of whole
    pixels into Pillow's memory (``Image.frombytes`` first zero-fills the image, then
    unpacks line by line: twice the writes)."""
    shared = _rgb_image_over(rgbx)
    if shared is not None:
        return shared
    made = writable_rgbx((rgbx.shape[1], rgbx.shape[0]))
    if made is None:  # Pillow without the Arrow export
        from PIL import Image

        return Image.frombytes("RGB", (rgbx.shape[1], rgbx.shape[0]), rgbx, "raw", "RGBX")
    image, view = made
    view[...] = rgbx
    return image


def _rgb_image_over(rgbx: Any) -> Any:
    """An RGB PIL image over the memory of a C-contiguous (H, W, 4) uint8 RGBX array
    (Pillow's own RGB layout), or None where Pillow or pyarrow cannot import it."""
    if not rgbx.flags.c_contiguous or rgbx.ndim != 3 or rgbx.shape[2] != 4 or rgbx.dtype.itemsize != 1:
        return None
    try:
        import pyarrow as pa
        from PIL import Image

        fromarrow = Image.fromarrow
    except (ImportError, AttributeError):
        return None
    try:
        pixels = pa.FixedSizeListArray.from_arrays(pa.array(rgbx.reshape(-1)), 4)
        return fromarrow(pixels, "RGB", (rgbx.shape[1], rgbx.shape[0]))
    except Exception:  # an Arrow import this Pillow refuses: copy instead
        return None


def chw(image: Any):
    """An RGB image as a (3, H, W) uint8 array for reading: a view of Pillow's RGBX memory
    (strides (1, 4 W, 4); read-only, it keeps the image alive) when Pillow exports it,
    else a new contiguous copy (``planar``). The normalisers read any strides in one pass,
    so a view spares the channel-first copy (a quarter of an exact preprocess of small
    views)."""
    rgbx = _arrow_rgbx(image) if image.mode == "RGB" else None
    if rgbx is None:
        return planar(image)
    view = rgbx[:, :, :3].transpose(2, 0, 1)
    view.flags.writeable = False
    return view


def planar(image: Any):
    """An RGB image as a (3, H, W) uint8 array (a new, contiguous, writable copy)."""
    import numpy as np

    return np.ascontiguousarray(pixels(image).transpose(2, 0, 1))

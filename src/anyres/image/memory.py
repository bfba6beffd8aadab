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
    first copied into one (``one_block``). Never write to it: it may be the image
    itself."""
    import numpy as np

    rgb = image.convert("RGB") if image.mode != "RGB" else image
    rgbx = _arrow_rgbx(rgb)
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


def writable_rgbx(size: tuple[int, int]):
    """A new one-block RGB PIL image of ``size`` and a writable (H, W, 4) uint8 view of
    its RGBX memory (to fill it in one copy), or None where Pillow cannot export it."""
    image = new_image("RGB", size)
    view = _arrow_rgbx(image)
    if view is None:
        return None
    view.flags.writeable = True
    return image, view


def planar(image: Any):
    """An RGB image as a (3, H, W) uint8 array (a new, contiguous, writable copy)."""
    import numpy as np

    return np.ascontiguousarray(pixels(image).transpose(2, 0, 1))

"""Pillow images as numpy arrays without copying their pixels.

``np.asarray(image)`` copies: Pillow serialises the image through its raw encoder
(``tobytes``) line by line, then joins the pieces -- ~50 ms for a 12-megapixel photo
here, as long as resizing it with a SIMD kernel. Pillow >= 11.2 exports its memory
through the Arrow C data interface (``__arrow_c_array__``); an RGB image is stored as
RGBX, four bytes a pixel, so the export is an (H, W, 4) uint8 array over Pillow's own
buffer. This module reads that export with ctypes (the interface is a stable C ABI,
so no pyarrow is needed).

Pillow allocates an image in blocks of ``Image.core.get_block_size()`` bytes (16 MB by
default) and exports only images held in one block, so ``contiguous_images()`` raises
the block size once, the first time anyres decodes: from then on every image (anyres's
or the process's) is one allocation, as a numpy array is. Memory use does not change;
Pillow only stops splitting large images into 16 MB pieces.

An image that cannot be exported (several blocks, a Pillow without Arrow, a mode other
than RGB) falls back to ``np.asarray``, which copies.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

BLOCK_SIZE = (1 << 31) - 4096  # the largest C int that is a multiple of the page size
_done = False
_lock = threading.Lock()


def contiguous_images() -> None:
    """Let Pillow allocate every new image in one block (idempotent)."""
    global _done
    if _done:
        return
    with _lock:
        from PIL import Image

        core = Image.core
        if hasattr(core, "set_block_size") and core.get_block_size() < BLOCK_SIZE:
            core.set_block_size(BLOCK_SIZE)
        _done = True


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
    3-channel view then has a pixel stride of 4 bytes), else a copy. Never write to it:
    it may be the image itself."""
    import numpy as np

    rgbx = _arrow_rgbx(image)
    if rgbx is not None:
        return rgbx[:, :, :channels]
    rgb = np.asarray(image.convert("RGB") if image.mode != "RGB" else image)
    if channels == 3:
        return rgb
    out = np.empty(rgb.shape[:2] + (4,), dtype=np.uint8)
    out[:, :, :3] = rgb
    out[:, :, 3] = 255
    return out


def planar(image: Any):
    """An RGB image as a (3, H, W) uint8 array (a new, contiguous, writable copy)."""
    import numpy as np

    return np.ascontiguousarray(pixels(image).transpose(2, 0, 1))

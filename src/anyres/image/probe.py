"""``probe``: what an image source is, from its header alone.

One header reader for every layer that plans before decoding (``anyres.plan``, the
pixel workers' planning ahead, the fast path, ``anyres budget``). The size it reports
is the size ``load_image`` will present: after EXIF orientation, and for arrays and
tensors with the same reading of the axes (channels-first included). Files are read
up to the end of their header (a PNG's chunk headers are walked to find a late EXIF
chunk; see ``orientation``); arrays and tensors by their shape; nothing is decoded.
"""

from __future__ import annotations

import io
import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from ..errors import ImageError
from ..plan.types import Size
from .arrays import image_shape
from .decode import describe, open_header
from .files import open_regular
from .limits import DEFAULT_MAX_PIXELS, NO_LIMIT, check_pixels
from .orientation import TRANSPOSING, orientation

_ARRAY_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


@dataclass(frozen=True, slots=True)
class Header:
    """An image source as ``load_image`` will present it, read from its header.

    - ``size``: (width, height) as displayed, after the EXIF orientation;
    - ``format``: Pillow's format name (``"PNG"``, ``"JPEG"``, ...), None for arrays,
      tensors and PIL images made in memory;
    - ``mode``: the stored pixels' Pillow mode (arrays: ``"L"``, ``"RGB"``, ``"RGBA"``
      by their channels), before ``load_image`` converts it to RGB;
    - ``orientation``: the EXIF orientation (1-8) that turns the stored pixels into
      ``size`` (1: as stored);
    - ``frames``: frames or pages the header declares (1 for a still image), None when
      only reading through the file would tell (GIF, TIFF).
    """

    size: Size
    format: str | None
    mode: str
    orientation: int = 1
    frames: int | None = 1

    @property
    def stored(self) -> Size:
        """(width, height) of the pixels as stored, before the orientation."""
        w, h = self.size
        return Size(h, w) if self.orientation in TRANSPOSING else self.size


def probe(source: Any, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Header:
    """The ``Header`` of ``source``: a path (regular files only: a FIFO, device or
    directory is refused), bytes, a seekable binary file object (its position is
    kept), a PIL image, a numpy array or a torch tensor (H x W, H x W x C or C x H x W).

    Raises ``ImageError`` for anything ``load_image`` would refuse from the header:
    not an image, unreadable, or more than ``max_pixels`` pixels (None: no limit).
    """
    name = describe(source)
    if hasattr(source, "getexif") and hasattr(source, "size"):  # a PIL image
        return _checked(header_of(source), max_pixels, name)
    shape = getattr(source, "shape", None)
    if shape is not None and (hasattr(source, "__array__") or hasattr(source, "__array_interface__")):
        height, width, channels, _ = image_shape(shape, name)
        return _checked(Header(Size(width, height), None, _ARRAY_MODES[channels]), max_pixels, name)
    with open_image(source, max_pixels=max_pixels) as (_, header):
        return header


@contextmanager
def open_image(source: Any, *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Iterator[tuple[Any, Header]]:
    """An encoded source (path, bytes or seekable binary file object) opened header
    only: the lazy PIL image (``load()`` it to decode) and its ``Header``. Closes what
    it opened and restores a file object's position on exit."""
    name = describe(source)
    own = isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview))
    if isinstance(source, (str, os.PathLike)):
        fp = open_regular(source, name)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        fp = io.BytesIO(source)
    elif hasattr(source, "read") and hasattr(source, "seek"):
        if not _seekable(source):
            raise ImageError(f"{name}: a stream that cannot seek has no header to read without consuming it; pass bytes")
        fp = source
    else:
        raise ImageError(
            f"{name}: cannot read an image header from {type(source).__name__} "
            "(pass a path, bytes, a binary file object, a PIL image, an array or a tensor)"
        )
    position = 0
    try:
        position = fp.tell()
        with open_header(fp, max_pixels, name) as im:  # Pillow reads from the stream's start
            yield im, header_of(im, 0)
    finally:
        if own:
            fp.close()
        else:
            fp.seek(position)


def header_of(im: Any, start: int | None = None) -> Header:
    """The ``Header`` of a PIL image (opened lazily or decoded); ``start`` is where its
    bytes begin in ``im.fp``, when known."""
    turn = orientation(im, start)
    w, h = im.size
    size = Size(h, w) if turn in TRANSPOSING and not _size_oriented(im) else Size(w, h)
    return Header(size, getattr(im, "format", None), im.mode, turn, _frames(im))


def _size_oriented(im: Any) -> bool:
    """Pillow's TIFF reader reports the displayed size already (and applies the
    orientation itself when it decodes)."""
    from PIL import TiffImagePlugin

    return isinstance(im, TiffImagePlugin.TiffImageFile)


def _frames(im: Any) -> int | None:
    state = vars(im)
    if "_n_frames" in state:  # counted lazily by walking the file (GIF, TIFF): None until then
        return state["_n_frames"]
    n = state.get("n_frames", getattr(type(im), "n_frames", 1))
    return n if isinstance(n, int) else None


def _checked(header: Header, max_pixels: int | None, name: str) -> Header:
    check_pixels(*header.size, NO_LIMIT if max_pixels is None else max_pixels, name)
    return header


def _seekable(fp: Any) -> bool:
    try:
        return bool(fp.seekable())
    except Exception:
        return False

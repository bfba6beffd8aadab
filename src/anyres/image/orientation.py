"""EXIF orientation from the header, for every format, without decoding pixels.

Pillow reads the EXIF block (and the XMP ``tiff:Orientation`` it falls back on) when it
opens a JPEG, WebP, TIFF or MPO: ``getexif()`` costs nothing more there. A PNG may carry
its ``eXIf`` chunk (or a text chunk with EXIF or XMP) after the pixel data, where
Pillow finds it only by decoding the whole image (``PngImageFile.getexif`` calls
``load()``: 2 s and 660 MB for a 13000 x 13000 PNG). ``orientation`` walks the PNG chunk
list instead, reading 8-byte chunk headers and seeking past the data (nothing is
decompressed), and parses the metadata chunks after the pixel data with Pillow's own
chunk readers, as ``load()`` would. ``anyres.load_image`` applies exactly this value.
"""

from __future__ import annotations

import os
import re
import struct
from typing import Any, Callable

ORIENTATION_TAG = 0x0112
# EXIF orientations 5-8 transpose the image: the displayed size is (height, width).
TRANSPOSING = frozenset({5, 6, 7, 8})
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A walk longer than this (a 2 GB PNG in libpng's 8 KB chunks) is left to Pillow.
MAX_PNG_CHUNKS = 1 << 18
_METADATA_CHUNKS = frozenset({b"eXIf", b"tEXt", b"zTXt", b"iTXt"})
_DATA_CHUNKS = frozenset({b"IDAT", b"fdAT"})
# a metadata chunk larger than this after the pixel data is left to Pillow (EXIF is
# at most 64 KB in JPEG; no real PNG puts megabytes of text after its pixels)
MAX_LATE_METADATA = 1 << 24
_CHUNK_TYPE = re.compile(rb"\w{4}")  # what Pillow accepts as a chunk type


def orientation(im: Any, start: int | None = None) -> int:
    """The EXIF orientation (1-8) of the PIL image ``im`` as displayed, 1 when there is
    none or it is unreadable (a broken EXIF block does not change the geometry).

    ``start`` is where the image's bytes begin in ``im.fp`` (0 when not given) and is
    used only for a PNG whose pixels are not decoded yet."""
    try:
        if _undecoded_png(im):
            late = _png_late_metadata(im.fp, 0 if start is None else start, getattr(im, "is_animated", False))
            if late is not None:
                value = _orientation_in(im.info, late)
            else:  # not walkable: Pillow decodes
                value = im.getexif().get(ORIENTATION_TAG, 1)
        else:
            value = im.getexif().get(ORIENTATION_TAG, 1)
    except Exception:
        return 1
    # as ImageOps.exif_transpose: only the integers 2-8 transform the image
    return value if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 8 else 1


def _undecoded_png(im: Any) -> bool:
    return getattr(im, "format", None) == "PNG" and bool(getattr(im, "tile", None)) and getattr(im, "fp", None) is not None


def _orientation_in(info: dict, late: dict) -> Any:
    """Pillow's own EXIF (and XMP fallback) reading, over the image's header info with
    the chunks after the pixel data applied on top, as ``load()`` applies them."""
    from PIL import Image

    holder = Image.new("1", (1, 1))
    holder.info = {**info, **late}
    return holder.getexif().get(ORIENTATION_TAG, 1)


def _reader(fp: Any) -> Callable[[int, int], bytes]:
    """read_at(position, n), without moving a real file's position where possible."""
    try:
        fd = fp.fileno()
        os.fstat(fd)
        if hasattr(os, "pread"):
            return lambda pos, n: os.pread(fd, n, pos)
    except (AttributeError, OSError, ValueError):
        pass

    def read_at(pos: int, n: int) -> bytes:
        fp.seek(pos)
        return fp.read(n)

    return read_at


def _png_late_metadata(fp: Any, start: int, animated: bool) -> dict | None:
    """The info that Pillow's ``load()`` adds from the chunks after the first pixel-data
    chunk (up to IEND, or for an animation the next frame's fcTL), or None when the
    stream does not start with a PNG signature at ``start``, has more than
    ``MAX_PNG_CHUNKS`` chunks or a late metadata chunk over ``MAX_LATE_METADATA``
    bytes. Only chunk headers are read, except for the metadata
    chunks after the pixel data."""
    from PIL import PngImagePlugin

    saved = fp.tell()
    try:
        read_at = _reader(fp)
        if read_at(start, 8) != PNG_SIGNATURE:
            return None
        stream = PngImagePlugin.PngStream(fp)
        pos, seen_data = start + 8, False
        for _ in range(MAX_PNG_CHUNKS):
            head = read_at(pos, 8)
            if len(head) < 8:
                return stream.im_info
            length, cid = struct.unpack(">I4s", head)
            if cid == b"IEND" or not _CHUNK_TYPE.fullmatch(cid):  # Pillow stops at a broken chunk type too
                return stream.im_info
            if cid in _DATA_CHUNKS:
                seen_data = True
            elif seen_data:
                if cid == b"fcTL" and animated:
                    return stream.im_info
                if cid in _METADATA_CHUNKS:
                    if length > MAX_LATE_METADATA:
                        return None
                    fp.seek(pos + 8)
                    try:
                        stream.call(cid, pos + 8, length)
                    except Exception:  # Pillow's load() stops (or fails) here too
                        return stream.im_info
            pos += 12 + length  # length, type, data, CRC
        return None
    finally:
        fp.seek(saved)

"""Checks that a decoded file held the pixels its header claims (``load_image``).

Decoders fill what a short file lacks: libjpeg paints missing MCU rows grey when it
meets an early end-of-image marker, and Pillow's PNG decoder stops quietly when the
zlib stream ends before the last row. ``load_image`` refuses such files as truncated
(``ImageError``) unless the caller passes ``allow_truncated=True``.

- Baseline JPEG: every 8 x 8 block of the luma plane costs at least two bits (a DC
  code and an end-of-block code, each at least one bit; baseline has no end-of-band
  runs), so a file smaller than ``blocks / 4`` bytes cannot hold its frame. Progressive
  files can code runs of empty blocks in a few bits and are not bounded this way.
- PNG: when the decoded last row is all zeros (what Pillow leaves where data is
  missing), the IDAT stream is inflated once more, in bounded chunks (no copy of the
  image), and must yield every row the header announces; complete files whose last row
  is not black pay nothing (a second inflate cost +60-80% of the decode). A file over
  ``SUSPICIOUS_RATIO`` times smaller than its pixels is checked before decoding, so a
  70-byte "13000 x 13000" PNG is refused without allocating 500 MB.
- PNM: a header whose comments run past ``MAX_PNM_HEADER`` bytes is refused before
  Pillow's parser walks it byte by byte (a 10 MB comment took 29 s).
"""

from __future__ import annotations

import math
import struct
import zlib
from typing import Any

from ..errors import ImageError

MAX_PNM_HEADER = 65536
_CHUNK = 1 << 16


def check_pnm_header(fp: Any, name: str) -> None:
    start = fp.tell()
    head = fp.read(2)
    try:
        if len(head) < 2 or head[:1] != b"P" or head[1:2] not in b"1234567":
            return
        data = fp.read(MAX_PNM_HEADER)
        tokens, i, n = 0, 0, len(data)
        need = 2 if head[1:2] in b"14" else 3
        while i < n and tokens < need:
            c = data[i : i + 1]
            if c == b"#":
                j = data.find(b"\n", i)
                if j < 0:
                    break
                i = j + 1
            elif c.isspace():
                i += 1
            else:
                while i < n and not data[i : i + 1].isspace() and data[i : i + 1] != b"#":
                    i += 1
                tokens += 1
        if tokens < need and n >= MAX_PNM_HEADER:
            raise ImageError(f"{name}: PNM header longer than {MAX_PNM_HEADER:,} bytes (comments); refused")
    finally:
        fp.seek(start)


def check_complete(fp: Any, im: Any, name: str, before_decode: bool) -> None:
    """``ImageError`` when the file cannot hold the pixels its header claims: JPEG
    from the header (``before_decode``); PNG after decoding, and only when its last row
    is all zeros (the decoder's filler), so that complete files pay nothing for it."""
    fmt = im.format
    if fmt == "JPEG" and before_decode:
        _check_jpeg(fp, im, name)
    elif fmt == "PNG" and before_decode and _suspicious_ratio(fp, im):
        _check_png(fp, im, name)  # before the decoder allocates what the header claims
    elif fmt == "PNG" and not before_decode and _last_row_blank(im):
        _check_png(fp, im, name)


SUSPICIOUS_RATIO = 1000  # raw pixel bytes per file byte; flat scans reach ~200


def _suspicious_ratio(fp: Any, im: Any) -> bool:
    return im.width * im.height * len(im.getbands()) > SUSPICIOUS_RATIO * max(1, _size_of(fp))


def _last_row_blank(im: Any) -> bool:
    row = im.crop((0, im.height - 1, im.width, im.height)).tobytes()
    return row.count(0) == len(row)


def _size_of(fp: Any) -> int:
    pos = fp.tell()
    fp.seek(0, 2)
    end = fp.tell()
    fp.seek(pos)
    return end


def _check_jpeg(fp: Any, im: Any, name: str) -> None:
    if im.info.get("progressive") or im.info.get("progression"):
        return
    blocks = math.ceil(im.width / 8) * math.ceil(im.height / 8)
    need = blocks // 4
    have = _size_of(fp)
    if have < need:
        raise ImageError(
            f"{name}: truncated JPEG: {have:,} bytes cannot hold a {im.width}x{im.height} baseline frame "
            f"(at least {need:,}); pass allow_truncated=True to accept the decoder's filler"
        )


_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _check_png(fp: Any, im: Any, name: str) -> None:
    pos = fp.tell()
    try:
        fp.seek(8)
        header = fp.read(25)
        if len(header) < 25 or header[4:8] != b"IHDR":
            return
        w, h, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header[8:21])
        if interlace or colour not in _CHANNELS:
            return  # Adam7 passes: not checked here
        row = 1 + math.ceil(w * depth * _CHANNELS[colour] / 8)
        need = row * h
        inflater = zlib.decompressobj()
        got = 0
        fp.seek(8)
        while got < need:
            head = fp.read(8)
            if len(head) < 8:
                break
            length, kind = struct.unpack(">I4s", head)
            if kind == b"IEND":
                break
            if kind != b"IDAT":
                fp.seek(length + 4, 1)
                continue
            left = length
            while left and got < need:
                data = fp.read(min(_CHUNK, left))
                if not data:
                    break
                left -= len(data)
                try:
                    got += len(inflater.decompress(data, need - got + 1))
                    while inflater.unconsumed_tail and got < need:
                        got += len(inflater.decompress(inflater.unconsumed_tail, need - got + 1))
                except zlib.error:
                    break
            fp.seek(left + 4, 1)
        if got < need:
            raise ImageError(
                f"{name}: truncated PNG: its data holds {got // row:,} of {h:,} rows; "
                "pass allow_truncated=True to accept the decoder's filler"
            )
    finally:
        fp.seek(pos)

"""The pixel limit, checked from the header (or the array shape) before decoding."""

from __future__ import annotations

import threading
import warnings
from contextlib import contextmanager
from typing import Iterator

from ..errors import ImageError

# Pillow's own hard limit (2 x Image.MAX_IMAGE_PIXELS): a larger claim is a bomb.
DEFAULT_MAX_PIXELS = 178_956_970
# ``max_pixels=None`` (no limit of the caller's): Pillow still needs a number
NO_LIMIT = 1 << 62


def check_pixels(width: int, height: int, max_pixels: int, name: str) -> None:
    if width < 1 or height < 1:
        raise ImageError(f"{name}: image size {width}x{height} has an empty side")
    if width * height > max_pixels:
        raise ImageError(
            f"{name}: {width}x{height} = {width * height:,} pixels exceeds the limit of {max_pixels:,} "
            "(max_pixels); refused before decoding"
        )


_PILLOW_LOCK = threading.Lock()


@contextmanager
def pillow_allows(pixels: int) -> Iterator[None]:
    """Let Pillow open (or crop) an image of ``pixels`` pixels, which our own
    ``max_pixels`` accepted, even when that is above Pillow's decompression-bomb limit.

    Pillow checks a process-wide ``Image.MAX_IMAGE_PIXELS`` (refusing above twice it)
    with no per-call setting, so the global is raised for the duration, under a lock
    that every anyres caller takes; other Pillow users in the process see the raised
    limit only during that window. Pillow's warnings about large images are silenced
    here: anyres has made its own check from the header.
    """
    from PIL import Image

    with _PILLOW_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        saved = Image.MAX_IMAGE_PIXELS
        if saved is not None and pixels > 2 * saved:
            Image.MAX_IMAGE_PIXELS = pixels // 2 + 1
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved

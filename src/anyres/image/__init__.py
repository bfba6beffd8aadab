"""Image decoding (Pillow). ``open_oriented`` is the minimal safe open used by the CLI."""

from __future__ import annotations

import os
from typing import Any

from ..errors import ImageError


def open_oriented(path: str | os.PathLike, max_pixels: int = 256_000_000) -> Any:
    """Open an image file as RGB with its EXIF orientation applied.

    The pixel count is checked from the header before any pixel is decoded.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    name = os.fspath(path)
    try:
        with Image.open(name) as im:
            w, h = im.size
            if w * h > max_pixels:
                raise ImageError(f"{name}: {w}x{h} = {w * h} pixels exceeds the limit of {max_pixels}")
            im = ImageOps.exif_transpose(im)
            return im.convert("RGB")
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError(f"{name}: not a readable image ({exc})") from None

"""The pixel limit, checked from the header (or the array shape) before decoding."""

from __future__ import annotations

from ..errors import ImageError

# Pillow's own hard limit (2 x Image.MAX_IMAGE_PIXELS): a larger claim is a bomb.
DEFAULT_MAX_PIXELS = 178_956_970


def check_pixels(width: int, height: int, max_pixels: int, name: str) -> None:
    if width < 1 or height < 1:
        raise ImageError(f"{name}: image size {width}x{height} has an empty side")
    if width * height > max_pixels:
        raise ImageError(
            f"{name}: {width}x{height} = {width * height:,} pixels exceeds the limit of {max_pixels:,} "
            "(max_pixels); refused before decoding"
        )

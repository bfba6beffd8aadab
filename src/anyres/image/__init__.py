"""anyres.image: decode any image source safely to oriented 8-bit RGB.

``load_image`` is the one entry point (see ``decode`` for the order of checks and
``modes`` for how each Pillow mode becomes RGB); ``probe`` reads the same sources'
headers only (oriented size, format, mode), for planning before decoding.
"""

from __future__ import annotations

from .decode import describe, load_image
from .limits import DEFAULT_MAX_PIXELS, check_pixels
from .modes import to_rgb, to_uint8
from .probe import Header, open_image, probe

__all__ = ["DEFAULT_MAX_PIXELS", "Header", "check_pixels", "describe", "load_image", "open_image", "probe", "to_rgb", "to_uint8"]

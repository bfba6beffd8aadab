"""Arrays to RGB images: grayscale 2-D, HxWx1, HxWx3, HxWx4 and channels-first.

Values are scaled to 8 bits by ``modes.to_uint8`` (uint16 by 255/65535, floats in
[0, 1] by 255, ...). A leading axis of 1, 3 or 4 with a trailing axis that is not
(``3 x H x W``, as torch tensors come) is taken as channels-first.
"""

from __future__ import annotations

from typing import Any

from ..errors import ImageError
from .limits import DEFAULT_MAX_PIXELS, check_pixels
from .modes import Colour, _composite, to_uint8


def array_to_rgb(
    array: Any, background: Colour = (255, 255, 255), name: str = "array", max_pixels: int = DEFAULT_MAX_PIXELS
) -> Any:
    import numpy as np
    from PIL import Image

    a = np.asarray(array)
    if a.ndim == 3 and a.shape[0] in (1, 3, 4) and a.shape[-1] not in (1, 3, 4):
        a = np.moveaxis(a, 0, -1)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (3, 4)):
        raise ImageError(f"{name}: array of shape {a.shape} is not an image (H x W, H x W x 1/3/4 or 1/3/4 x H x W)")
    check_pixels(a.shape[1], a.shape[0], max_pixels, name)
    a = np.ascontiguousarray(to_uint8(a, name))
    if a.ndim == 2:
        return Image.fromarray(a, "L").convert("RGB")
    if a.shape[-1] == 4:
        return _composite(Image.fromarray(a, "RGBA"), background)
    return Image.fromarray(a, "RGB")

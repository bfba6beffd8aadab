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


def image_shape(shape: Any, name: str = "array") -> tuple[int, int, int, bool]:
    """(height, width, channels, channels_first) of an image array of ``shape``: H x W,
    H x W x C, or C x H x W when the leading axis is 1, 3 or 4 and the trailing one is
    not (C in 1, 3, 4). ``ImageError`` for any other shape. Reads the shape only, so
    ``probe`` plans an array or tensor exactly as ``load_image`` will decode it."""
    dims = tuple(int(d) for d in shape)
    channels_first = len(dims) == 3 and dims[0] in (1, 3, 4) and dims[-1] not in (1, 3, 4)
    if channels_first:
        channels, height, width = dims
    elif len(dims) == 3:
        height, width, channels = dims
    elif len(dims) == 2:
        (height, width), channels = dims, 1
    else:
        channels = 0
    if channels not in (1, 3, 4):
        raise ImageError(f"{name}: array of shape {dims} is not an image (H x W, H x W x 1/3/4 or 1/3/4 x H x W)")
    return height, width, channels, channels_first


class RGBArray:
    """An RGB image held as the caller's (H, W, 3) uint8 array (any strides), read in
    place: both pixel paths' input for an RGB uint8 array or tensor. The fast path's
    torch resizes read the array itself (three interleaved channels resize as fast as
    four), the exact resampler its 3-byte pixels as they are (``resample.resize_image``;
    an RGBX copy made in numpy memory, ``rgbx``, only for other layouts: a channels-first
    tensor's planes); copying it into a new Pillow image first cost ~35 ms for a
    12-megapixel array, more than the preprocessing. ``crop`` is a view; ``pil()`` makes the Pillow copy once, for the
    steps that need Pillow (pasting, an unresized view). Never written to."""

    mode = "RGB"

    def __init__(self, hwc: Any) -> None:
        self.hwc = hwc
        self.height, self.width = int(hwc.shape[0]), int(hwc.shape[1])
        self._pil = self._rgbx = None

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    def interleaved(self) -> Any:
        """The pixels as an array whose channels are interleaved in rows of whole pixels
        (torch's fast resize layout): the array itself when it is so (H x W x 3 with a
        3-byte pixel stride and rows one after another), else a new (H, W, 4) RGBX copy
        (a channels-first tensor's planes, a strided crop)."""
        a = self.hwc
        if a.strides[2] == 1 and a.strides[1] == 3 and (a.shape[0] == 1 or a.strides[0] == 3 * a.shape[1]):
            return a
        return self.rgbx()

    def rgbx(self) -> Any:
        """The pixels as an (H, W, 4) uint8 RGBX array (Pillow's own pixel layout, which
        the exact resampler's kernels read), made once: a plan's canvases resize the same
        image (LLaVA-NeXT's base and grid, InternVL's tiles and thumbnail)."""
        if self._rgbx is None:
            self._rgbx = self._interleave()
        return self._rgbx

    def _interleave(self) -> Any:
        import numpy as np

        a = self.hwc
        out = np.empty((a.shape[0], a.shape[1], 4), dtype=np.uint8)
        write_rgbx(a, out)
        return out

    def crop(self, box: Any) -> "RGBArray":
        """``Image.crop``: the box (integers) as an ``RGBArray``, a view when the box lies
        inside the image, else a copy zero-filled past its edges (as Pillow fills)."""
        import numpy as np

        left, top, right, bottom = (int(v) for v in box)
        if 0 <= left <= right <= self.width and 0 <= top <= bottom <= self.height:
            return RGBArray(self.hwc[top:bottom, left:right])
        out = np.zeros((max(0, bottom - top), max(0, right - left), 3), dtype=np.uint8)
        x0, y0, x1, y1 = max(left, 0), max(top, 0), min(right, self.width), min(bottom, self.height)
        if x0 < x1 and y0 < y1:
            out[y0 - top : y1 - top, x0 - left : x1 - left] = self.hwc[y0:y1, x0:x1]
        return RGBArray(out)

    def resize(self, size: Any, resample: int = 3, box: Any = None, reducing_gap: Any = None) -> Any:
        """``Image.resize`` by Pillow itself (the copy into Pillow memory of this array: use
        it on crops; ``pixels.resample.resize_image`` reads the array in place)."""
        return self.pil().resize(tuple(size), resample, box=box, reducing_gap=reducing_gap)

    def pil(self) -> Any:
        """The image as an RGB ``PIL.Image`` (one copy, made once)."""
        if self._pil is None:
            self._pil = _rgb_uint8(self.hwc, False)
        return self._pil


def rgb_array(source: Any, name: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> RGBArray | None:
    """``source`` (a numpy array, or a torch tensor on any device) as an ``RGBArray``
    when it is an RGB uint8 image (H x W x 3 or 3 x H x W, no negative strides) within
    ``max_pixels``; None for anything else (``load_image`` converts or refuses it). A
    CPU array or tensor is not copied."""
    import numpy as np

    if hasattr(source, "detach"):  # a torch tensor
        if str(getattr(source, "dtype", "")) != "torch.uint8":
            return None
        from .decode import tensor_to_numpy

        source = tensor_to_numpy(source, name)
    if not isinstance(source, np.ndarray) or source.dtype != np.uint8 or min(source.strides, default=0) < 0:
        return None  # (torch cannot read negative strides: a flipped array is copied)
    height, width, channels, channels_first = image_shape(source.shape, name)
    if channels != 3:
        return None
    check_pixels(width, height, max_pixels, name)
    return RGBArray(np.moveaxis(source, 0, -1) if channels_first else source)


def array_to_rgb(
    array: Any, background: Colour = (255, 255, 255), name: str = "array", max_pixels: int = DEFAULT_MAX_PIXELS
) -> Any:
    import numpy as np
    from PIL import Image

    a = np.asarray(array)
    height, width, channels, channels_first = image_shape(a.shape, name)
    if channels == 3 and a.dtype == np.uint8:
        check_pixels(width, height, max_pixels, name)
        return _rgb_uint8(a, channels_first)
    if channels_first:
        a = np.moveaxis(a, 0, -1)
    if a.ndim == 3 and channels == 1:
        a = a[..., 0]
    check_pixels(width, height, max_pixels, name)
    a = np.ascontiguousarray(to_uint8(a, name))
    if a.ndim == 2:
        return Image.fromarray(a, "L").convert("RGB")
    if a.shape[-1] == 4:
        return _composite(Image.fromarray(a, "RGBA"), background)
    return Image.fromarray(a, "RGB")


def _rgb_uint8(a: Any, channels_first: bool) -> Any:
    """An RGB uint8 array (H x W x 3 or 3 x H x W, any strides) as an RGB image in one
    block of Pillow memory, written by one copy (no intermediate contiguous array, no
    second copy when the image is read back)."""
    import numpy as np
    from PIL import Image

    from .memory import writable_rgbx

    hwc = np.moveaxis(a, 0, -1) if channels_first else a
    made = writable_rgbx((hwc.shape[1], hwc.shape[0]))
    if made is None:  # Pillow without the Arrow export
        return Image.fromarray(np.ascontiguousarray(hwc), "RGB")
    image, view = made
    if hwc.flags.c_contiguous:
        image.frombytes(hwc)  # Pillow's RGB -> RGBX unpacker: the fastest single copy
        return image
    view[..., :3] = hwc
    view[..., 3] = 255
    return image


def write_rgbx(hwc: Any, out: Any) -> None:
    """out (H, W, 4) uint8, pixels packed (rows of any stride: a window of a larger
    canvas) = the RGBX pixels (R, G, B, 255) of ``hwc`` (H, W, 3), any strides: numba's
    ``rgbx_words`` (one word store a pixel; numpy's strided copy of the same is 5-10x
    slower), numpy when numba is missing."""
    import numpy as np

    try:
        from ._interleave_kernels import rgbx_words
    except ImportError:
        out[..., :3] = hwc
        out[..., 3] = 255
    else:
        rgbx_words(hwc, out.view(np.uint32)[..., 0])

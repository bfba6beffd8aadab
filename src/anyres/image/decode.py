"""Safe decoding: any source to an oriented RGB image, or a typed ``ImageError``.

The order matters for safety and for planning:

1. open the source and read the header only (Pillow's ``Image.open`` is lazy);
2. refuse it when width x height exceeds ``max_pixels``: a 600 KB PNG that claims 200
   megapixels is refused before a byte of pixel data is decoded;
3. decode the first frame (animated GIF, APNG and WebP, multi-page TIFF: the first
   frame or page, as every reference processor takes);
4. apply the EXIF orientation, so the image has the size ``anyres.plan`` planned for;
5. convert the mode to 8-bit RGB (``modes.to_rgb``: alpha composited onto
   ``background``, 16-bit and float scaled, CMYK through its ICC profile).

Large JPEG and PNG files are decoded straight into one block of memory
(``memory.decode_into_one_block``), so their pixels reach numpy and torch without a
copy (``memory.pixels``). A caller's PIL image held in several blocks is returned as it
is: the exact resampler reads its blocks in place (``memory.row_runs``), and only a
consumer that needs one array (the fast path's tensor) copies it, once
(``memory.one_block``). Pillow's allocator is left as it is (the process-wide change is
opt-in: ``ANYRES_PILLOW_ONE_BLOCK=1``).

Every failure (missing file, empty input, text named .jpg, truncated or corrupt data,
an unsupported mode) raises ``ImageError`` naming the source and the reason.
"""

from __future__ import annotations

import io
import os
from typing import Any

from ..errors import ImageError
from .arrays import array_to_rgb
from .files import open_regular
from .limits import DEFAULT_MAX_PIXELS, NO_LIMIT, check_pixels, pillow_allows
from .memory import contiguous_images, decode_into_one_block, opted_in
from .modes import Colour, to_rgb
from .orientation import orientation


def describe(source: Any) -> str:
    """A short name for a source, for error messages."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    name = getattr(source, "name", None)
    if isinstance(name, str) and hasattr(source, "read"):
        return name
    shape = getattr(source, "shape", None)
    if shape is not None:
        return f"<array {tuple(shape)}>"
    if hasattr(source, "getexif") and hasattr(source, "size"):
        return f"<PIL image {source.size[0]}x{source.size[1]} {getattr(source, 'mode', '?')}>"
    return f"<{type(source).__name__}>"


def load_image(
    source: Any,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    background: Colour = (255, 255, 255),
    allow_truncated: bool = False,
) -> Any:
    """Decode ``source`` (a path, bytes, a binary file object, a PIL image or an array)
    to an RGB ``PIL.Image`` with its EXIF orientation applied.

    Raises ``ImageError`` for anything that is not a decodable image within
    ``max_pixels`` pixels. Arrays may be H x W (grayscale), H x W x 1/3/4 or
    channels-first; RGBA and LA are composited onto ``background``. A file whose data
    ends before the pixels its header claims is refused as truncated unless
    ``allow_truncated=True`` (then the decoder's filler stands in for the rest).
    """
    if opted_in():
        contiguous_images()
    name = describe(source)
    background = checked_background(background)
    if hasattr(source, "getexif") and hasattr(source, "size"):  # a PIL image
        check_pixels(*source.size, max_pixels, name)
        try:
            source.load()
        except Exception as exc:
            raise ImageError(f"{name}: cannot read its pixels ({_reason(exc)})") from None
        with _quiet():
            return to_rgb(_oriented(source), background, name)
    if hasattr(source, "__array__") or hasattr(source, "__array_interface__"):
        if hasattr(source, "detach"):  # a torch tensor
            source = tensor_to_numpy(source, name)
        return array_to_rgb(source, background, name, max_pixels)
    fp = _binary_stream(source, name)
    try:
        return _decode(fp, max_pixels, background, name, allow_truncated)
    finally:
        if isinstance(source, (str, os.PathLike)):
            fp.close()


def tensor_to_numpy(t: Any, name: str) -> Any:
    """A torch tensor's values as numpy: dense, on the CPU, in a dtype numpy has
    (bfloat16 and other float types as float32); meta tensors hold no values."""
    import torch

    if t.is_meta:
        raise ImageError(f"{name}: a meta tensor holds no pixel values")
    if t.layout != torch.strided:
        raise ImageError(f"{name}: a {t.layout} tensor; pass a dense one (tensor.to_dense())")
    if t.is_complex():
        raise ImageError(f"{name}: complex tensor dtype {t.dtype} is not an image")
    t = t.detach().cpu()
    if t.is_floating_point() and t.dtype not in (torch.float32, torch.float64, torch.float16):
        t = t.float()
    try:
        return t.numpy()
    except (TypeError, RuntimeError) as exc:
        raise ImageError(f"{name}: tensor dtype {t.dtype} cannot be read as an image ({exc})") from None


def _binary_stream(source: Any, name: str):
    if isinstance(source, (str, os.PathLike)):
        return open_regular(source, name)  # a FIFO, device or directory is refused
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(source))
    if hasattr(source, "read"):
        if getattr(source, "closed", False):
            raise ImageError(f"{name}: the file object is closed")
        if getattr(source, "seekable", lambda: False)():
            return source
        return io.BytesIO(source.read())  # Pillow needs to seek
    raise ImageError(
        f"{name}: cannot load an image from {type(source).__name__} "
        "(pass a path, bytes, a binary file object, a PIL image or an array)"
    )


def open_header(fp: Any, max_pixels: int | None, name: str) -> Any:
    """The lazy PIL image of a seekable binary stream: its header read, no pixels
    decoded, its size within ``max_pixels`` (None: no limit), or ``ImageError``."""
    from PIL import Image, UnidentifiedImageError

    start = fp.tell() if hasattr(fp, "tell") else 0
    limit = NO_LIMIT if max_pixels is None else max_pixels
    try:
        im = _open(fp, limit)
    except UnidentifiedImageError:
        fp.seek(start)
        empty = not fp.read(1)
        raise ImageError(f"{name}: {'empty input' if empty else 'not an image format Pillow can read'}") from None
    except Image.DecompressionBombError as exc:
        raise ImageError(
            f"{name}: the header claims more than the limit of {limit:,} pixels (max_pixels); "
            f"refused before decoding ({exc})"
        ) from None
    except Exception as exc:
        raise ImageError(f"{name}: cannot read the image header ({_reason(exc)})") from None
    try:
        check_pixels(*im.size, limit, name)
    except BaseException:
        im.close()
        raise
    return im


def _decode(fp: Any, max_pixels: int, background: Colour, name: str, allow_truncated: bool = False) -> Any:
    from .integrity import check_complete, check_pnm_header

    check_pnm_header(fp, name)
    with _quiet(), open_header(fp, max_pixels, name) as im:
        if not allow_truncated:
            check_complete(fp, im, name, before_decode=True)
        try:
            im.seek(0)
            decode_into_one_block(im)
            with _quiet(), _truncation(allow_truncated):
                im.load()
        except Exception as exc:
            raise ImageError(f"{name}: corrupt or truncated {im.format or 'image'} data ({_reason(exc)})") from None
        if not allow_truncated:
            check_complete(fp, im, name, before_decode=False)
        with _quiet():
            return to_rgb(_oriented(im), background, name)


def checked_background(background: Any) -> tuple[int, int, int]:
    """An (r, g, b) tuple of 0-255 integers, or ``ImageError``."""
    if (
        isinstance(background, (tuple, list))
        and len(background) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in background)
    ):
        return tuple(background)  # type: ignore[return-value]
    raise ImageError(f"background must be an (r, g, b) tuple of integers 0-255, got {background!r}")


_TRUNCATION_LOCK = __import__("threading").Lock()


class _truncation:
    """Pillow's LOAD_TRUNCATED_IMAGES for one load (a process-wide flag: held under a lock)."""

    def __init__(self, allow: bool) -> None:
        self.allow = allow

    def __enter__(self) -> None:
        if self.allow:
            from PIL import ImageFile

            _TRUNCATION_LOCK.acquire()
            self.old = ImageFile.LOAD_TRUNCATED_IMAGES
            ImageFile.LOAD_TRUNCATED_IMAGES = True

    def __exit__(self, *exc: Any) -> None:
        if self.allow:
            from PIL import ImageFile

            ImageFile.LOAD_TRUNCATED_IMAGES = self.old
            _TRUNCATION_LOCK.release()


def _quiet():
    """Pillow's warnings about images anyres accepts (palette transparency, EXIF
    oddities) are not the user's concern: anyres reports what it refuses."""
    import warnings

    ctx = warnings.catch_warnings()

    class _Ctx:
        def __enter__(self):
            ctx.__enter__()
            warnings.simplefilter("ignore")

        def __exit__(self, *exc):
            return ctx.__exit__(*exc)

    return _Ctx()


def _open(fp: Any, max_pixels: int) -> Any:
    """``Image.open`` (header only) allowing up to ``max_pixels`` pixels."""
    from PIL import Image

    if opted_in():
        contiguous_images()
    with pillow_allows(max_pixels):
        return Image.open(fp)


def _oriented(im: Any) -> Any:
    """The image as displayed: the EXIF orientation that ``probe`` reports, applied (a
    broken EXIF block is ignored, as ``probe`` ignores it)."""
    from PIL import ImageOps

    if orientation(im) == 1:
        return im
    try:
        return ImageOps.exif_transpose(im)
    except Exception:
        return im


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

"""Every Pillow mode to 8-bit RGB, correctly.

Pillow's own ``convert("RGB")`` is wrong for several modes a web crawl returns:
transparent pixels keep whatever colour they were stored with (often black), 16-bit and
32-bit grayscale are clipped at 255 instead of scaled, float images are truncated. This
module converts each mode the way a person looking at the image would expect:

- alpha (RGBA, RGBa, LA, La, PA, P with a transparent index, transparent L/RGB) is
  composited onto ``background``;
- 16-bit grayscale (``I;16*``) is scaled by 255/65535; 32-bit integer ``I`` images are
  scaled as 16-bit when their values exceed 255 (16-bit PNGs open as ``I`` in some
  Pillow versions), else kept as 8-bit values; beyond 65535 by their range;
- float ``F`` images are taken as [0, 1] when their values lie there, else as [0, 255]
  when they lie there, else scaled by their own range (``to_uint8``);
- CMYK uses the embedded ICC profile when there is one (through LittleCMS), else
  Pillow's ``(255 - C) * (255 - K) / 255`` (Adobe's inverted CMYK JPEGs are already
  un-inverted by Pillow's decoder);
- LAB goes through LittleCMS; YCbCr and HSV through Pillow.

RGB images keep their values: no colour management, as the reference processors do
(their parity depends on it).
"""

from __future__ import annotations

from typing import Any

from ..errors import ImageError

Colour = tuple[int, int, int]

_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}
_SIXTEEN_BIT = {"I;16", "I;16L", "I;16B", "I;16N"}


def to_rgb(image: Any, background: Colour = (255, 255, 255), name: str = "image") -> Any:
    """An 8-bit RGB copy of ``image`` (a loaded PIL image of any mode)."""
    mode = image.mode
    if mode == "La":  # luminance premultiplied by alpha: undo it, then composite as LA
        image = _unpremultiply_la(image)
        mode = "LA"
    if mode == "RGB":
        if "transparency" in image.info:  # a tRNS colour key in an RGB PNG
            return _composite(image.convert("RGBA"), background)
        return image
    if mode in _ALPHA_MODES:
        return _composite(image.convert("RGBA"), background)
    if mode == "P" or mode == "L" or mode == "1":
        if "transparency" in image.info:
            return _composite(image.convert("RGBA"), background)
        return image.convert("RGB")
    if mode in _SIXTEEN_BIT or mode in ("I", "F"):
        import numpy as np

        return _gray_to_rgb(to_uint8(np.asarray(image), name))
    if mode == "CMYK":
        return _cmyk_to_rgb(image)
    if mode == "LAB":
        from PIL import ImageCms

        return ImageCms.applyTransform(
            image, ImageCms.buildTransform(ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB")
        )
    if mode in ("YCbCr", "HSV", "RGBX"):
        return image.convert("RGB")
    raise ImageError(f"{name}: unsupported image mode {mode!r}")


def _unpremultiply_la(image: Any) -> Any:
    import numpy as np
    from PIL import Image

    la = np.frombuffer(image.tobytes(), np.uint8)
    la = la.reshape(image.height, image.width, 2)
    alpha = la[..., 1].astype(np.uint16)
    lum = np.where(alpha > 0, np.minimum(255, (la[..., 0].astype(np.uint16) * 255 + alpha // 2) // np.maximum(alpha, 1)), 0)
    out = np.stack([lum.astype(np.uint8), la[..., 1]], axis=-1)
    return Image.fromarray(out, "LA")


def _composite(rgba: Any, background: Colour) -> Any:
    from PIL import Image

    base = Image.new("RGBA", rgba.size, (*background, 255))
    return Image.alpha_composite(base, rgba).convert("RGB")


def _gray_to_rgb(values_uint8: Any) -> Any:
    from PIL import Image

    return Image.fromarray(values_uint8, "L").convert("RGB")


def to_uint8(a: Any, name: str = "image"):
    """Any numeric array to uint8, scaled (never clipped): uint8 as is; bool as 0/255;
    uint16 by 255/65535; other integers as 8-bit values when they lie in [0, 255], as
    16-bit values when they lie in [0, 65535], else by their range; floats as [0, 1]
    when they lie there, else as [0, 255], else by their range."""
    import numpy as np

    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise ImageError(f"{name}: values of dtype {a.dtype} are not pixels")
    floating = np.issubdtype(a.dtype, np.floating)
    if floating and not _all_finite(a):
        raise ImageError(f"{name}: pixel values include NaN or infinity")
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if a.dtype == np.uint16 or (not floating and lo >= 0 and 255 < hi <= 65535):
        return _blocks(a, _sixteen_to_eight)
    if lo >= 0 and hi <= (1.0 if floating else 255.0):
        scale, offset = (255.0 if floating else 1.0), 0.0
    elif lo >= 0 and hi <= 255.0:  # floats in [0, 255]
        scale, offset = 1.0, 0.0
    else:
        scale, offset = 255.0 / max(hi - lo, 1e-12), lo
    return _blocks(a, lambda b: np.clip(np.rint((b.astype(np.float64) - offset) * scale), 0, 255).astype(np.uint8))


_BLOCK = 1 << 20  # elements converted at a time: float64 temporaries stay ~8 MB


def _blocks(a: Any, convert: Any):
    """``convert`` applied to blocks of rows of ``a`` into one uint8 array, so that
    16-bit and float images never exist as whole float64 copies (a 10000 x 10000
    16-bit PNG took 2.7 GB that way)."""
    import numpy as np

    out = np.empty(a.shape, np.uint8)
    if a.ndim == 0 or a.size == 0:
        out[...] = convert(a)
        return out
    per_row = max(1, a.size // a.shape[0])
    step = max(1, _BLOCK // per_row)
    for r in range(0, a.shape[0], step):
        out[r : r + step] = convert(a[r : r + step])
    return out


def _sixteen_to_eight(b: Any):
    """round(v * 255 / 65535) in integers (v / 257 never falls on a half, so this is
    exactly the float formula's rounding)."""
    import numpy as np

    return ((b.astype(np.uint32) * 510 + 65535) // 131070).astype(np.uint8)


def _all_finite(a: Any) -> bool:
    import numpy as np

    if a.ndim == 0 or a.size == 0:
        return bool(np.isfinite(a).all())
    step = max(1, _BLOCK // max(1, a.size // a.shape[0]))
    return all(bool(np.isfinite(a[r : r + step]).all()) for r in range(0, a.shape[0], step))


def _cmyk_to_rgb(image: Any) -> Any:
    icc = image.info.get("icc_profile")
    if icc:
        try:
            import io

            from PIL import ImageCms

            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(image, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except Exception:  # a broken profile: fall back to the plain formula
            pass
    return image.convert("RGB")

"""Fonts for generated documents: matplotlib's bundled DejaVu and STIX families.

Nothing is downloaded or committed: the TrueType files ship inside matplotlib
(``matplotlib.get_data_path()/fonts/ttf``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ..errors import AnyresError

FAMILIES = {
    "sans": "DejaVuSans.ttf",
    "sans-bold": "DejaVuSans-Bold.ttf",
    "serif": "DejaVuSerif.ttf",
    "serif-bold": "DejaVuSerif-Bold.ttf",
    "mono": "DejaVuSansMono.ttf",
    "mono-bold": "DejaVuSansMono-Bold.ttf",
    "stix": "STIXGeneral.ttf",
    "stix-bold": "STIXGeneralBol.ttf",
}


class FontError(AnyresError, RuntimeError):
    """matplotlib (which ships the fonts) is missing or lacks a font file."""


@lru_cache(maxsize=None)
def font_dir() -> Path:
    try:
        import matplotlib
    except ImportError:
        raise FontError("generated documents need matplotlib's bundled fonts (pip install 'anyres[eval]')") from None
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


@lru_cache(maxsize=256)
def font(family: str, size: int):
    """A PIL FreeType font of ``family`` (a key of ``FAMILIES``) at ``size`` pixels."""
    from PIL import ImageFont

    path = font_dir() / FAMILIES[family]
    if not path.exists():
        raise FontError(f"font file {path} is missing from matplotlib's data")
    return ImageFont.truetype(str(path), size)

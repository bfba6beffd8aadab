"""OCR readers that look at a view exactly as the encoder receives it.

A reader turns one RGB PIL image into recognised text lines. ``rapidocr`` (PP-OCRv4
detection and recognition, ONNX weights shipped inside the ``rapidocr-onnxruntime``
wheel) is the default; ``tesseract`` uses ``pytesseract`` or the ``tesseract`` binary
when either is installed. One engine per process, created on first use.

Upscaling: a view may be enlarged by a fixed factor (Lanczos) before reading, the same
factor for every preset, so that the measure is what the view contains rather than the
reader's preferred text height. The default is 1: rapidocr already rescales every view
for detection (shorter side to at least 736 px) and every text line to 48 px for
recognition, and enlarging further was measured to hurt it (detection misses text
that upscaling has blurred; see ``docs/legibility.md``).
"""

from __future__ import annotations

import shutil
from typing import Any, Callable

from ..errors import AnyresError


class ReaderError(AnyresError, RuntimeError):
    """A reader is not installed or failed on an image."""


_ENGINES: dict[str, Any] = {}


def _rapidocr():
    engine = _ENGINES.get("rapidocr")
    if engine is None:
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError:
            raise ReaderError(
                "the rapidocr reader needs rapidocr-onnxruntime (pip install 'anyres[eval]')"
            ) from None
        # no 0/180 degree classifier (every generated line is upright); no squeezing of
        # views above 2000 px, which would change what the view contains
        engine = RapidOCR(use_cls=False, max_side_len=100_000, print_verbose=False)
        _ENGINES["rapidocr"] = engine
    return engine


def read_rapidocr(image: Any) -> list[str]:
    import numpy as np

    result, _ = _rapidocr()(np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1]))
    return [str(r[1]) for r in result or [] if str(r[1]).strip()]


def tesseract_available() -> bool:
    try:
        import pytesseract  # noqa: F401

        return shutil.which("tesseract") is not None
    except ImportError:
        return shutil.which("tesseract") is not None


def read_tesseract(image: Any) -> list[str]:
    if shutil.which("tesseract") is None:
        raise ReaderError("the tesseract reader needs the tesseract binary on PATH")
    try:
        import pytesseract

        text = pytesseract.image_to_string(image.convert("RGB"))
    except ImportError:
        import subprocess
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "view.png"
            image.convert("RGB").save(path)
            done = subprocess.run(["tesseract", str(path), "stdout"], capture_output=True, text=True)
            if done.returncode != 0:
                raise ReaderError(f"tesseract failed: {done.stderr.strip()[:200]}")
            text = done.stdout
    return [line for line in text.splitlines() if line.strip()]


READERS: dict[str, Callable[[Any], list[str]]] = {"rapidocr": read_rapidocr, "tesseract": read_tesseract}


def get_reader(name: str) -> Callable[[Any], list[str]]:
    try:
        return READERS[name]
    except KeyError:
        from ..errors import SpecError

        raise SpecError(f"unknown reader {name!r}; known: {', '.join(READERS)}") from None


def upscaled(image: Any, factor: float) -> Any:
    if factor == 1:
        return image
    from PIL import Image

    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    return image.resize(size, Image.Resampling.LANCZOS)

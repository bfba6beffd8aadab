"""Readers see the rendered views; the cache keys them by content (OCR: a few seconds)."""

from __future__ import annotations

import pytest

from anyres.eval import ReaderError, ViewReader, tesseract_available
from anyres.eval.fonts import font


def _word_image(text: str, size: int = 28):
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (30 + size * len(text), size * 3), "white")
    ImageDraw.Draw(img).text((15, size), text, font=font("sans", size), fill="black")
    return img


def test_rapidocr_reads_a_word_and_caches_it(reader):
    img = _word_image("invoice 2041")
    misses = reader.misses
    lines = reader.read(img)
    assert any("invoice" in line.lower() for line in lines), lines
    assert reader.read(img.copy()) == lines  # same pixels: from the cache
    assert reader.misses == misses + 1 and reader.hits >= 1


def test_cache_is_keyed_by_pixels_reader_and_upscale(tmp_path):
    from anyres.eval.cache import view_key

    a, b = _word_image("alpha"), _word_image("alphb")
    assert view_key(a, "rapidocr", 1) != view_key(b, "rapidocr", 1)
    assert view_key(a, "rapidocr", 1) != view_key(a, "rapidocr", 2)
    assert view_key(a, "rapidocr", 1) != view_key(a, "tesseract", 1)
    assert view_key(a, "rapidocr", 1) == view_key(a.copy(), "rapidocr", 1)


def test_unknown_reader_and_bad_upscale_are_refused():
    with pytest.raises(Exception, match="unknown reader"):
        ViewReader("paddle")
    with pytest.raises(Exception, match="upscale"):
        ViewReader("rapidocr", 0)


@pytest.mark.skipif(not tesseract_available(), reason="tesseract is not installed")
def test_tesseract_reads_a_word(tmp_path):
    r = ViewReader("tesseract", 1.0, tmp_path)
    assert any("invoice" in line.lower() for line in r.read(_word_image("invoice", 40)))


@pytest.mark.skipif(tesseract_available(), reason="tesseract is installed")
def test_tesseract_absent_is_a_reader_error(tmp_path):
    with pytest.raises(ReaderError, match="tesseract"):
        ViewReader("tesseract", 1.0, tmp_path).read(_word_image("x"))

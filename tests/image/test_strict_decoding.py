"""Truncated files are refused unless the caller tolerates truncation; odd inputs are
typed errors (issue 14, items 10 and 17)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from anyres import ImageError
from anyres.image import load_image


def _png(w: int, h: int, rows: list[bytes]) -> bytes:
    def chunk(t: bytes, d: bytes) -> bytes:
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _lying_jpeg(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    i = data.index(b"\xff\xc0")
    data[i + 5 : i + 9] = struct.pack(">HH", h, w)
    return bytes(data)


def test_jpeg_whose_frame_is_larger_than_its_data_is_refused_unless_allowed():
    with pytest.raises(ImageError, match="truncated JPEG"):
        load_image(_lying_jpeg(2000, 2000))
    assert load_image(_lying_jpeg(200, 200), allow_truncated=True).size == (200, 200)


def test_png_missing_rows_is_refused_before_and_after_decoding():
    rng = np.random.default_rng(0)
    with pytest.raises(ImageError, match="1 of 13,000 rows"):  # 1000x smaller than its pixels
        load_image(_png(13000, 13000, [b"\x80" * 39000]))
    noisy = [rng.integers(0, 255, 300, dtype=np.uint8).tobytes() for _ in range(150)]
    with pytest.raises(ImageError, match="150 of 300 rows"):  # found from the black filler
        load_image(_png(100, 300, noisy))
    assert load_image(_png(100, 300, noisy), allow_truncated=True).size == (100, 300)
    # a complete image whose last row really is black is accepted
    full = noisy + [b"\x00" * 300] * 150
    assert load_image(_png(100, 300, full)).getpixel((5, 299)) == (0, 0, 0)


def test_pnm_with_a_huge_comment_is_refused_from_its_header():
    with pytest.raises(ImageError, match="PNM header"):
        load_image(b"P5\n#" + b"x" * 200_000 + b"\n4 4\n255\n" + b"\0" * 16)
    assert load_image(b"P5\n# short\n4 4\n255\n" + b"\0" * 16).size == (4, 4)


@pytest.mark.parametrize("background", ["red", None, (1, 2), (0, 0, 256), (True, 0, 0)])
def test_bad_backgrounds_are_refused(background):
    with pytest.raises(ImageError, match="background"):
        load_image(Image.new("RGBA", (4, 4)), background=background)


def test_closed_file_objects_and_odd_modes():
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, "PNG")
    buf.close()
    with pytest.raises(ImageError, match="closed"):
        load_image(buf)
    la = Image.frombytes("La", (2, 1), bytes([100, 200, 0, 0]))  # premultiplied: 100/200*255
    assert load_image(la, background=(0, 0, 0)).getpixel((0, 0))[0] == 100  # composited back
    assert load_image(Image.new("LAB", (4, 4))).mode == "RGB"


def test_torch_tensors_of_every_kind():
    torch = pytest.importorskip("torch")
    assert load_image(torch.rand(3, 8, 8, dtype=torch.bfloat16)).size == (8, 8)
    with pytest.raises(ImageError, match="meta"):
        load_image(torch.empty(3, 8, 8, device="meta"))
    with pytest.raises(ImageError, match="dense"):
        load_image(torch.rand(8, 8).to_sparse())


def test_pillow_warnings_do_not_reach_users():
    """A JPEG with a broken EXIF block: Pillow warns twice while reading it."""
    import warnings

    exif = (b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x03\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06"
            b"\x00\x00\x01\x10\x00\x02\x00\x00\x01\x00\x00\x00\x01\x00")
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "JPEG", exif=exif)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert load_image(buf.getvalue()).size == (8, 8)
    assert not caught, [str(w.message) for w in caught]


def test_the_fast_path_refuses_a_lying_jpeg_too():
    from anyres.pixels.render import Job, render_one

    for exact in (True, False):
        out = render_one(Job(_lying_jpeg(5000, 5000), "llava-next", {}, exact, 10**9))
        assert isinstance(out, ImageError) and "truncated JPEG" in str(out)

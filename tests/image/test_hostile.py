"""A corpus of hostile and unusual inputs, generated here: each one is decoded to the
right RGB pixels or refused with ImageError, within a second and without large memory."""

from __future__ import annotations

import io
import struct
import time
import tracemalloc
import zlib

import numpy as np
import pytest
from PIL import Image

import anyres
from anyres import ImageError
from anyres.image import load_image

WHITE = (255, 255, 255)


def _png_bytes(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", **kw)
    return buf.getvalue()


def _jpeg_bytes(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=95, **kw)
    return buf.getvalue()


def _bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming width x height, with a tiny (truncated) body."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def _exif_png(orientation: int) -> tuple[bytes, np.ndarray]:
    """A 6x4 PNG (eXIf chunk) with a marker pixel block at its stored top-left, and the displayed
    array expected after the orientation is applied."""
    stored = np.zeros((4, 6, 3), np.uint8)
    stored[:2, :2] = (255, 0, 0)
    im = Image.fromarray(stored)
    exif = Image.Exif()
    exif[0x0112] = orientation
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
        8: lambda a: np.rot90(a, 1),
    }
    return _png_bytes(im, exif=exif.tobytes()), ops[orientation](stored)


def _gif_animated() -> bytes:
    frames = [Image.new("P", (8, 8), i) for i in (1, 2, 3)]
    for f in frames:
        f.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 756)
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    return buf.getvalue()


def _multipage_tiff() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (5, 5), (10, 20, 30)).save(buf, "TIFF", save_all=True, append_images=[Image.new("RGB", (5, 5), (200, 0, 0))])
    return buf.getvalue()


def _animated_webp() -> bytes:
    buf = io.BytesIO()
    frames = [Image.new("RGB", (16, 16), c) for c in ((0, 0, 255), (255, 0, 0))]
    frames[0].save(buf, "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    return buf.getvalue()


def _rgba_png() -> bytes:
    a = np.zeros((4, 4, 4), np.uint8)
    a[..., 0] = 200  # red where opaque
    a[:2, :, 3] = 255
    a[2:, :, 3] = 0  # transparent, stored colour (200, 0, 0): must become the background
    return _png_bytes(Image.fromarray(a, "RGBA"))


def _palette_transparent_png() -> bytes:
    im = Image.new("P", (4, 4), 0)
    im.putpalette([0, 0, 0, 0, 128, 0] + [0] * 762)
    im.putpixel((0, 0), 1)
    return _png_bytes(im, transparency=0)


def _cases():
    """(name, source, expected (H, W, 3) array or a callable check, or ImageError)."""
    grad16 = (np.arange(16 * 8, dtype=np.uint32).reshape(8, 16) * 512).astype(np.uint16)
    cmyk = Image.new("CMYK", (3, 2), (0, 255, 255, 0))  # pure red in CMYK
    la = Image.fromarray(np.stack([np.full((3, 3), 50, np.uint8), np.array([[0, 255, 255]] * 3, np.uint8)], -1), "LA")
    one_bit = Image.new("1", (8, 2), 1)
    photo = (np.arange(32 * 48 * 3) % 251).astype(np.uint8).reshape(32, 48, 3)
    jpeg = _jpeg_bytes(Image.fromarray(photo))
    png = _png_bytes(Image.fromarray(photo))
    cases = [
        ("mode 1", _png_bytes(one_bit), np.full((2, 8, 3), 255, np.uint8)),
        ("mode L", _png_bytes(Image.new("L", (3, 3), 77)), np.full((3, 3, 3), 77, np.uint8)),
        ("mode LA", _png_bytes(la), np.stack([np.array([[255, 50, 50]] * 3, np.uint8)] * 3, -1)),
        ("mode P", _png_bytes(Image.new("RGB", (4, 4), (1, 2, 3)).convert("P", palette=Image.Palette.ADAPTIVE)), np.full((4, 4, 3), (1, 2, 3), np.uint8)),
        ("mode P transparent", _palette_transparent_png(),
         lambda a: tuple(a[0, 0]) == (0, 128, 0) and tuple(a[3, 3]) == WHITE),
        ("mode RGBA", _rgba_png(), lambda a: tuple(a[0, 0]) == (200, 0, 0) and tuple(a[3, 3]) == WHITE),
        ("mode CMYK", _jpeg_bytes(cmyk), lambda a: a[..., 0].min() > 230 and a[..., 1:].max() < 25),
        ("mode I;16", _png_bytes(Image.fromarray(grad16)),
         np.repeat(np.rint(grad16.astype(np.float64) * 255 / 65535).astype(np.uint8)[..., None], 3, -1)),
        ("mode F", Image.fromarray(np.full((2, 2), 0.5, np.float32), "F"), np.full((2, 2, 3), 128, np.uint8)),
        ("mode I 32-bit", Image.fromarray(np.full((2, 2), 65535, np.int32), "I"), np.full((2, 2, 3), 255, np.uint8)),
        ("grayscale 2-D array", np.full((5, 7), 9, np.uint8), np.full((5, 7, 3), 9, np.uint8)),
        ("HxWx1 array", np.full((5, 7, 1), 9, np.uint8), np.full((5, 7, 3), 9, np.uint8)),
        ("HxWx4 array", np.concatenate([np.full((2, 2, 3), 10, np.uint8), np.zeros((2, 2, 1), np.uint8)], -1),
         np.full((2, 2, 3), 255, np.uint8)),
        ("uint16 array", np.full((2, 2, 3), 65535, np.uint16), np.full((2, 2, 3), 255, np.uint8)),
        ("float array", np.full((2, 2, 3), 1.0, np.float32), np.full((2, 2, 3), 255, np.uint8)),
        ("channels-first array", np.zeros((3, 5, 7), np.uint8), np.zeros((5, 7, 3), np.uint8)),
        ("decompression bomb", _bomb_png(20000, 10000), ImageError),
        ("truncated JPEG", jpeg[: len(jpeg) // 2], ImageError),
        ("truncated PNG", png[: len(png) // 2], ImageError),
        ("zero bytes", b"", ImageError),
        ("text named .jpg", "TEXT:this is not an image\n", ImageError),
        ("1x20000 strip", _png_bytes(Image.new("RGB", (1, 20000), (5, 6, 7))), lambda a: a.shape == (20000, 1, 3)),
        ("1x1 image", _png_bytes(Image.new("RGB", (1, 1), (5, 6, 7))), np.full((1, 1, 3), (5, 6, 7), np.uint8)),
        ("animated GIF", _gif_animated(), np.full((8, 8, 3), (255, 0, 0), np.uint8)),
        ("animated WebP", _animated_webp(), lambda a: a.shape == (16, 16, 3) and a[..., 2].min() > 240),
        ("multi-page TIFF", _multipage_tiff(), np.full((5, 5, 3), (10, 20, 30), np.uint8)),
        ("NaN float array", np.full((2, 2), np.nan, np.float32), ImageError),
        ("empty array", np.zeros((0, 5, 3), np.uint8), ImageError),
        ("4-D array", np.zeros((2, 2, 2, 3), np.uint8), ImageError),
    ]
    for o in range(2, 9):
        data, expect = _exif_png(o)
        cases.append((f"EXIF orientation {o}", data, expect))
    return cases


CASES = _cases()


def test_corpus_has_at_least_twenty_kinds():
    assert len(CASES) >= 20


@pytest.mark.parametrize("name,source,expect", CASES, ids=[c[0] for c in CASES])
def test_hostile_input(name, source, expect, tmp_path):
    if isinstance(source, str) and source.startswith("TEXT:"):
        path = tmp_path / "photo.jpg"
        path.write_text(source[5:])
        source = str(path)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        if expect is ImageError:
            with pytest.raises(ImageError) as info:
                load_image(source)
            assert str(info.value)  # says what was wrong
            if name == "decompression bomb":
                assert "200000000 pixels" in str(info.value) and "limit of 178,956,970" in str(info.value)
            return
        im = load_image(source)
    finally:
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert elapsed < 1.0, f"{name} took {elapsed:.2f}s"
    assert peak < 64 * 2**20, f"{name} used {peak / 2**20:.0f} MB"
    assert im.mode == "RGB"
    got = np.asarray(im)
    if callable(expect):
        assert expect(got), (name, got.shape, got.reshape(-1, 3)[:4])
    else:
        assert got.shape == expect.shape, (name, got.shape, expect.shape)
        assert np.abs(got.astype(int) - expect.astype(int)).max() <= 2, (name, got.reshape(-1, 3)[:4])


def test_bomb_is_refused_fast_and_small():
    data = _bomb_png(20000, 10000)
    assert len(data) < 2000
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(ImageError, match="refused before decoding"):
        load_image(data)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 0.1 and peak < 2**20


def test_max_pixels_is_the_callers_and_can_be_raised():
    data = _png_bytes(Image.new("RGB", (100, 100)))
    with pytest.raises(ImageError, match="limit of 5,000"):
        load_image(data, max_pixels=5000)
    assert load_image(data, max_pixels=10_000).size == (100, 100)
    # above Pillow's own bomb limit, when the caller asks for it (header only: the body is tiny)
    with pytest.raises(ImageError, match="truncated"):
        load_image(_bomb_png(20000, 10000), max_pixels=250_000_000)


def test_exif_orientation_matches_the_plan(tmp_path):
    data, expect = _exif_png(6)
    path = tmp_path / "rotated.png"
    path.write_bytes(data)
    im = load_image(str(path))
    assert im.size == tuple(anyres.image_size(str(path)))
    assert im.size == (expect.shape[1], expect.shape[0])


def test_sources_path_bytes_file_object_pil_array(tmp_path):
    photo = Image.new("RGB", (7, 5), (1, 2, 3))
    data = _png_bytes(photo)
    path = tmp_path / "a.png"
    path.write_bytes(data)

    class Unseekable(io.RawIOBase):
        def __init__(self, b):
            self._b = io.BytesIO(b)

        def readable(self):
            return True

        def readinto(self, buf):
            return self._b.readinto(buf)

    sources = [str(path), path, data, bytearray(data), io.BytesIO(data), open(path, "rb"), Unseekable(data), photo, np.asarray(photo)]
    for s in sources:
        assert np.array_equal(np.asarray(load_image(s)), np.asarray(photo)), type(s)
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="directory"):
        load_image(tmp_path)
    with pytest.raises(ImageError, match="cannot load an image from int"):
        load_image(42)


def test_background_colour_for_alpha():
    im = load_image(_rgba_png(), background=(0, 0, 255))
    assert im.getpixel((3, 3)) == (0, 0, 255)


def test_error_is_an_anyres_error_naming_the_source(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\nnonsense")
    with pytest.raises(anyres.AnyresError, match="broken.png"):
        load_image(str(path))


@pytest.mark.parametrize("name,source,expect", [c for c in CASES if c[2] is ImageError and not isinstance(c[1], np.ndarray)],
                         ids=[c[0] for c in CASES if c[2] is ImageError and not isinstance(c[1], np.ndarray)])
def test_both_pixel_paths_refuse_with_image_error(name, source, expect, tmp_path):
    """The fast path decodes JPEGs its own way: it must refuse the same inputs, with the
    same typed error (never Pillow's DecompressionBombError or a raw OSError)."""
    from anyres.pixels.render import Job, render_one

    if isinstance(source, str) and source.startswith("TEXT:"):
        (tmp_path / "x.jpg").write_text(source[5:])
        source = str(tmp_path / "x.jpg")
    for exact in (True, False):
        result = render_one(Job(source, "llava-next", {}, exact, 178_956_970))
        assert isinstance(result, ImageError), (name, exact, result)
        assert result.__traceback__ is None  # a refused image's decoded pixels are not kept alive


def test_fast_path_refuses_a_jpeg_bomb_header():
    """A JPEG whose header claims 400 megapixels, through the fast path's own decoder."""
    from anyres.pixels.render import Job, render_one

    data = bytearray(_jpeg_bytes(Image.new("RGB", (16, 16))))
    at = data.index(b"\xff\xc0") + 5  # SOF0: height, width
    data[at : at + 4] = (20000).to_bytes(2, "big") + (20000).to_bytes(2, "big")
    result = render_one(Job(bytes(data), "llava-next", {}, False, 178_956_970))
    assert isinstance(result, ImageError) and "limit" in str(result)

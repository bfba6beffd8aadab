"""anyres.image.probe: the header of any source, as load_image will present it, read
without decoding; regular files only."""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

import anyres
from anyres import ImageError
from anyres.image import Header, load_image, probe

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _exif_chunk(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    raw = exif.tobytes()
    return _chunk(b"eXIf", raw[6:] if raw.startswith(b"Exif\x00\x00") else raw)


def _with_late_chunk(png: bytes, chunk: bytes) -> bytes:
    """``chunk`` inserted just before IEND: after the pixel data."""
    end = png.rindex(b"IEND") - 4
    return png[:end] + chunk + png[end:]


def _encoded(im: Image.Image, fmt: str, orientation: int | None = None) -> bytes:
    buf = io.BytesIO()
    kw = {}
    if orientation is not None:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kw["exif"] = exif.tobytes()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _pattern(w: int, h: int) -> Image.Image:
    x = np.arange(w * h * 3, dtype=np.uint32).reshape(h, w, 3)
    return Image.fromarray((x * 2654435761 % 251).astype(np.uint8))


@pytest.fixture()
def no_decoding(monkeypatch):
    """Any pixel decoding while this is active fails the test."""

    def refuse(self, *args, **kwargs):
        raise AssertionError(f"probe decoded the pixels of a {self.format} image")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


# --- arrays and tensors: the axes read as load_image reads them -----------------------


@pytest.mark.parametrize(
    "shape",
    [(600, 1000), (600, 1000, 1), (600, 1000, 3), (600, 1000, 4), (3, 600, 1000), (1, 600, 1000), (4, 600, 1000),
     (3, 5, 3), (4, 7, 1)],
)
def test_array_size_is_the_size_load_image_decodes(shape):
    a = np.zeros(shape, np.uint8)
    header = probe(a)
    assert header.size == load_image(a).size
    assert header.format is None and header.orientation == 1


def test_channels_first_array_and_tensor_plan_the_image_not_its_channels():
    """Regression: (3, H, W) used to plan a W=3 image."""
    torch = pytest.importorskip("torch")
    want = anyres.plan((1000, 600), "llava-next")
    assert anyres.plan(np.zeros((3, 600, 1000), np.uint8), "llava-next") == want
    assert anyres.plan(torch.zeros(3, 600, 1000), "llava-next") == want
    assert anyres.plan(torch.zeros(600, 1000, 3), "llava-next") == want
    assert anyres.image_size(np.zeros((600, 1000))) == (1000, 600)
    assert probe(torch.zeros(3, 600, 1000)).mode == "RGB" and probe(np.zeros((4, 6, 9))).mode == "RGBA"


@pytest.mark.parametrize("shape", [(5, 6, 7, 3), (600, 1000, 2), (2, 600, 1000), (0, 10), (10,)])
def test_arrays_that_are_not_images_are_refused_like_load_image(shape):
    a = np.zeros(shape, np.uint8)
    with pytest.raises(ImageError):
        probe(a)
    with pytest.raises(ImageError):
        load_image(a)


# --- encoded images: oriented size from the header only -------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_header_size_is_the_decoded_size_for_every_orientation(fmt, orientation, monkeypatch):
    data = _encoded(_pattern(60, 40), fmt, orientation)
    decoded = load_image(data).size
    with monkeypatch.context() as m:  # the header alone: Pillow's EXIF for these formats needs no decode
        m.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail(f"{fmt} decoded"))
        header = probe(data)
    assert header.size == decoded
    assert header.format == fmt and header.orientation == orientation
    assert header.stored == (60, 40)
    assert header.size == ((40, 60) if orientation >= 5 else (60, 40))


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_late_png_exif_is_found_from_the_chunk_headers(orientation, tmp_path, no_decoding):
    """An eXIf chunk after IDAT, which Pillow's getexif() finds only by decoding."""
    data = _with_late_chunk(_encoded(_pattern(60, 40), "PNG"), _exif_chunk(orientation))
    path = tmp_path / "late.png"
    path.write_bytes(data)
    header = probe(path)
    assert header.orientation == orientation
    assert anyres.image_size(str(path)) == header.size == ((40, 60) if orientation >= 5 else (60, 40))
    opened = Image.open(path)  # a PIL image, not yet decoded
    assert probe(opened).size == header.size
    opened.close()


def test_late_png_metadata_follows_pillows_rules(monkeypatch):
    """Last eXIf wins over an early one; XMP orientation counts only without EXIF; an
    animated PNG stops at the next frame, as Pillow's load() does."""
    base = _encoded(_pattern(60, 40), "PNG", 6)  # early eXIf, orientation 6
    both = _with_late_chunk(base, _exif_chunk(1))
    xmp = b'<x:xmpmeta><rdf:Description tiff:Orientation="8"/></x:xmpmeta>'
    xmp_late = _with_late_chunk(_encoded(_pattern(60, 40), "PNG"), _chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + xmp))
    for data in (base, both, xmp_late):
        decoded = load_image(data).size
        with monkeypatch.context() as m:
            m.setattr(ImageFile.ImageFile, "load", lambda self: pytest.fail("decoded"))
            assert probe(data).size == decoded
    assert probe(base).orientation == 6 and probe(both).orientation == 1 and probe(xmp_late).orientation == 8
    frames = [_pattern(60, 40), _pattern(60, 40).transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    buf = io.BytesIO()
    frames[0].save(buf, "PNG", save_all=True, append_images=frames[1:])
    apng = _with_late_chunk(buf.getvalue(), _exif_chunk(6))  # after the second frame: not the first's
    assert probe(apng).size == load_image(apng).size == (60, 40)
    assert probe(apng).frames == 2


def test_file_objects_keep_their_position_and_pil_images_their_pixels():
    data = _encoded(_pattern(60, 40), "JPEG", 6)
    fp = io.BytesIO(data)
    fp.seek(5)
    assert probe(fp).size == (40, 60) and fp.tell() == 5  # Pillow reads from the start
    assert load_image(fp).size == (40, 60)
    im = _pattern(30, 20)
    assert probe(im) == Header(anyres.Size(30, 20), None, "RGB", 1, 1)


def test_header_is_a_small_frozen_record():
    h = probe(np.zeros((2, 3)))
    with pytest.raises(AttributeError):
        h.size = (1, 1)  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(h)) == h


@pytest.mark.parametrize(
    "source, match",
    [(b"", "empty input"), (b"not an image at all", "not an image format"), (42, "cannot read an image header")],
)
def test_unreadable_sources_are_image_errors(source, match):
    with pytest.raises(ImageError, match=match):
        probe(source)


def test_header_refuses_a_bomb_as_load_image_does():
    data = _encoded(Image.new("L", (200, 100)), "PNG")
    with pytest.raises(ImageError, match="max_pixels"):
        probe(data, max_pixels=10_000)
    assert probe(data, max_pixels=20_000).size == (200, 100)


# --- a 13000 x 13000 PNG: header cost, with and without a late eXIf -------------------


def _giant_png(side: int, rows: int = 1000) -> bytes:
    """An RGB side x side PNG of one colour (2 MB), built in well under a second: one
    deflate block of ``rows`` zero rows, flushed so that it can be repeated."""
    block = bytes(side * 3 + 1) * rows  # filter byte + black pixels, per row
    deflate = zlib.compressobj(1, zlib.DEFLATED, -15)
    body = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    adler = 1
    for _ in range(side // rows):
        adler = zlib.adler32(block, adler)
    stream = b"\x78\x01" + body * (side // rows) + deflate.flush() + struct.pack(">I", adler)
    idat = b"".join(_chunk(b"IDAT", stream[i : i + 65536]) for i in range(0, len(stream), 65536))
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + idat + _chunk(b"IEND", b"")


_MEASURE = """
import json, resource, sys, time
import anyres
from anyres.image import probe
out = []
for path in sys.argv[1:]:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.process_time()
    size = tuple(anyres.plan(path, "llava-next").image)
    seconds = time.process_time() - t
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss
    out.append(dict(size=size, seconds=seconds, grown_kb=grown_kb, orientation=probe(path).orientation))
print(json.dumps(out))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss is in KB on Linux")
def test_giant_png_is_planned_from_its_header_in_little_time_and_memory(tmp_path):
    """Decoding it would take 507 MB and most of a second (Pillow's getexif() on a PNG
    decodes the whole image to look for a late eXIf chunk); the header costs neither."""
    png = _giant_png(13000)
    plain, late = tmp_path / "giant.png", tmp_path / "giant-late-exif.png"
    plain.write_bytes(png)
    late.write_bytes(_with_late_chunk(png, _exif_chunk(6)))
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    run = subprocess.run([sys.executable, "-c", _MEASURE, str(plain), str(late)], capture_output=True, text=True,
                         timeout=120, env=env)
    assert run.returncode == 0, run.stderr
    results = json.loads(run.stdout)
    assert [r["orientation"] for r in results] == [1, 6]
    for r in results:
        assert r["size"] == [13000, 13000]
        # CPU time, not wall time (the machine may be shared): decoding takes ~0.8 s
        assert r["seconds"] < 0.2, r
        # peak resident memory: decoding would add ~500 MB
        assert r["grown_kb"] < 32 * 1024, r


# --- only regular files ------------------------------------------------------------------


def _refused_without_blocking(call, path: str, match: str) -> None:
    """``call(path)`` raises ImageError matching ``match`` within 10 s; if it blocks (on
    a FIFO), a writer is opened to release it and the test fails."""
    outcome: list = []

    def target():
        try:
            call(path)
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcome.append(exc)

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(10)
    if worker.is_alive():
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)  # releases a reader blocked on the FIFO
        os.close(fd)
        worker.join(10)
        pytest.fail(f"{call.__name__} blocked on {path}")
    assert isinstance(outcome[0], ImageError) and outcome[0].args and match in str(outcome[0]), outcome


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("call", [probe, load_image, anyres.image_size, lambda p: anyres.plan(p, "llava-next")])
def test_fifo_is_refused_without_blocking(tmp_path, call):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    _refused_without_blocking(call, str(fifo), "FIFO")


@pytest.mark.parametrize("call", [probe, load_image])
def test_directories_and_devices_are_refused(tmp_path, call):
    _refused_without_blocking(call, str(tmp_path), "directory")
    if os.path.exists("/dev/zero"):
        _refused_without_blocking(call, "/dev/zero", "character device")
    with pytest.raises(ImageError, match="no such file"):
        call(str(tmp_path / "missing.png"))

"""Pillow images reach numpy without a slow copy (anyres.image.memory), and anyres
leaves Pillow's allocator as it found it."""

from __future__ import annotations

import gc
import io

import numpy as np
import pytest
from PIL import Image

from anyres.image.memory import chw, image_from_rgbx, one_block, pixels, planar, writable_rgbx

BIG = (3000, 2000)  # 24 MB as RGBX: more than Pillow's default 16 MB block


def _image(h: int = 300, w: int = 500) -> tuple[Image.Image, np.ndarray]:
    a = np.random.default_rng(0).integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    return Image.fromarray(a), a


def _several_blocks(h: int = 300, w: int = 500) -> tuple[Image.Image, np.ndarray]:
    saved = Image.core.get_block_size()
    Image.core.set_block_size(1 << 16)  # force several blocks, whatever the process's setting
    try:
        im, a = _image(h, w)
    finally:
        Image.core.set_block_size(saved)
    with pytest.raises(ValueError):
        im.__arrow_c_array__()
    return im, a


def test_pixels_is_a_view_of_the_image_memory():
    im, a = _image(300, 500)  # one block: exported as it is
    v = pixels(im)
    assert v.shape == a.shape and v.strides == (500 * 4, 4, 1)  # RGBX, viewed
    assert np.array_equal(v, a)
    x = pixels(im, 4)
    assert x.shape == (300, 500, 4) and np.array_equal(x[..., :3], a)
    del im
    gc.collect()
    junk = [np.full((300, 500, 4), 7, np.uint8) for _ in range(3)]  # reuse freed memory, if it were freed
    assert np.array_equal(v, a) and np.array_equal(x[..., :3], a), "the view outlived the image's memory"
    del junk


def test_images_in_several_blocks_are_copied_once_into_one():
    im, a = _several_blocks()
    assert np.array_equal(pixels(im), a)
    four = pixels(im, 4)
    assert four.shape == (300, 500, 4) and np.array_equal(four[..., :3], a) and (four[..., 3] == 255).all()
    whole = one_block(im)
    assert whole is not im and whole.mode == "RGB" and whole.size == im.size
    assert np.array_equal(np.asarray(whole), a)
    whole.__arrow_c_array__()  # exportable: later reads are views
    assert one_block(whole) is whole
    grey = Image.new("L", (4, 3), 9)
    assert pixels(grey).shape == (3, 4, 3) and (pixels(grey) == 9).all()


def test_several_blocks_are_joined_from_their_runs(monkeypatch):
    """The copy of a multi-block image reads its blocks in place into one numpy array (no
    new Pillow block); only where the blocks cannot be read does ``one_block`` copy."""
    from anyres.image import memory

    im, a = _several_blocks()
    calls = []
    real = memory.one_block
    monkeypatch.setattr(memory, "one_block", lambda image: calls.append(image) or real(image))
    four = pixels(im, 4)
    assert not calls and four.flags.c_contiguous and np.array_equal(four[..., :3], a)
    monkeypatch.setattr(memory, "row_runs", lambda image: None)
    assert np.array_equal(pixels(im), a) and len(calls) == 1


def test_no_tobytes_on_the_way(monkeypatch):
    im, a = _several_blocks()

    def refuse(*args, **kwargs):
        raise AssertionError("tobytes called: the slow copy")

    monkeypatch.setattr(Image.Image, "tobytes", refuse)
    monkeypatch.setattr(Image.Image, "__array_interface__", property(refuse))
    assert np.array_equal(pixels(im)[..., :3], a)


def test_anyres_leaves_pillows_block_size_alone(tmp_path, monkeypatch):
    import anyres

    monkeypatch.delenv("ANYRES_PILLOW_ONE_BLOCK", raising=False)
    saved = Image.core.get_block_size()
    a = np.random.default_rng(1).integers(0, 256, size=(BIG[1], BIG[0], 3), dtype=np.uint8)
    path = tmp_path / "big.png"
    Image.fromarray(a).save(path, compress_level=0)
    decoded = anyres.load_image(path)
    assert Image.core.get_block_size() == saved
    decoded.__arrow_c_array__()  # decoded straight into one block
    assert np.array_equal(pixels(decoded), a)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "JPEG", quality=95)
    jpeg = anyres.load_image(buf.getvalue())
    jpeg.__arrow_c_array__()
    assert np.array_equal(np.asarray(jpeg), np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")))
    anyres.preprocess([path], "llava-next", exact=False)
    assert Image.core.get_block_size() == saved


def test_writable_rgbx_fills_a_new_image():
    made = writable_rgbx((7, 5))
    assert made is not None
    image, view = made
    view[..., :3] = 200
    assert np.asarray(image).shape == (5, 7, 3) and (np.asarray(image) == 200).all()


def test_image_from_rgbx_is_made_over_the_array_and_reads_as_rgb():
    """A contiguous RGBX array becomes an RGB image over its own memory (Arrow import, no
    copy); a strided one is copied. Both read back as the array's RGB, through Pillow
    and through chw."""
    rgbx = np.random.default_rng(3).integers(0, 256, size=(70, 90, 4), dtype=np.uint8)
    im = image_from_rgbx(rgbx)
    assert im.mode == "RGB" and im.size == (90, 70)
    assert np.array_equal(np.asarray(im), rgbx[:, :, :3]) and np.array_equal(chw(im), rgbx[:, :, :3].transpose(2, 0, 1))
    assert np.array_equal(np.asarray(im.crop((5, 6, 40, 50))), rgbx[6:50, 5:40, :3])
    pytest.importorskip("pyarrow")
    if hasattr(Image, "fromarrow"):  # Pillow >= 11.2: the same memory
        rgbx[0, 0, :3] = (1, 2, 3)
        assert im.getpixel((0, 0)) == (1, 2, 3)
    strided = np.random.default_rng(4).integers(0, 256, size=(70, 180, 4), dtype=np.uint8)[:, ::2]
    copied = image_from_rgbx(strided)
    assert np.array_equal(np.asarray(copied), strided[:, :, :3])
    strided[0, 0, :3] = (9, 9, 9)
    assert copied.getpixel((0, 0)) != (9, 9, 9)


def test_planar_is_a_channel_first_copy():
    im, a = _image(31, 17)
    p = planar(im)
    assert p.shape == (3, 31, 17) and p.flags.c_contiguous and p.flags.writeable
    assert np.array_equal(p, a.transpose(2, 0, 1))


@pytest.mark.parametrize("layout", ["hwc", "chw", "hwc-strided", "torch-chw"])
def test_uint8_arrays_become_one_block_images(layout):
    a = np.random.default_rng(2).integers(0, 256, size=(BIG[1], BIG[0], 3), dtype=np.uint8)
    source = {
        "hwc": a,
        "chw": np.ascontiguousarray(a.transpose(2, 0, 1)),
        "hwc-strided": np.ascontiguousarray(a[:, ::-1])[:, ::-1],  # negative strides
        "torch-chw": None,
    }[layout]
    if source is None:
        torch = pytest.importorskip("torch")
        source = torch.from_numpy(a).permute(2, 0, 1).contiguous()
    import anyres

    image = anyres.load_image(source)
    image.__arrow_c_array__()  # one block: read back without a copy
    assert image.mode == "RGB" and image.size == BIG
    assert np.array_equal(pixels(image), a) and (pixels(image, 4)[..., 3] == 255).all()

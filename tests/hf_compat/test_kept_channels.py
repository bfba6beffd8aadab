"""``anyres.hf_channels``: images the reference keeps with 4 (or 1) channels
(``do_convert_rgb=False``) give the reference's output exactly (max difference 0): RGBA
resampled premultiplied as Pillow does, each channel normalised with its own mean and std."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from anyres.errors import SpecError  # noqa: E402
from anyres.hf import drop_in_class  # noqa: E402

CASES = [
    ("internvl", "GotOcr2ImageProcessorPil", {"size": {"height": 20, "width": 20}}),
    ("internvl", "GotOcr2ImageProcessorPil", {"size": {"height": 32, "width": 32}, "crop_to_patches": True}),
    ("ovis2", "Ovis2ImageProcessorPil", {"size": {"height": 20, "width": 20}}),
    ("ovis2", "Ovis2ImageProcessorPil", {"size": {"height": 32, "width": 32}, "crop_to_patches": True}),
    ("aria", "AriaImageProcessorPil", {"split_image": True, "max_image_size": 490}),
    ("aria", "AriaImageProcessorPil", {}),
]


def _images(channels: int, seed: int, n: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (int(rng.integers(30, 400)), int(rng.integers(30, 400)), channels), dtype=np.uint8)
            for _ in range(n)]


@pytest.mark.parametrize("preset,reference,kwargs", CASES)
@pytest.mark.parametrize("channels", [4, 1])
def test_kept_channels_equal_the_reference(preset, reference, kwargs, channels):
    ours = drop_in_class(preset, "reference")(**kwargs)
    ref = getattr(transformers, reference)(**kwargs)
    images = _images(channels, channels * 7 + len(kwargs))
    call = dict(do_convert_rgb=False, return_tensors="np", input_data_format="channels_last",
                image_mean=[0.1, 0.2, 0.3, 0.4][:channels], image_std=[1.0, 0.5, 0.25, 2.0][:channels])
    if channels == 4 and kwargs.get("crop_to_patches"):  # the reference's tiling cannot infer a 4-channel axis
        with pytest.raises(ValueError, match="channel dimension"):
            ref(images, **call)
        with pytest.raises(SpecError, match="crop_to_patches=True fail in the reference"):
            ours(images, **call)
        return
    want = ref(images, **call)
    got = ours(images, **call)
    assert sorted(got) == sorted(want)
    for key in want:
        assert np.asarray(got[key]).dtype == np.asarray(want[key]).dtype, key
        assert np.array_equal(np.asarray(got[key]), np.asarray(want[key])), key  # max difference 0
    assert got["pixel_values"].shape[1] == channels


def test_kept_channels_without_normalising_stay_uint8_where_the_reference_does():
    ours = drop_in_class("internvl", "reference")(size={"height": 20, "width": 20})
    ref = transformers.GotOcr2ImageProcessorPil(size={"height": 20, "width": 20})
    call = dict(do_convert_rgb=False, do_normalize=False, do_rescale=False, return_tensors="np")
    images = _images(4, 3)
    got, want = ours(images, **call), ref(images, **call)
    assert got["pixel_values"].dtype == want["pixel_values"].dtype
    assert np.array_equal(got["pixel_values"], want["pixel_values"])


def test_kept_channels_refusals_say_what_is_wrong():
    four = _images(4, 1, n=1)
    with pytest.raises(SpecError, match="one value per channel"):
        drop_in_class("internvl", "reference")()(four, do_convert_rgb=False, image_mean=[0.5, 0.5, 0.5],
                                                 image_std=[0.5, 0.5, 0.5, 0.5])
    with pytest.raises(SpecError, match="needs RGB images"):  # a patch-flattened output
        drop_in_class("qwen2-vl", "reference")()(four, do_convert_rgb=False, image_mean=[0.5] * 4, image_std=[0.5] * 4)
    mixed = _images(4, 2, n=1) + _images(1, 2, n=1)
    with pytest.raises(SpecError, match="same 1 or 4"):
        drop_in_class("internvl", "reference")()(mixed, do_convert_rgb=False, do_normalize=False)

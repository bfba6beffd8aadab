"""Where a reference's processing path does not do what its arguments say, the drop-in
follows the processing (anyres.hf_families): arguments it never reads change nothing, a
filter it replaces is replaced, a pad colour comes from where it really comes from. And
what anyres cannot reproduce is a SpecError that names the argument, never ignored."""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from anyres import SpecError  # noqa: E402
from anyres.hf import AnyresImageProcessor  # noqa: E402

from .cases import SMALL, make_image  # noqa: E402
from .compare import reference_for, same_output  # noqa: E402

CROP = {"do_center_crop": True, "crop_size": {"height": 100, "width": 100}}
PAD_SIZE = {"pad_size": {"height": 500, "width": 500}}
# arguments the reference accepts and its processing never reads (or replaces), per family
UNREAD = {
    "ovis2": [{"do_pad": True}, PAD_SIZE, {"image_seq_length": 5}, {"crop_size": {"height": 100, "width": 100}}],
    "minicpm-v-4.6": [{"do_pad": True}, CROP, {"size": {"height": 200, "width": 200}}, {"use_image_id": False}],
    "hunyuan-vl": [{"do_pad": True}, CROP, PAD_SIZE, {"resample": 0}],  # its resize is always bicubic
    "deepseek-ocr2": [{"do_pad": False}, {"do_resize": False}, CROP],
    "deepseek-vl": [CROP, PAD_SIZE, {"resample": 0}],  # `resample or self.resample`: nearest is the attribute's
    "janus": [CROP, {"image_seq_length": 5}, {"resample": 0}],
}
# what anyres cannot reproduce (the reference processes these)
REFUSED = {
    "ovis2": CROP,  # a centre crop after the tiles
    "hunyuan-vl": {"temporal_patch_size": 2},  # patches repeated over frames
    "deepseek-ocr2": {"tile_size": 100},  # not a whole number of 64 px token cells
}


def _images():
    rng = random.Random(11)
    return [make_image(rng, "RGB", strips=False) for _ in range(2)] + [make_image(rng, "RGB", strips=False)]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.mark.parametrize("preset", sorted(UNREAD))
def test_arguments_the_processing_never_reads_change_nothing(preset):
    ours = AnyresImageProcessor(preset, **SMALL.get(preset, {}))
    ref = reference_for(ours)
    images = _images()
    plain = ours(images, return_tensors="np")
    for kwargs in UNREAD[preset]:
        got, want = ours(images, return_tensors="np", **kwargs), ref(images, return_tensors="np", **kwargs)
        same_output(got, want, f"{preset} {kwargs}")
        same_output(got, plain, f"{preset} {kwargs} vs no arguments")
        built = AnyresImageProcessor(preset, **{**SMALL.get(preset, {}), **kwargs})  # as constructor arguments
        same_output(built(images, return_tensors="np"), reference_for(built)(images, return_tensors="np"), preset)


@pytest.mark.parametrize("preset", sorted(REFUSED))
def test_what_anyres_cannot_reproduce_is_refused_by_name(preset):
    ours = AnyresImageProcessor(preset, **SMALL.get(preset, {}))
    kwargs = REFUSED[preset]
    reference_for(ours)(_images(), return_tensors="np", **kwargs)  # the reference does process it
    with pytest.raises(SpecError, match=f"cannot honour.*{next(iter(kwargs))}"):
        ours(_images(), return_tensors="np", **kwargs)


@pytest.mark.parametrize("preset", ["deepseek-vl", "janus"])
def test_deepseek_vl_pads_with_the_constructor_mean_not_the_call_mean(preset):
    """Its background_color is fixed by the constructor's image_mean; a call's image_mean
    normalises but does not repaint the pad."""
    tall = np.full((120, 40, 3), 200, np.uint8)
    mean = [0.1, 0.6, 0.9]
    for ctor, call in (({"image_mean": mean}, {}), ({}, {"image_mean": mean})):
        ours = AnyresImageProcessor(preset, **ctor)
        ref = reference_for(ours)
        got = ours(tall, return_tensors="np", do_normalize=False, **call)
        same_output(got, ref(tall, return_tensors="np", do_normalize=False, **call), f"{preset} {ctor} {call}")
        corner = got["pixel_values"][0, :, 0, 0] * 255  # do_normalize=False: the pad colour / 255
        want = [int(m * 255) for m in (mean if ctor else ours.image_mean)]  # the constructor's mean, either way
        assert want != [int(m * 255) for m in mean] or ctor
        assert np.allclose(corner, want, rtol=1e-5), (ctor, call, corner, want)  # float32 x / 255 * 255

"""What transformers' shared image-processor test mixin checks, restated, for every family
with a transformers PIL class: each check runs against the reference class and against
AnyresImageProcessor built with the same arguments, and must come out the same.

Checked: construction without arguments; ``to_dict`` / ``to_json_string`` /
``to_json_file`` / ``from_json_file`` / ``save_pretrained`` / ``from_pretrained`` /
``from_dict`` round trips (``AutoImageProcessor`` included); calls with PIL, numpy and
torch inputs, single and batched, and 4-channel numpy with ``input_data_format``;
BatchFeature dtype casts; an unknown call argument refused as a TypeError; constructor
arguments versus call arguments (the call wins) and live attributes;
``get_number_of_image_patches``.
"""

from __future__ import annotations

import json
import random
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from transformers import AutoImageProcessor  # noqa: E402

from anyres.hf import AnyresImageProcessor  # noqa: E402

from .cases import FAMILIES, SMALL, TWINS, make_image  # noqa: E402
from .compare import ANYRES_KEYS, is_rgb_refusal, outcome, same_output  # noqa: E402

PRESETS = sorted(FAMILIES)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _pair(preset: str, **kwargs):
    """(ours, the reference) built from the same reference-named arguments."""
    ours = AnyresImageProcessor(preset, **{**SMALL.get(preset, {}), **kwargs})
    config = {k: v for k, v in ours.to_dict().items() if k not in ANYRES_KEYS}
    return ours, ours._reference_cls(**config)


def _reference_view(d: dict) -> dict:
    return {k: v for k, v in d.items() if k not in ANYRES_KEYS}


def _images(seed: int, n: int = 3) -> list:
    rng = random.Random(seed)
    return [make_image(rng, "RGB", strips=False) for _ in range(n)]


@pytest.mark.parametrize("preset", PRESETS)
def test_construction_and_attributes(preset):
    ours, ref = _pair(preset)
    assert isinstance(ours, ours._reference_cls)
    assert _reference_view(ours.to_dict()) == _reference_view(ref.to_dict())
    for name in ref._valid_kwargs_names:  # every reference attribute, same value
        assert repr(getattr(ours, name, None)) == repr(getattr(ref, name, None)), name
    assert ours.model_input_names == ref.model_input_names
    assert AnyresImageProcessor(preset) is not None


@pytest.mark.parametrize("preset", PRESETS)
def test_serialisation_round_trips(preset, tmp_path):
    ours, ref = _pair(preset, **FAMILIES[preset][0])
    for ip in (ours, ref):
        cls = type(ip) if ip is ref else AnyresImageProcessor
        text = ip.to_json_string()
        assert json.loads(text) == json.loads(json.dumps(ip.to_dict(), default=list))
        ip.to_json_file(tmp_path / "ip.json")
        assert cls.from_json_file(tmp_path / "ip.json").to_dict() == ip.to_dict()
        folder = tmp_path / type(ip).__name__
        saved = ip.save_pretrained(folder)[0]
        json.loads(open(saved).read())
        assert cls.from_pretrained(folder).to_dict() == ip.to_dict()
        auto = AutoImageProcessor.from_pretrained(folder, backend="pil")
        assert type(auto).__name__ == type(ip).__name__.removesuffix("Pil") or isinstance(auto, type(ip))
        assert auto.to_dict() == ip.to_dict()
        assert cls.from_dict(ip.to_dict()).to_dict() == ip.to_dict()
    assert _reference_view(ours.to_dict()) == _reference_view(ref.to_dict())


@pytest.mark.parametrize("preset", PRESETS)
def test_calls_with_pil_numpy_and_torch_inputs(preset):
    ours, ref = _pair(preset)
    images = _images(len(preset))
    arrays = [np.asarray(im) for im in images]
    tensors = [torch.from_numpy(a.transpose(2, 0, 1).copy()) for a in arrays]
    for batch in (images, arrays, tensors):
        for inputs in (batch[0], batch):
            a = outcome(lambda: ours(inputs, return_tensors="pt"))
            b = outcome(lambda: ref(inputs, return_tensors="pt"))
            assert a[0] == b[0] == "ok", (a, b)
            same_output(a[1], b[1], preset)
    four = [np.dstack([a, np.full(a.shape[:2], 200, np.uint8)]) for a in arrays]
    kw = dict(return_tensors="pt", input_data_format="channels_last", image_mean=0.0, image_std=1.0)
    kw.update({twin: kw[key] for key, twin in TWINS.get(preset, {}).items() if key in kw})
    a, b = outcome(lambda: ours(four, **kw)), outcome(lambda: ref(four, **kw))
    if is_rgb_refusal(a) and b[0] == "ok":  # SigLIP2 keeps 4 channels (do_convert_rgb unset): anyres refuses
        return
    assert a[0] == b[0], (a, b)
    if a[0] == "ok":
        same_output(a[1], b[1], preset)


@pytest.mark.parametrize("preset", PRESETS)
def test_batch_feature_casts(preset):
    ours, ref = _pair(preset)
    images = _images(1, 2)
    for ip in (ours, ref):
        enc = ip(images, return_tensors="pt")
        assert enc["pixel_values"].dtype in (torch.float32, torch.uint8)
        assert enc.to(torch.float16)["pixel_values"].dtype == torch.float16
        with pytest.raises(TypeError):
            enc.to(torch.bfloat16, "cpu")


@pytest.mark.parametrize("preset", PRESETS)
def test_unknown_call_argument_is_a_type_error(preset):
    ours, ref = _pair(preset)
    images = _images(2, 1)
    for ip in (ours, ref):
        with pytest.raises(TypeError):
            ip(images, extra_argument=True)


@pytest.mark.parametrize("preset", PRESETS)
def test_call_arguments_win_over_constructor_arguments_and_attributes_are_live(preset):
    first, second = (FAMILIES[preset] * 2)[:2]
    ours, ref = _pair(preset, **first)
    images = _images(3, 2)
    same_output(ours(images, return_tensors="np", **second), ref(images, return_tensors="np", **second), preset)
    for key, value in second.items():  # the same change as attributes
        setattr(ours, key, value)
        setattr(ref, key, value)
    a, b = outcome(lambda: ours(images, return_tensors="np")), outcome(lambda: ref(images, return_tensors="np"))
    assert a[0] == b[0], (a, b)
    if a[0] == "ok":
        same_output(a[1], b[1], preset)


@pytest.mark.parametrize("preset", [p for p in PRESETS if p not in ("mllama", "gemma4", "pixtral", "mistral3",
                                                                      "idefics2", "gemma3")])
def test_number_of_image_patches(preset):
    """Families whose reference has the helper (Mllama's and Gemma 4's count other things)."""
    ours, ref = _pair(preset)
    if not hasattr(type(ref), "get_number_of_image_patches"):
        pytest.skip("the reference has no get_number_of_image_patches")
    for w, h in [(1, 1), (37, 41), (300, 200), (200, 900), (1000, 600)]:
        if preset in PROCESSING_COUNTS:  # the reference's helper disagrees with its own processing: follow that
            blank = np.zeros((h, w, 3), np.uint8)
            want = PROCESSING_COUNTS[preset](ref(blank, return_tensors="np"))
        else:
            want = ref.get_number_of_image_patches(h, w, {})
        assert ours.get_number_of_image_patches(h, w, {}) == want, (w, h)


# what the reference's processing makes, where its get_number_of_image_patches says otherwise: DeepSeek-OCR 2's
# helper picks the grid with `size` as the tile and counts tiles even when no side exceeds tile_size
PROCESSING_COUNTS = {"deepseek-ocr2": lambda out: 1 + int(out["num_local_patches"][0])}

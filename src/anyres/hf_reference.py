"""What ``AnyresImageProcessor`` borrows from the transformers PIL class it stands in for.

For a preset with a reference class (``REFERENCE_CLASSES``), the drop-in processor is a
subclass of that class: its constructor, attributes, call-argument precedence and
validation, ``to_dict`` and helper methods are the reference's own. Only the last step,
turning the fully resolved call arguments and the images into pixels, is anyres':

- ``baseline_kwargs(preset)``: the reference constructor arguments that describe the
  preset (what the preset's own pixels correspond to);
- ``resolved_kwargs(ip, call_kwargs)``: the call arguments as the reference's
  ``preprocess`` resolves them (attributes, then call kwargs, standardised, validated);
- ``overrides_from(preset, resolved, baseline)``: what differs from the preset's
  baseline, as anyres overrides (``SpecError`` for what anyres cannot honour);
- ``as_reference_sees(ip, image, ...)``: an input image converted as the reference
  converts it before resizing (no EXIF rotation of a decoded PIL image, 16-bit clipped
  by PIL's RGB conversion), unless ``apply_exif`` / ``scale_high_bit_depth`` ask for
  anyres' own handling.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from .errors import SpecError
from .plan import resolve

# preset -> the transformers PIL image processor class it reproduces
REFERENCE_CLASSES: dict[str, str] = {
    "llava-next": "LlavaNextImageProcessorPil",
    "llava-onevision": "LlavaOnevisionImageProcessorPil",
    "internvl": "GotOcr2ImageProcessorPil",
    "internvl3.5": "GotOcr2ImageProcessorPil",
    "qwen2-vl": "Qwen2VLImageProcessorPil",
    "qwen2.5-vl": "Qwen2VLImageProcessorPil",
    "qwen3-vl": "Qwen2VLImageProcessorPil",
    "glm4v": "Glm4vImageProcessorPil",
    "glm46v": "Glm46VImageProcessorPil",
    "ernie4.5-vl": "Ernie4_5_VLMoeImageProcessorPil",
    "videollama3": "VideoLlama3ImageProcessorPil",
    "paddleocr-vl": "PaddleOCRVLImageProcessorPil",
    "idefics3": "Idefics3ImageProcessorPil",
    "smolvlm": "SmolVLMImageProcessorPil",
    "idefics2": "Idefics2ImageProcessorPil",
    "siglip2": "Siglip2ImageProcessorPil",
    "aria": "AriaImageProcessorPil",
    "gemma3": "Gemma3ImageProcessorPil",
    "pixtral": "PixtralImageProcessorPil",
    "mistral3": "PixtralImageProcessorPil",
    "mllama": "MllamaImageProcessorPil",
    "gemma4": "Gemma4ImageProcessorPil",
    "ovis2": "Ovis2ImageProcessorPil",
    "minicpm-v-4.6": "MiniCPMV4_6ImageProcessorPil",
    "hunyuan-vl": "HunYuanVLImageProcessorPil",
    "deepseek-ocr2": "DeepseekOcr2ImageProcessorPil",
    "deepseek-vl": "DeepseekVLImageProcessorPil",
    "janus": "JanusImageProcessorPil",
    "deepseek-vl-hybrid": "DeepseekVLHybridImageProcessorPil",
}
# call arguments about the output's form, not its values (handled by the drop-in itself)
FORM_KEYS = frozenset({"return_tensors", "data_format", "input_data_format", "device", "disable_grouping",
                       "do_convert_rgb", "return_row_col_info", "batch_num_images"})
_PIL_FILTERS = {"nearest": 0, "lanczos": 1, "bilinear": 2, "bicubic": 3}


def reference_class(spec: str, by_strategy: Any) -> type | None:
    """The transformers PIL class ``spec``'s preset reproduces (by the preset's name, else
    ``by_strategy(params)``, the strategy's glue), or None."""
    preset, params, _ = resolve(spec)
    name = REFERENCE_CLASSES.get(preset.name) or by_strategy(params)
    if name is None:
        return None
    import transformers

    return getattr(transformers, name)


def baseline_kwargs(spec: str, host_attributes: dict[str, Any]) -> dict[str, Any]:
    """The reference constructor arguments of ``spec``'s preset as it stands."""
    chosen, _, _ = resolve(spec)
    px = chosen.pixels
    out = {"image_mean": list(px.mean), "image_std": list(px.std), "rescale_factor": px.rescale,
           "resample": _PIL_FILTERS[px.resample]}
    out.update(host_attributes)
    return out


def resolved_kwargs(ip: Any, call_kwargs: dict[str, Any]) -> dict[str, Any]:
    """``call_kwargs`` over ``ip``'s attributes, as the reference's ``preprocess`` resolves
    them before it touches an image."""
    from huggingface_hub.dataclasses import validate_typed_dict

    kwargs = dict(call_kwargs)
    validate_typed_dict(ip.valid_kwargs, kwargs)
    for name in ip._valid_kwargs_names:
        kwargs.setdefault(name, getattr(ip, name, None))
    kwargs = ip._standardize_kwargs(**kwargs)
    ip._validate_preprocess_kwargs(**kwargs)
    return kwargs


@lru_cache(maxsize=256)
def _canonical(cls: type, frozen: tuple) -> dict[str, Any]:
    import json

    return {k: v for k, v in cls(**json.loads(frozen[0])).to_dict().items() if k != "image_processor_type"}


def canonical_kwargs(cls: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` as the reference's own saved config states them (Qwen2-VL's
    min_pixels / max_pixels folded into ``size``), so that a caller's ``size`` given on
    top of them is not overridden by the baseline's pixel bounds."""
    import copy
    import json

    return copy.deepcopy(_canonical(cls, (json.dumps(kwargs, sort_keys=True, default=_jsonable),)))


@lru_cache(maxsize=256)
def _baseline_resolved(cls: type, frozen: tuple) -> dict[str, Any]:
    import json

    plain = cls(**json.loads(frozen[0]))
    return {k: plain_value(v) for k, v in resolved_kwargs(plain, {}).items()}


def baseline_resolved(cls: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    import json

    return _baseline_resolved(cls, (json.dumps(kwargs, sort_keys=True, default=_jsonable),))


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def plain_value(value: Any) -> Any:
    """A resolved argument as plain data that compares by value (SizeDict -> dict
    without unset sides, tuples -> lists, enums -> ints)."""
    from transformers.image_utils import SizeDict

    if isinstance(value, SizeDict):
        return {k: v for k, v in dict(value).items() if v is not None}
    if isinstance(value, dict):
        return {k: plain_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_value(v) for v in value]
    if hasattr(value, "value") and type(value).__module__.startswith(("enum", "PIL", "transformers")):
        return value.value
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return abs(float(a) - float(b)) <= 1e-12 * max(1.0, abs(float(b)))  # 1/255 spelt two ways
        except (TypeError, ValueError):
            return False
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _effective(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Resolved arguments with the pixel arithmetic they imply: no normalisation is mean 0
    and std 1 (whatever image_mean says), no rescaling a factor of 1."""
    out = {k: plain_value(v) for k, v in kwargs.items() if k not in FORM_KEYS}
    for key in ("image_mean", "image_std"):  # a number means the same for every channel
        if isinstance(out.get(key), (int, float)) and not isinstance(out.get(key), bool):
            out[key] = [float(out[key])] * 3
    if out.get("do_normalize") is False:  # image_std unused; image_mean still the pad colour
        out["image_std"] = None
    if out.get("do_rescale") is False:
        out["rescale_factor"] = None
    return out


def differences(resolved: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """The resolved arguments (not about the output's form) whose effect differs from the
    baseline's (``baseline`` as ``baseline_resolved`` gives it)."""
    ours, base = _effective(resolved), _effective(baseline)
    out = {k: v for k, v in ours.items() if not _same(v, base.get(k)) and v is not None}
    for flag in ("do_normalize", "do_rescale"):  # stated whenever off, so that mean or factor read right
        if ours.get(flag) is False and len(out):
            out[flag] = False
    return out


def overrides_from(spec: str, diffs: dict[str, Any], translate: Any = None,
                   encoder_free: dict[str, Any] | None = None) -> dict[str, Any]:
    """``diffs`` as overrides of ``spec`` that anyres honours, or ``SpecError``.

    ``encoder_free``: values of parameters that shape only the encoder's tokens, never the
    pixels (Gemma 3's patch_size and image_seq_length, Idefics3's patch_size and scale
    factor), that fit any view size. When the reference's arguments make views the preset's
    encoder cannot cut into whole patches (transformers' tests use 18-20 px views), the
    pixels are still the reference's: they are planned with these values instead (the image
    processor reports no token count; ``anyres.plan`` on the same spec still refuses)."""
    if not diffs:
        return {}
    params = resolve(spec)[1]
    kwargs = translate(params, dict(diffs)) if translate is not None else dict(diffs)
    try:
        resolve(spec, **kwargs)
    except SpecError as exc:
        if encoder_free and not set(encoder_free) & set(kwargs):
            try:
                resolve(spec, **kwargs, **encoder_free)
                return {**kwargs, **encoder_free}
            except SpecError:
                pass
        given = ", ".join(f"{k}={v!r}" for k, v in diffs.items())
        raise SpecError(f"AnyresImageProcessor({spec!r}) cannot honour {given}: {exc}") from None
    return kwargs


_HIGH_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I", "F"})


def as_reference_sees(ip: Any, image: Any, do_convert_rgb: Any, input_data_format: Any) -> Any:
    """``image`` as the reference has it when it resizes: an (H, W, C) uint8 array (C is 3
    unless do_convert_rgb=False keeps other channels: ``hf_channels``), or a file source left to anyres' decoder (the reference's loader applies EXIF too)."""
    import numpy as np

    if isinstance(image, (str, bytes, bytearray)) or hasattr(image, "read") or hasattr(image, "__fspath__"):
        return image
    if hasattr(image, "getexif") and hasattr(image, "size"):  # a PIL image
        if getattr(ip, "apply_exif", False):
            from PIL import ImageOps

            image = ImageOps.exif_transpose(image)
        if getattr(ip, "scale_high_bit_depth", False) and image.mode in _HIGH_BIT_MODES:
            return image  # anyres' decoder scales 16-bit to 8-bit
    arr = ip.process_image(image, do_convert_rgb=do_convert_rgb, input_data_format=input_data_format)
    if arr.dtype != np.uint8:  # as the reference's resize converts to PIL (floats in [0, 1] scaled)
        from transformers.image_transforms import to_pil_image
        from transformers.image_utils import ChannelDimension

        return np.asarray(to_pil_image(arr, input_data_format=ChannelDimension.FIRST))
    return np.ascontiguousarray(np.moveaxis(arr, 0, -1))

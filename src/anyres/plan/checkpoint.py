"""A checkpoint folder as a preset spec: the family from its configs, its values as overrides.

``anyres.plan(image, "path/to/model")`` reads the folder's ``preprocessor_config.json``
(the image processor), ``processor_config.json`` (the processor; transformers 5 may
nest the image processor under ``"image_processor"``) and ``config.json`` (the model),
picks the preset from ``model_type`` (the more specific: Qwen3-VL checkpoints ship a
``Qwen2VLImageProcessor``) or else ``image_processor_type``, and turns the values the
preset's family reads into overrides in the reference's own names (``size={...}``,
``min_pixels``, ``image_mean``, ...). Unknown families raise ``SpecError`` naming what
was found. Standard library only.

``register_checkpoint_family`` adds a family: the transformers names that select it and
``Rule``s from config keys to overrides.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

from ..errors import SpecError
from .pixel_keys import PIXEL_KEYS

FILES = ("preprocessor_config.json", "processor_config.json", "config.json")
MAX_CONFIG_BYTES = 4 * 1024 * 1024  # a config larger than this is not a config


class Rule(NamedTuple):
    """Override ``param`` with the value at ``key`` (dotted for nested dicts) of
    ``source``: ``"image"`` (the image processor's config), ``"processor"`` or
    ``"model"`` (config.json); ``convert`` maps the stored value first."""

    source: str
    key: str
    param: str
    convert: Callable[[Any], Any] | None = None


@dataclass(frozen=True)
class Family:
    preset: str
    model_types: tuple[str, ...]
    image_processor_types: tuple[str, ...]
    rules: tuple[Rule, ...]


_FAMILIES: list[Family] = []


def register_checkpoint_family(preset: str, *, model_types: tuple[str, ...] = (),
                               image_processor_types: tuple[str, ...] = (), rules: tuple[Rule, ...] = (),
                               pixel_keys: bool = True) -> Family:
    """Let checkpoint folders of these transformers ``model_type`` / image processor
    class names (without a ``Fast`` or ``Pil`` suffix) plan as ``preset``. With
    ``pixel_keys`` the image processor's mean, std, rescale factor and filter apply too."""
    pixel = tuple(Rule("image", k, k) for k in PIXEL_KEYS) if pixel_keys else ()
    family = Family(preset, tuple(model_types), tuple(image_processor_types), tuple(rules) + pixel)
    _FAMILIES.insert(0, family)  # a later registration wins
    return family


def stamp(folder: str) -> tuple | None:
    """What identifies the folder's configs now (path, and each file's mtime and size),
    or None when ``folder`` is not a directory."""
    if not folder or not os.path.isdir(folder):
        return None
    path = os.path.realpath(folder)
    out = []
    for name in FILES:
        try:
            st = os.stat(os.path.join(path, name))
        except OSError:
            continue
        out.append((name, st.st_mtime_ns, st.st_size))
    return (path, tuple(out))


def _load(path: str) -> dict:
    try:
        if os.path.getsize(path) > MAX_CONFIG_BYTES:
            raise SpecError(f"{path} is larger than {MAX_CONFIG_BYTES} bytes: not a config file")
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:  # RecursionError: absurd nesting
        raise SpecError(f"cannot read {path} as JSON: {type(exc).__name__}: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path} must hold a JSON object, got {type(data).__name__}")
    return data


def read_configs(folder: str) -> dict[str, dict]:
    """{"image": image processor values, "processor": processor values, "model": config.json}."""
    image = _load(os.path.join(folder, "preprocessor_config.json"))
    processor = _load(os.path.join(folder, "processor_config.json"))
    nested = processor.get("image_processor")
    if isinstance(nested, dict):
        image = {**image, **nested}
    processor = {k: v for k, v in processor.items() if not isinstance(v, dict)}
    return {"image": image, "processor": processor, "model": _load(os.path.join(folder, "config.json"))}


def _processor_type(image: dict) -> str | None:
    name = image.get("image_processor_type")
    if not isinstance(name, str):
        return None
    for suffix in ("Fast", "Pil"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def family_of(configs: dict[str, dict], folder: str) -> Family:
    model_type = configs["model"].get("model_type")
    processor_type = _processor_type(configs["image"])
    for f in _FAMILIES:
        if model_type in f.model_types:
            return f
    for f in _FAMILIES:
        if processor_type in f.image_processor_types:
            return f
    found = [f"{name}={value!r}" for name, value in (("model_type", model_type), ("image_processor_type",
             configs["image"].get("image_processor_type"))) if value is not None]
    read = [n for n in FILES if os.path.exists(os.path.join(folder, n))]
    raise SpecError(
        f"checkpoint folder {folder!r}: no anyres preset for "
        f"{', '.join(found) if found else 'an unnamed family (no model_type, no image_processor_type)'} "
        f"(read: {', '.join(read) or 'none of ' + ', '.join(FILES)}); known model types: "
        f"{', '.join(sorted({t for f in _FAMILIES for t in f.model_types}))}"
    )


_MISSING = object()


def _lookup(data: dict, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(data, dict) or part not in data:
            return _MISSING
        data = data[part]
    return data


def checkpoint_overrides(folder: str) -> tuple[str, dict[str, Any]]:
    """(preset name, overrides) for the checkpoint in ``folder``."""
    configs = read_configs(folder)
    family = family_of(configs, folder)
    out: dict[str, Any] = {}
    for rule in family.rules:
        value = _lookup(configs[rule.source], rule.key)
        if value is _MISSING or value is None:
            continue
        out[rule.param] = rule.convert(value) if rule.convert is not None else value
    return family.preset, out


# ------------------------------------------------------------------ converters
def first(value: Any) -> Any:
    """A ``[14, 14]`` patch or image size as one side (they are square in these towers)."""
    if isinstance(value, (list, tuple)) and value:
        return value[0]
    return value


def views_from_aspect_ratio(value: Any) -> Any:
    """LLaVA-OneVision's ``vision_aspect_ratio="anyres_max_9"`` -> 9."""
    if isinstance(value, str) and value.startswith("anyres_max_"):
        try:
            return int(value[len("anyres_max_"):])
        except ValueError:
            pass
    raise SpecError(f"vision_aspect_ratio {value!r} is not of the form 'anyres_max_N'")


# ------------------------------------------------------------------ the built-in families
_NATIVE = (
    Rule("image", "size", "size"),
    Rule("image", "min_pixels", "min_pixels"),
    Rule("image", "max_pixels", "max_pixels"),
    Rule("image", "patch_size", "patch_size"),
    Rule("image", "merge_size", "merge_size"),
    Rule("image", "temporal_patch_size", "temporal_patch_size"),
)
register_checkpoint_family("qwen2-vl", model_types=("qwen2_vl",), image_processor_types=("Qwen2VLImageProcessor",),
                           rules=_NATIVE)
register_checkpoint_family("qwen2.5-vl", model_types=("qwen2_5_vl",),
                           image_processor_types=("Qwen2_5_VLImageProcessor",), rules=_NATIVE)
register_checkpoint_family("qwen3-vl", model_types=("qwen3_vl", "qwen3_vl_moe"), rules=_NATIVE)
register_checkpoint_family("glm4v", model_types=("glm4v", "glm4v_moe"), image_processor_types=("Glm4vImageProcessor",),
                           rules=_NATIVE)
register_checkpoint_family("paddleocr-vl", model_types=("paddleocr_vl",),
                           image_processor_types=("PaddleOCRVLImageProcessor",), rules=_NATIVE)
_LLAVA_NEXT = (
    Rule("image", "image_grid_pinpoints", "image_grid_pinpoints"),
    Rule("model", "image_grid_pinpoints", "image_grid_pinpoints"),
    Rule("image", "crop_size.height", "base_size"),
    Rule("model", "vision_config.patch_size", "patch_size", first),
    Rule("processor", "patch_size", "patch_size"),
    Rule("model", "vision_feature_select_strategy", "feature_select_strategy"),
    Rule("processor", "vision_feature_select_strategy", "feature_select_strategy"),
)
register_checkpoint_family("llava-next", model_types=("llava_next",),
                           image_processor_types=("LlavaNextImageProcessor",), rules=_LLAVA_NEXT)
register_checkpoint_family(
    "llava-onevision", model_types=("llava_onevision",), image_processor_types=("LlavaOnevisionImageProcessor",),
    rules=_LLAVA_NEXT[:1] + (Rule("image", "size.height", "base_size"),) + _LLAVA_NEXT[1:]
    + (Rule("model", "vision_aspect_ratio", "max_views", views_from_aspect_ratio),
       Rule("processor", "vision_aspect_ratio", "max_views", views_from_aspect_ratio)),
)
register_checkpoint_family(
    "internvl", model_types=("internvl",), image_processor_types=("GotOcr2ImageProcessor",),
    rules=(
        Rule("image", "size.height", "tile_size"),
        Rule("image", "min_patches", "min_tiles"),
        Rule("image", "max_patches", "max_tiles"),
        Rule("model", "vision_config.patch_size", "patch_size", first),
        Rule("model", "downsample_ratio", "downsample_ratio"),
    ),
)
_IDEFICS3 = (
    Rule("image", "size.longest_edge", "longest_edge"),
    Rule("image", "max_image_size.longest_edge", "tile_size"),
    Rule("image", "do_image_splitting", "do_image_splitting"),
    Rule("model", "vision_config.patch_size", "patch_size", first),
    Rule("model", "scale_factor", "scale_factor"),
)
register_checkpoint_family("idefics3", model_types=("idefics3",), image_processor_types=("Idefics3ImageProcessor",),
                           rules=_IDEFICS3)
# SmolVLM(2): Idefics3's processor and connector under its own names
register_checkpoint_family("smolvlm", model_types=("smolvlm",), image_processor_types=("SmolVLMImageProcessor",),
                           rules=_IDEFICS3)
register_checkpoint_family(
    "gemma3", model_types=("gemma3",), image_processor_types=("Gemma3ImageProcessor",),
    rules=(
        Rule("image", "size", "size"),
        Rule("model", "vision_config.patch_size", "patch_size", first),
        Rule("model", "mm_tokens_per_image", "image_seq_length"),
        Rule("processor", "image_seq_length", "image_seq_length"),
        *(Rule("image", k, k) for k in ("do_pan_and_scan", "pan_and_scan_min_crop_size", "pan_and_scan_max_num_crops",
                                        "pan_and_scan_min_ratio_to_activate")),
    ),
)
# SigLIP2 NaFlex: a Siglip2Model or a bare Siglip2VisionModel folder
register_checkpoint_family(
    "siglip2", model_types=("siglip2", "siglip2_vision_model"), image_processor_types=("Siglip2ImageProcessor",),
    rules=(
        Rule("image", "max_num_patches", "max_num_patches"),
        Rule("model", "vision_config.patch_size", "patch_size", first),
        Rule("model", "patch_size", "patch_size", first),
        Rule("image", "patch_size", "patch_size"),
    ),
)
# Pixtral-12B (a LLaVA folder: its image processor names it) and Mistral 3; the processor's
# values (its merge, its tokens) after the model's, so that they win
_PIXTRAL = (
    Rule("image", "size", "size"),
    Rule("image", "patch_size", "patch_size"),
    Rule("model", "spatial_merge_size", "spatial_merge_size"),
    Rule("processor", "spatial_merge_size", "spatial_merge_size"),
    Rule("processor", "image_token", "image_token"),
    Rule("processor", "image_break_token", "image_break_token"),
    Rule("processor", "image_end_token", "image_end_token"),
)
register_checkpoint_family("pixtral", image_processor_types=("PixtralImageProcessor",), rules=_PIXTRAL)
register_checkpoint_family("mistral3", model_types=("mistral3",), rules=_PIXTRAL)

__all__ = ["Family", "Rule", "checkpoint_overrides", "read_configs", "register_checkpoint_family", "stamp"]


# --- the families helper's presets (Ovis2, MiniCPM-V 4.6, HunYuan-VL, DeepSeek-OCR 2, DeepSeek-VL, Janus) ---
def _image_rules(*keys: str) -> tuple[Rule, ...]:
    """Image processor keys that are overrides under their own names."""
    return tuple(Rule("image", k, k) for k in keys)


register_checkpoint_family("ovis2", model_types=("ovis2",), image_processor_types=("Ovis2ImageProcessor",),
                           rules=_image_rules("size", "crop_to_patches", "min_patches", "max_patches",
                                              "use_covering_area_grid")
                           + (Rule("processor", "image_seq_length", "image_seq_length"),))
register_checkpoint_family("minicpm-v-4.6", model_types=("minicpmv4_6",),
                           image_processor_types=("MiniCPMV4_6ImageProcessor",),
                           rules=_image_rules("max_slice_nums", "scale_resolution", "patch_size", "slice_mode",
                                              "downsample_mode"))
register_checkpoint_family("hunyuan-vl", model_types=("hunyuan_vl",), image_processor_types=("HunYuanVLImageProcessor",),
                           rules=_NATIVE + (Rule("processor", "cat_extra_token", "cat_extra_token"),))
register_checkpoint_family("deepseek-ocr2", model_types=("deepseek_ocr2",),
                           image_processor_types=("DeepseekOcr2ImageProcessor",),
                           rules=_image_rules("size", "tile_size", "crop_to_patches", "min_patches", "max_patches")
                           + (Rule("processor", "patch_size", "patch_size"),
                              Rule("processor", "downsample_ratio", "downsample_ratio")))
for _preset, _type, _ip in (("deepseek-vl", "deepseek_vl", "DeepseekVLImageProcessor"),
                            ("janus", "janus", "JanusImageProcessor")):
    register_checkpoint_family(_preset, model_types=(_type,), image_processor_types=(_ip,),
                               rules=_image_rules("size", "min_size", "do_pad")
                               + (Rule("processor", "num_image_tokens", "num_image_tokens"),))
register_checkpoint_family("deepseek-vl-hybrid", model_types=("deepseek_vl_hybrid",),
                           image_processor_types=("DeepseekVLHybridImageProcessor",),
                           rules=_image_rules("size", "min_size", "do_pad", "high_res_size")
                           + (Rule("processor", "num_image_tokens", "num_image_tokens"),))
register_checkpoint_family("glm46v", model_types=("glm46v",), image_processor_types=("Glm46VImageProcessor",),
                           rules=_NATIVE)
register_checkpoint_family("ernie4.5-vl", model_types=("ernie4_5_vl_moe",),
                           image_processor_types=("Ernie4_5_VLMoeImageProcessor", "Ernie4_5_VL_MoeImageProcessor"),
                           rules=_NATIVE)
register_checkpoint_family("videollama3", model_types=("video_llama_3",),
                           image_processor_types=("VideoLlama3ImageProcessor",), rules=_NATIVE)

"""Model sizes for the cost model: vision towers and language models as plain numbers.

A size comes from a named entry of ``ENCODERS`` / ``LLMS`` (the towers and language
models VLMs ship with), a transformers config (a dict or a config object; a whole VLM
config gives its ``vision_config`` or ``text_config``), or a model folder holding
``config.json``. Standard library only.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import SpecError


@dataclass(frozen=True)
class EncoderSize:
    """A ViT tower. ``width``/``intermediate``/``layers``/``heads`` as in its config;
    ``gated``: a SwiGLU MLP (three matrices) instead of fc1/fc2; ``cls``: prefix tokens
    it prepends (CLIP, InternViT: 1); ``temporal_patch``: frames per patch (Qwen2-VL: 2);
    ``merge``: the k x k patch merger inside the tower (Qwen2-VL: 2), ``merger_out``
    its output width; ``window``: window-attention side in pixels (Qwen2.5-VL: 112) and
    ``full_layers`` the layers that attend globally."""

    name: str
    width: int
    intermediate: int
    layers: int
    heads: int
    patch: int = 14
    channels: int = 3
    cls: int = 0
    gated: bool = False
    temporal_patch: int = 1
    merge: int = 1
    merger_out: int = 0
    window: int = 0
    full_layers: tuple[int, ...] = ()


@dataclass(frozen=True)
class LLMSize:
    """A decoder language model: ``kv_heads`` for grouped-query attention, ``head_dim``
    (``width // heads`` unless the config says), ``gated`` MLP (SwiGLU: Llama, Qwen,
    Mistral, InternLM)."""

    name: str
    width: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int = 0
    gated: bool = True

    @property
    def head(self) -> int:
        return self.head_dim or self.width // self.heads


ENCODERS: dict[str, EncoderSize] = {
    e.name: e
    for e in (
        EncoderSize("clip-l/336", 1024, 4096, 24, 16, 14, cls=1),
        EncoderSize("clip-l/224", 1024, 4096, 24, 16, 14, cls=1),
        EncoderSize("siglip-so400m/384", 1152, 4304, 27, 16, 14),
        EncoderSize("internvit-300m", 1024, 4096, 24, 16, 14, cls=1),
        EncoderSize("internvit-6b", 3200, 12800, 45, 25, 14, cls=1),
        EncoderSize("qwen2-vl-vit", 1280, 5120, 32, 16, 14, temporal_patch=2, merge=2, merger_out=3584),
        EncoderSize("qwen2.5-vl-vit", 1280, 3420, 32, 16, 14, gated=True, temporal_patch=2, merge=2,
                    merger_out=3584, window=112, full_layers=(7, 15, 23, 31)),
        EncoderSize("qwen3-vl-vit", 1152, 4304, 27, 16, 16, temporal_patch=2, merge=2, merger_out=4096),
        # GLM-4.1V: the MLP is out_hidden_size wide, gated
        EncoderSize("glm4v-vit", 1536, 4096, 24, 12, 14, gated=True, temporal_patch=2, merge=2, merger_out=4096),
        EncoderSize("paddleocr-vl-vit", 1152, 4304, 27, 16, 14, merge=2),
        EncoderSize("siglip-l/16", 1024, 4096, 24, 16, 16),
        EncoderSize("siglip2-so400m/16", 1152, 4304, 27, 16, 16),
        EncoderSize("pixtral-vit", 1024, 4096, 24, 16, 16, gated=True),
        EncoderSize("mistral3-vit", 1024, 4096, 24, 16, 14, gated=True),  # Mistral Small 3.1
        EncoderSize("mllama-vit", 1280, 5120, 40, 16, 14, cls=1),  # 32 local + 8 global layers
        EncoderSize("llama4-vit", 1408, 5632, 34, 16, 14, cls=1),
        EncoderSize("aimv2-large/14", 1024, 2816, 24, 8, 14, gated=True),  # Ovis2
    )
}
LLMS: dict[str, LLMSize] = {
    m.name: m
    for m in (
        LLMSize("llama-3-8b", 4096, 14336, 32, 32, 8),
        LLMSize("llama-2-7b", 4096, 11008, 32, 32, 32),  # Vicuna-7B (LLaVA-1.5/NeXT-7B)
        LLMSize("llama-2-13b", 5120, 13824, 40, 40, 40),  # Vicuna-13B
        LLMSize("mistral-7b", 4096, 14336, 32, 32, 8),
        LLMSize("qwen2-0.5b", 896, 4864, 24, 14, 2),
        LLMSize("qwen2-1.5b", 1536, 8960, 28, 12, 2),
        LLMSize("qwen2-7b", 3584, 18944, 28, 28, 4),
        LLMSize("qwen2.5-3b", 2048, 11008, 36, 16, 2),
        LLMSize("qwen2.5-7b", 3584, 18944, 28, 28, 4),
        LLMSize("internlm2.5-7b", 4096, 14336, 32, 32, 8),
    )
}
ALIASES = {"clip-l": "clip-l/336", "siglip": "siglip-so400m/384", "siglip-so400m": "siglip-so400m/384",
           "qwen2-vl": "qwen2-vl-vit", "qwen2.5-vl": "qwen2.5-vl-vit", "internvit": "internvit-300m",
           "vicuna-7b": "llama-2-7b", "vicuna-13b": "llama-2-13b", "llama3-8b": "llama-3-8b"}

# the tower and language model each built-in preset's reference model ships with
# (``encoder="auto"`` / ``llm="auto"``): LLaVA-NeXT-7B (Vicuna), LLaVA-OneVision-7B,
# InternVL2.5-8B, Qwen2-VL-7B, Idefics3-8B, MiniCPM-V 2.6, LLaVA-UHD (Vicuna-13B)
PRESET_MODELS: dict[str, tuple[str, str]] = {
    "fixed": ("clip-l/336", "llama-2-7b"),
    "fixed-pad": ("clip-l/336", "llama-2-7b"),
    "fixed-crop": ("clip-l/336", "llama-2-7b"),
    "llava-next": ("clip-l/336", "llama-2-7b"),
    "llava-onevision": ("siglip-so400m/384", "qwen2-7b"),
    "internvl": ("internvit-300m", "internlm2.5-7b"),
    "qwen2-vl": ("qwen2-vl-vit", "qwen2-7b"),
    "qwen2.5-vl": ("qwen2.5-vl-vit", "qwen2.5-7b"),  # Qwen2.5-VL-7B
    "idefics3": ("siglip-so400m/384", "llama-3-8b"),
    "minicpm-v": ("siglip-so400m/384", "qwen2-7b"),
    "llava-uhd": ("clip-l/336", "llama-2-13b"),
    "s2": ("clip-l/336", "llama-2-7b"),
}


# presets whose reference checkpoints anyres knows the tower of but not one language
# model (the family ships several), from their config.json: ``encoder="auto"`` only.
# GPT-4V's tower is not public; Gemma 4's, MiniCPM-V 4.6's, HunYuan-VL's and
# DeepSeek-OCR 2's (SAM + a language-model encoder) are not sized here.
PRESET_ENCODERS: dict[str, str] = {
    "dynamic": "clip-l/336",  # generic bucketing over a ViT-L/14
    "budget": "qwen2-vl-vit",  # native ViT/14 views with a 2x2 merge
    "qwen3-vl": "qwen3-vl-vit",
    "glm4v": "glm4v-vit",
    "paddleocr-vl": "paddleocr-vl-vit",
    "gemma3": "siglip-so400m/384",  # at 896 px
    "pixtral": "pixtral-vit",
    "mistral3": "mistral3-vit",
    "mllama": "mllama-vit",
    "llama4": "llama4-vit",
    "smolvlm": "siglip-so400m/384",  # SmolVLM2-2.2B
    "idefics2": "siglip-so400m/384",
    "siglip2": "siglip2-so400m/16",
    "internvl3.5": "internvit-300m",
    "aria": "siglip-so400m/384",
    "ovis2": "aimv2-large/14",
    "deepseek-vl": "siglip-l/16",
    "janus": "siglip-l/16",
}


def preset_encoder(preset: str) -> str | None:
    """The name of ``preset``'s own tower size (``ENCODERS``), or None where anyres does
    not know it."""
    if preset in PRESET_MODELS:
        return PRESET_MODELS[preset][0]
    return PRESET_ENCODERS.get(preset)


def preset_model(preset: str, side: str, value: Any) -> Any:
    """``value``, or for ``"auto"`` the preset's own tower (``side="encoder"``,
    ``preset_encoder``) or language model (``side="llm"``, ``PRESET_MODELS``)."""
    if not (isinstance(value, str) and value == "auto"):
        return value
    found = preset_encoder(preset) if side == "encoder" else PRESET_MODELS.get(preset, (None, None))[1]
    if found is None:
        raise SpecError(f"no default {side} size for preset {preset!r}; name one ({', '.join(ENCODERS if side == 'encoder' else LLMS)})")
    return found


_UNGATED = {"gpt2", "opt", "phi", "gpt_neox", "bloom", "falcon"}


def encoder_size(value: Any) -> EncoderSize:
    """An ``EncoderSize`` from a name, a config (dict or object) or a folder."""
    if isinstance(value, EncoderSize):
        return value
    if isinstance(value, str) and not _is_folder(value):
        return _named(value, ENCODERS, "encoder")
    cfg = _config(value)
    cfg = _as_dict(cfg.get("vision_config")) or cfg
    return _encoder_from(cfg)


def llm_size(value: Any) -> LLMSize:
    """An ``LLMSize`` from a name, a config (dict or object) or a folder."""
    if isinstance(value, LLMSize):
        return value
    if isinstance(value, str) and not _is_folder(value):
        return _named(value, LLMS, "language model")
    cfg = _config(value)
    text = _as_dict(cfg.get("text_config") or cfg.get("llm_config"))
    return _llm_from(text or cfg)


def _named(name: str, table: dict, what: str):
    key = ALIASES.get(name.lower(), name.lower())
    if key not in table:
        raise SpecError(f"unknown {what} size {name!r}; known: {', '.join(table)} (or pass a config or a folder)")
    return table[key]


def _is_folder(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike)) and Path(value).is_dir()


def _config(value: Any) -> dict:
    if isinstance(value, (str, os.PathLike)):
        path = Path(value) / "config.json"
        if not path.is_file():
            raise SpecError(f"{value}: no config.json to read a model size from")
        return json.loads(path.read_text())
    cfg = _as_dict(value)
    if cfg is None:
        raise SpecError(f"a model size is a name, a config dict or object, or a folder; got {type(value).__name__}")
    return cfg


def _as_dict(value: Any) -> dict | None:
    if value is None or isinstance(value, dict):
        return value
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return None


def _side(v: Any) -> int:
    return int(v[0] if isinstance(v, (list, tuple)) else v)


def _need(cfg: dict, *keys: str) -> int:
    for k in keys:
        if cfg.get(k) is not None:
            return int(cfg[k])
    raise SpecError(f"config has none of {', '.join(keys)} (model_type {cfg.get('model_type')!r})")


def _encoder_from(cfg: dict) -> EncoderSize:
    kind = str(cfg.get("model_type", ""))
    patch = _side(cfg.get("patch_size", 14))
    if "embed_dim" in cfg or kind.startswith("qwen2_vl"):  # Qwen2-VL: embed_dim wide, hidden_size is the merger's output
        width = _need(cfg, "embed_dim")
        return EncoderSize(kind or "qwen2-vl", width, int(width * cfg.get("mlp_ratio", 4)), _need(cfg, "depth"),
                           _need(cfg, "num_heads"), patch, int(cfg.get("in_channels", 3)),
                           temporal_patch=_side(cfg.get("temporal_patch_size", 2)),
                           merge=int(cfg.get("spatial_merge_size", 2)), merger_out=_need(cfg, "hidden_size"))
    if "window_size" in cfg or "fullatt_block_indexes" in cfg:  # Qwen2.5-VL
        return EncoderSize(kind or "qwen2.5-vl", _need(cfg, "hidden_size"), _need(cfg, "intermediate_size"),
                           _need(cfg, "depth", "num_hidden_layers"), _need(cfg, "num_heads", "num_attention_heads"),
                           patch, int(cfg.get("in_channels", 3)), gated=True,
                           temporal_patch=_side(cfg.get("temporal_patch_size", 2)),
                           merge=int(cfg.get("spatial_merge_size", 2)),
                           merger_out=_need(cfg, "out_hidden_size", "hidden_size"),
                           window=int(cfg.get("window_size", 0)),
                           full_layers=tuple(cfg.get("fullatt_block_indexes", ())))
    cls = 1 if kind.startswith(("clip", "intern")) else 0
    return EncoderSize(kind or "vit", _need(cfg, "hidden_size"), _need(cfg, "intermediate_size"),
                       _need(cfg, "num_hidden_layers", "depth"), _need(cfg, "num_attention_heads", "num_heads"),
                       patch, int(cfg.get("num_channels", 3)), cls=cls)


def _llm_from(cfg: dict) -> LLMSize:
    heads = _need(cfg, "num_attention_heads", "n_head")
    return LLMSize(
        str(cfg.get("model_type", "llm")),
        _need(cfg, "hidden_size", "n_embd"),
        _need(cfg, "intermediate_size", "ffn_dim", "n_inner"),
        _need(cfg, "num_hidden_layers", "n_layer"),
        heads,
        int(cfg.get("num_key_value_heads") or heads),
        int(cfg.get("head_dim") or 0),
        gated=str(cfg.get("model_type", "")) not in _UNGATED,
    )


def with_layers(size: EncoderSize, layers: int) -> EncoderSize:
    """The tower cut at ``layers`` (LLaVA reads the penultimate layer: ``layers - 1``)."""
    return replace(size, layers=layers, full_layers=tuple(i for i in size.full_layers if i < layers))

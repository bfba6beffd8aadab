"""The vision tower each preset's encoder GFLOPs are counted with, for the benchmark.

A preset with a default tower in ``anyres.plan.sizes.PRESET_MODELS`` uses it
(``plan.cost(encoder="auto")``). For the other families this table gives the tower of
the checkpoint the preset follows, as its ``config.json`` describes it (width, MLP
width, layers, heads, patch; a SwiGLU MLP where the model has one). A preset whose
tower anyres does not know (GPT-4V's is not public; a few new families) gets ``None``
and no GFLOPs: the reports say so rather than guess.
"""

from __future__ import annotations

from typing import Any

from ..plan.sizes import ENCODERS, PRESET_MODELS, EncoderSize

_SO400M_14 = ENCODERS["siglip-so400m/384"]  # SigLIP so400m/14: 1152 wide, 4304 MLP, 27 layers, 16 heads
_SIGLIP_L_16 = EncoderSize("siglip-l/16", 1024, 4096, 24, 16, 16)

TOWERS: dict[str, EncoderSize | None] = {
    "dynamic": ENCODERS["clip-l/336"],  # generic bucketing over a ViT-L/14
    "budget": ENCODERS["qwen2-vl-vit"],  # native ViT/14 views with a 2x2 merge, Qwen2-VL's tower
    "gpt4v": None,  # not public
    "qwen3-vl": EncoderSize("qwen3-vl-vit", 1152, 4304, 27, 16, 16, temporal_patch=2, merge=2, merger_out=4096),
    "glm4v": EncoderSize("glm4v-vit", 1536, 4096, 24, 12, 14, gated=True, temporal_patch=2, merge=2,
                         merger_out=4096),  # GLM-4.1V: the MLP is out_hidden_size wide, gated
    "paddleocr-vl": EncoderSize("paddleocr-vl-vit", 1152, 4304, 27, 16, 14, merge=2),
    "gemma3": _SO400M_14,  # at 896 px
    "pixtral": EncoderSize("pixtral-vit", 1024, 4096, 24, 16, 16, gated=True),
    "mistral3": EncoderSize("mistral3-vit", 1024, 4096, 24, 16, 14, gated=True),  # Mistral Small 3.1
    "mllama": EncoderSize("mllama-vit", 1280, 5120, 40, 16, 14, cls=1),  # 32 local + 8 global layers
    "llama4": EncoderSize("llama4-vit", 1408, 5632, 34, 16, 14, cls=1),
    "gemma4": None,
    "smolvlm": _SO400M_14,  # SmolVLM2-2.2B
    "idefics2": _SO400M_14,
    "siglip2": EncoderSize("siglip2-so400m/16", 1152, 4304, 27, 16, 16),
    "internvl3.5": ENCODERS["internvit-300m"],
    "aria": _SO400M_14,
    "ovis2": EncoderSize("aimv2-large/14", 1024, 2816, 24, 8, 14, gated=True),
    "minicpm-v-4.6": None,
    "hunyuan-vl": None,
    "deepseek-ocr2": None,  # SAM + a language-model encoder: not a plain ViT
    "deepseek-vl": _SIGLIP_L_16,
    "janus": _SIGLIP_L_16,
}


def tower_of(preset: str) -> Any:
    """The encoder size ``plan.cost`` takes for ``preset`` (a name or an ``EncoderSize``),
    or None when anyres does not know the preset's tower."""
    if preset in PRESET_MODELS:
        return PRESET_MODELS[preset][0]
    return TOWERS.get(preset)


def tower_name(preset: str) -> str | None:
    tower = tower_of(preset)
    return tower if isinstance(tower, str) or tower is None else tower.name


def encoder_gflops(plan: Any) -> float | None:
    """Encoder GFLOPs of ``plan`` through its preset's tower (None: tower unknown)."""
    tower = tower_of(plan.preset)
    if tower is None:
        return None
    return round(plan.cost(encoder=tower).encoder_flops.total / 1e9, 2)

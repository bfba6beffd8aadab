"""``load_encoder``: a transformers model folder -> one of our vision encoders.

Accepted folders (``config.json`` + safetensors, single file or sharded):

- a vision tower alone: ``CLIPVisionModel``, ``SiglipVisionModel``,
  ``Qwen2VisionTransformerPretrainedModel``, ``Qwen2_5_VisionTransformerPretrainedModel``, ``Qwen3VLVisionModel``;
- a dual encoder: ``CLIPModel``, ``SiglipModel`` (the text tower is not read);
- any VLM whose config holds a ``vision_config`` of those families (LLaVA, LLaVA-NeXT,
  LLaVA-OneVision, Qwen2-VL, Qwen2.5-VL, Qwen3-VL, ...): only the vision tower's weights are read, wherever
  the checkpoint put them (see ``checkpoint.find_prefix``).

Steps: config -> family and tower config -> the tower's weights under their prefix ->
the family's pure state-dict conversion -> a strict load that names every missing,
unexpected or mis-shaped key.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import torch

from ..errors import CheckpointError
from .base import VisionEncoder
from .checkpoint import Checkpoint, find_prefix, model_folder, read_config
from .clip import ClipEncoder, ViTConfig, clip_state_dict
from .layers import ACTIVATIONS
from .qwen2_5_vl import Qwen2_5VLEncoder, qwen2_5_vl_config
from .qwen2_vl import Qwen2VLConfig, Qwen2VLEncoder, qwen2_vl_state_dict
from .qwen3_vl import Qwen3VLEncoder, qwen3_vl_config

# model_type of a tower config -> family
TOWER_TYPES = {
    "clip_vision_model": "clip",
    "siglip_vision_model": "siglip",
    "qwen2_vl_vision": "qwen2_vl",
    "qwen2_5_vl_vision": "qwen2_5_vl",
    "qwen3_vl_vision": "qwen3_vl",
    "qwen3_vl_moe_vision": "qwen3_vl",  # the same tower (transformers subclasses it unchanged)
}
# model_type of a parent config whose vision_config omits model_type -> the tower's model_type
PARENT_DEFAULTS = {
    "clip": "clip_vision_model",
    "llava": "clip_vision_model",
    "llava_next": "clip_vision_model",
    "llava_onevision": "siglip_vision_model",
    "siglip": "siglip_vision_model",
    "qwen2_vl": "qwen2_vl_vision",
    "qwen2_5_vl": "qwen2_5_vl_vision",
    "qwen3_vl": "qwen3_vl_vision",
    "qwen3_vl_moe": "qwen3_vl_moe_vision",
}
# The key every tower of a family has, to find where its weights sit.
ANCHORS = {"clip": "embeddings.patch_embedding.weight", "siglip": "embeddings.patch_embedding.weight",
           "qwen2_vl": "patch_embed.proj.weight", "qwen2_5_vl": "patch_embed.proj.weight",
           "qwen3_vl": "patch_embed.proj.weight"}  # fmt: skip
# Feature layer when neither the caller nor the checkpoint says: LLaVA's penultimate layer for
# CLIP/SigLIP; Qwen2-VL's merger was trained on the last block.
DEFAULT_FEATURE_LAYER = {"clip": -2, "siglip": -2, "qwen2_vl": -1, "qwen2_5_vl": -1, "qwen3_vl": -1}
# Families whose module reads its own config: family -> (config reader, encoder class); all
# Qwen towers share the Qwen2-VL state-dict conversion.
QWEN_TOWERS = {"qwen2_5_vl": (qwen2_5_vl_config, Qwen2_5VLEncoder), "qwen3_vl": (qwen3_vl_config, Qwen3VLEncoder)}


def vision_section(config: dict, folder: Path) -> tuple[str, dict, object]:
    """(family, tower config, the parent's ``vision_feature_layer`` or None)."""
    model_type = config.get("model_type")
    if model_type in TOWER_TYPES:
        return TOWER_TYPES[model_type], config, None
    vision = config.get("vision_config")
    if isinstance(vision, dict):
        tower_type = vision.get("model_type") or PARENT_DEFAULTS.get(model_type)
        if tower_type == "qwen2_vl":  # early Qwen2-VL checkpoints label the tower like the VLM
            tower_type = "qwen2_vl_vision"
        if tower_type in TOWER_TYPES:
            return TOWER_TYPES[tower_type], vision, config.get("vision_feature_layer")
        raise CheckpointError(
            f"{folder}: unknown vision tower model_type {tower_type!r} in vision_config of {model_type!r} "
            f"(supported: {', '.join(TOWER_TYPES)})"
        )
    raise CheckpointError(
        f"{folder}: unknown model_type {model_type!r} and no vision_config "
        f"(supported towers: {', '.join(TOWER_TYPES)}, or a VLM config holding one)"
    )


def _int(cfg: dict, folder: Path, *names: str, default: int | None = None) -> int:
    for name in names:
        if name in cfg:
            value = cfg[name]
            if isinstance(value, (list, tuple)) and len(set(value)) == 1:
                value = value[0]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise CheckpointError(f"{folder}: config field {name}={value!r} must be a positive integer")
            return value
    if default is None:
        raise CheckpointError(f"{folder}: config lacks {names[0]}")
    return default


def _float(cfg: dict, folder: Path, name: str, default: float) -> float:
    value = cfg.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CheckpointError(f"{folder}: config {name}={value!r} is not a number")
    return float(value)


def _act(cfg: dict, folder: Path, default: str) -> str:
    act = cfg.get("hidden_act", default)
    if act not in ACTIVATIONS:
        raise CheckpointError(f"{folder}: unsupported hidden_act {act!r} (supported: {', '.join(ACTIVATIONS)})")
    return act


def vit_config(family: str, cfg: dict, folder: Path) -> ViTConfig:
    """CLIPVisionConfig / SiglipVisionConfig fields, with transformers 5.23's defaults."""
    clip = family == "clip"
    return ViTConfig(
        family=family,
        hidden_size=_int(cfg, folder, "hidden_size", default=768),
        intermediate_size=_int(cfg, folder, "intermediate_size", default=3072),
        num_layers=_int(cfg, folder, "num_hidden_layers", default=12),
        num_heads=_int(cfg, folder, "num_attention_heads", default=12),
        image_size=_int(cfg, folder, "image_size", default=224),
        patch_size=_int(cfg, folder, "patch_size", default=32 if clip else 16),
        num_channels=_int(cfg, folder, "num_channels", default=3),
        act=_act(cfg, folder, "quick_gelu" if clip else "gelu_pytorch_tanh"),
        eps=float(cfg.get("layer_norm_eps", 1e-5 if clip else 1e-6)),
    )


def qwen2_vl_config(cfg: dict, folder: Path) -> Qwen2VLConfig:
    """Qwen2VLVisionConfig fields, with transformers 5.23's defaults."""
    rope = cfg.get("rope_parameters") or {}
    return Qwen2VLConfig(
        embed_dim=_int(cfg, folder, "embed_dim", default=1280),
        hidden_size=_int(cfg, folder, "hidden_size", default=3584),
        num_layers=_int(cfg, folder, "depth", "num_hidden_layers", default=32),
        num_heads=_int(cfg, folder, "num_heads", "num_attention_heads", default=16),
        mlp_ratio=_float(cfg, folder, "mlp_ratio", 4.0),
        patch_size=_int(cfg, folder, "patch_size", "spatial_patch_size", default=14),
        temporal_patch_size=_int(cfg, folder, "temporal_patch_size", default=2),
        merge_size=_int(cfg, folder, "spatial_merge_size", default=2),
        num_channels=_int(cfg, folder, "in_channels", "in_chans", default=3),
        act=_act(cfg, folder, "quick_gelu"),
        rope_theta=float(rope.get("rope_theta", cfg.get("rope_theta", 10000.0))),
    )


def resolve_feature_layer(requested: int | None, hint: object, family: str, num_layers: int, folder: Path) -> int:
    """Index into the num_layers + 1 hidden states, as a non-negative layer count."""
    layer = requested
    if layer is None:
        layer = hint if isinstance(hint, int) and not isinstance(hint, bool) else DEFAULT_FEATURE_LAYER[family]
    if isinstance(layer, bool) or not isinstance(layer, int) or not -(num_layers + 1) <= layer <= num_layers:
        raise CheckpointError(
            f"{folder}: feature_layer={layer!r} is outside the {num_layers + 1} hidden states of this "
            f"{num_layers}-layer tower (valid: {-(num_layers + 1)}..{num_layers})"
        )
    return layer % (num_layers + 1)


def _listing(keys, limit: int = 12) -> str:
    keys = sorted(keys)
    more = f" ... ({len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def load_state(model: torch.nn.Module, state: dict[str, torch.Tensor], folder: Path, dtype: torch.dtype) -> None:
    """Strict load; every disagreement becomes one ``CheckpointError`` naming the keys."""
    expected = {k: v.shape for k, v in model.state_dict().items()}
    problems = []
    missing, unexpected = expected.keys() - state.keys(), state.keys() - expected.keys()
    if missing:
        problems.append(f"missing weights: {_listing(missing)}")
    if unexpected:
        problems.append(f"unexpected weights: {_listing(unexpected)}")
    wrong = [
        f"{k} {tuple(state[k].shape)} (config implies {tuple(shape)})"
        for k, shape in expected.items()
        if k in state and state[k].shape != shape
    ]
    if wrong:
        problems.append(f"shapes that disagree with config.json: {_listing(wrong)}")
    if problems:
        raise CheckpointError(f"{folder}: " + "; ".join(problems))
    state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    model.load_state_dict(state, strict=True, assign=True)


def _drop_deeper_blocks(state: dict, depth: int, total: int) -> dict:
    """Blocks past the feature layer exist in the checkpoint but are never run."""
    pattern = re.compile(r"^blocks\.(\d+)\.")

    def used(key: str) -> bool:
        m = pattern.match(key)
        return m is None or not depth <= int(m.group(1)) < total

    return {k: v for k, v in state.items() if used(k)}


def load_encoder(
    path: str | Path,
    *,
    feature_layer: int | None = None,
    dtype: torch.dtype = torch.float32,
    allow_pickle: bool = False,
    pos_antialias: bool = False,
) -> VisionEncoder:
    """Load the vision encoder of a transformers model folder, in eval mode.

    ``feature_layer`` indexes transformers' ``hidden_states`` (-1 = last layer output,
    -2 = penultimate, 0 = embeddings). ``None`` takes the folder's ``vision_feature_layer``
    when a VLM config has an integer one, else -2 for CLIP/SigLIP (LLaVA's choice) and
    -1 for Qwen2-VL (its merger is trained on the last block). Layers past it are not
    loaded. ``pos_antialias=True`` antialiases position embeddings when a grid shrinks
    (off by default: transformers does not). Raises ``CheckpointError``.
    """
    folder = model_folder(path)
    family, tower_cfg, hint = vision_section(read_config(folder), folder)
    qwen = QWEN_TOWERS.get(family, (qwen2_vl_config, Qwen2VLEncoder) if family == "qwen2_vl" else None)
    cfg = qwen[0](tower_cfg, folder) if qwen else vit_config(family, tower_cfg, folder)
    depth = resolve_feature_layer(feature_layer, hint, family, cfg.num_layers, folder)
    checkpoint = Checkpoint(folder, allow_pickle=allow_pickle)
    prefix = find_prefix(checkpoint.keys, ANCHORS[family], folder, f"{family} vision tower")
    names = [k for k in checkpoint.keys if k.startswith(prefix)]
    weights = {k[len(prefix) :]: v for k, v in checkpoint.load(names).items()}
    convert: Callable[[dict], dict] = qwen2_vl_state_dict if qwen else clip_state_dict
    state = _drop_deeper_blocks(convert(weights), depth, cfg.num_layers)
    with torch.device("meta"):
        if qwen:
            model: VisionEncoder = qwen[1](cfg, depth)
        else:
            model = ClipEncoder(cfg, depth, pos_antialias=pos_antialias)
    load_state(model, state, folder, dtype)
    return model.eval()

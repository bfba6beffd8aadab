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

from ..errors import CheckpointError, SpecError
from .base import VisionEncoder
from .checkpoint import Checkpoint, find_prefix, model_folder, read_config
from .clip import ClipEncoder, ViTConfig, clip_state_dict
from .config import (
    DEFAULT_LIMITS,
    ConfigLimits,
    FieldReader,
    check_heads,
    check_parameters,
    check_rope_heads,
    model_type_of,
    rope_theta,
)
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
    model_type = model_type_of(config, folder)
    if model_type in TOWER_TYPES:
        return TOWER_TYPES[model_type], config, None
    vision = config.get("vision_config")
    if isinstance(vision, dict):
        tower_type = model_type_of(vision, folder, "vision_config") or PARENT_DEFAULTS.get(model_type)
        if tower_type == "qwen2_vl":  # early Qwen2-VL checkpoints label the tower like the VLM
            tower_type = "qwen2_vl_vision"
        if tower_type in TOWER_TYPES:
            return TOWER_TYPES[tower_type], vision, config.get("vision_feature_layer")
        raise CheckpointError(
            f"{folder}: unknown vision tower model_type {tower_type!r} in vision_config of {model_type!r} "
            f"(supported: {', '.join(TOWER_TYPES)})"
        )
    if vision is not None:
        raise CheckpointError(f"{folder}: config field vision_config holds a {type(vision).__name__}, not an object")
    raise CheckpointError(
        f"{folder}: unknown model_type {model_type!r} and no vision_config "
        f"(supported towers: {', '.join(TOWER_TYPES)}, or a VLM config holding one)"
    )


def vit_config(family: str, cfg: dict, folder: Path, limits: ConfigLimits = DEFAULT_LIMITS) -> ViTConfig:
    """CLIPVisionConfig / SiglipVisionConfig fields, with transformers 5.23's defaults,
    checked (``config.py``) before anything is built from them."""
    clip = family == "clip"
    read = FieldReader(cfg, folder, limits)
    width = read.integer("hidden_size", default=768, limit=limits.hidden_size)
    heads = read.integer("num_attention_heads", default=12, limit=limits.num_heads)
    check_heads(read, "hidden_size", width, "num_attention_heads", heads)
    cfg_out = ViTConfig(
        family=family,
        hidden_size=width,
        intermediate_size=read.integer("intermediate_size", default=3072, limit=limits.intermediate_size),
        num_layers=read.integer("num_hidden_layers", default=12, limit=limits.num_layers),
        num_heads=heads,
        image_size=read.integer("image_size", default=224, limit=limits.image_size),
        patch_size=read.integer("patch_size", default=32 if clip else 16, limit=limits.patch_size),
        num_channels=read.integer("num_channels", default=3, limit=limits.num_channels),
        act=read.choice("hidden_act", "quick_gelu" if clip else "gelu_pytorch_tanh", ACTIVATIONS),
        eps=read.number("layer_norm_eps", 1e-5 if clip else 1e-6, 0.0, 1.0),
    )
    c = cfg_out
    if c.patch_size > c.image_size:
        raise CheckpointError(
            f"{folder}: config image_size={c.image_size} is smaller than patch_size={c.patch_size} "
            "(the trained grid must hold at least one patch)"
        )
    grid = (c.image_size // c.patch_size) ** 2
    block = 4 * width * width + 2 * width * c.intermediate_size
    check_parameters(read, c.num_layers * block + (grid + 1) * width + c.num_channels * c.patch_size**2 * width)
    return cfg_out


def qwen2_vl_config(cfg: dict, folder: Path, limits: ConfigLimits = DEFAULT_LIMITS) -> Qwen2VLConfig:
    """Qwen2VLVisionConfig fields, with transformers 5.23's defaults, checked (``config.py``)."""
    read = FieldReader(cfg, folder, limits)
    embed = read.integer("embed_dim", default=1280, limit=limits.hidden_size)
    heads = read.integer("num_heads", "num_attention_heads", default=16, limit=limits.num_heads)
    check_rope_heads(read, "embed_dim", embed, "num_heads", heads)
    mlp_ratio = read.number("mlp_ratio", 4.0, 0.0, limits.mlp_ratio)
    if not 1 <= int(embed * mlp_ratio) <= limits.intermediate_size:
        raise CheckpointError(
            f"{folder}: config embed_dim={embed} x mlp_ratio={mlp_ratio} gives an MLP of width "
            f"{int(embed * mlp_ratio)}, outside 1..{limits.intermediate_size}"
        )
    out = Qwen2VLConfig(
        embed_dim=embed,
        hidden_size=read.integer("hidden_size", default=3584, limit=limits.hidden_size),
        num_layers=read.integer("depth", "num_hidden_layers", default=32, limit=limits.num_layers),
        num_heads=heads,
        mlp_ratio=mlp_ratio,
        patch_size=read.integer("patch_size", "spatial_patch_size", default=14, limit=limits.patch_size),
        temporal_patch_size=read.integer("temporal_patch_size", default=2, limit=limits.temporal_patch_size),
        merge_size=read.integer("spatial_merge_size", default=2, limit=limits.merge_size),
        num_channels=read.integer("in_channels", "in_chans", default=3, limit=limits.num_channels),
        act=read.choice("hidden_act", "quick_gelu", ACTIVATIONS),
        rope_theta=rope_theta(read),
    )
    merged = embed * out.merge_size**2
    block = 4 * embed * embed + 2 * embed * int(embed * mlp_ratio)
    patch_in = out.num_channels * out.temporal_patch_size * out.patch_size**2
    check_parameters(read, out.num_layers * block + merged * merged + merged * out.hidden_size + patch_in * embed)
    return out


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
    kinds = [
        f"{k} ({state[k].dtype})"
        for k, v in model.state_dict().items()
        if k in state and v.is_floating_point() and not state[k].is_floating_point()
    ]
    if kinds:
        problems.append(f"integer or bool tensors where float weights are expected: {_listing(kinds)}")
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
    limits: ConfigLimits | None = None,
) -> VisionEncoder:
    """Load the vision encoder of a transformers model folder, in eval mode.

    ``feature_layer`` indexes transformers' ``hidden_states`` (-1 = last layer output,
    -2 = penultimate, 0 = embeddings). ``None`` takes the folder's ``vision_feature_layer``
    when a VLM config has an integer one, else -2 for CLIP/SigLIP (LLaVA's choice) and
    -1 for Qwen2-VL (its merger is trained on the last block). Layers past it are not
    loaded. ``pos_antialias=True`` antialiases position embeddings when a grid shrinks
    (off by default: transformers does not). ``limits`` bounds what ``config.json`` may ask
    for (``ConfigLimits``: layers, widths, sizes, parameters); the config is checked against
    it before any weight is read or module built. Raises ``CheckpointError``.
    """
    limits = DEFAULT_LIMITS if limits is None else limits
    if not isinstance(limits, ConfigLimits):
        raise SpecError(f"limits must be a ConfigLimits, got {type(limits).__name__}")
    folder = model_folder(path)
    family, tower_cfg, hint = vision_section(read_config(folder), folder)
    qwen = QWEN_TOWERS.get(family, (qwen2_vl_config, Qwen2VLEncoder) if family == "qwen2_vl" else None)
    cfg = qwen[0](tower_cfg, folder, limits) if qwen else vit_config(family, tower_cfg, folder, limits)
    depth = resolve_feature_layer(feature_layer, hint, family, cfg.num_layers, folder)
    checkpoint = Checkpoint(folder, allow_pickle=allow_pickle)
    prefix = find_prefix(checkpoint.keys, ANCHORS[family], folder, f"{family} vision tower")
    names = [k for k in checkpoint.keys if k.startswith(prefix)]
    weights = {k[len(prefix) :]: v for k, v in checkpoint.load(names).items()}
    not_tensors = [k for k, v in weights.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise CheckpointError(f"{folder}: entries that are not tensors: {_listing(prefix + k for k in not_tensors)}")
    convert: Callable[[dict], dict] = qwen2_vl_state_dict if qwen else clip_state_dict
    try:
        converted = convert(weights)
    except (RuntimeError, IndexError, ValueError) as exc:  # q/k/v or patch weights that cannot be fused
        raise CheckpointError(f"{folder}: {family} tower weights of inconsistent shapes ({exc})") from None
    state = _drop_deeper_blocks(converted, depth, cfg.num_layers)
    with torch.device("meta"):
        if qwen:
            model: VisionEncoder = qwen[1](cfg, depth)
        else:
            model = ClipEncoder(cfg, depth, pos_antialias=pos_antialias)
    load_state(model, state, folder, dtype)
    return model.eval()

"""``load_encoder``: a transformers model folder -> one of our vision encoders.

Accepted folders (``config.json`` + safetensors, single file or sharded):

- a vision tower alone: ``CLIPVisionModel``, ``SiglipVisionModel``,
  ``Qwen2VisionTransformerPretrainedModel``, ``Qwen2_5_VisionTransformerPretrainedModel``, ``Qwen3VLVisionModel``,
  ``Idefics3VisionTransformer``, ``SmolVLMVisionTransformer``, ``Siglip2VisionModel``, ``InternVLVisionModel``, ``PixtralVisionModel``;
- a dual encoder: ``CLIPModel``, ``SiglipModel``, ``Siglip2Model`` (the text tower is not read);
- any VLM whose config holds a ``vision_config`` of those families (LLaVA, LLaVA-NeXT,
  LLaVA-OneVision, Qwen2-VL, Qwen2.5-VL, Qwen3-VL, Idefics3, SmolVLM, Gemma 3, InternVL, Pixtral-12B
  through LLaVA, Mistral 3, ...): only the vision tower's weights are read, wherever the checkpoint put
  them (see ``checkpoint.find_prefix``).

Steps: config -> family and tower config -> the tower's weights under their prefix ->
the family's pure state-dict conversion -> a strict load that names every missing,
unexpected or mis-shaped key.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from ..errors import CheckpointError, SpecError
from . import clip, idefics3, internvit, pixtral, qwen2_5_vl, qwen2_vl, qwen3_vl, siglip2  # noqa: F401  (each registers its tower family)
from .base import VisionEncoder
from .checkpoint import Checkpoint, find_prefix, model_folder, read_config
from .config import DEFAULT_LIMITS, ConfigLimits, model_type_of
from .towers import TOWERS, nested_aliases, parent_defaults, tower_types

FINAL_NORM = "final_norm."  # where a family's conversion puts the tower's final norm (towers.py)


def vision_section(config: dict, folder: Path) -> tuple[str, dict, object]:
    """(family, tower config, the parent's ``vision_feature_layer`` or None)."""
    model_type = model_type_of(config, folder)
    towers = tower_types()
    if model_type in towers:
        return towers[model_type], config, None
    vision = config.get("vision_config")
    if isinstance(vision, dict):
        tower_type = model_type_of(vision, folder, "vision_config") or parent_defaults().get(model_type)
        tower_type = nested_aliases().get(tower_type, tower_type)
        if tower_type in towers:
            return towers[tower_type], vision, config.get("vision_feature_layer")
        raise CheckpointError(
            f"{folder}: unknown vision tower model_type {tower_type!r} in vision_config of {model_type!r} "
            f"(supported: {', '.join(towers)})"
        )
    if vision is not None:
        raise CheckpointError(f"{folder}: config field vision_config holds a {type(vision).__name__}, not an object")
    raise CheckpointError(
        f"{folder}: unknown model_type {model_type!r} and no vision_config "
        f"(supported towers: {', '.join(towers)}, or a VLM config holding one)"
    )


def resolve_feature_layer(requested: int | None, hint: object, family: str, num_layers: int, folder: Path) -> int:
    """Index into the num_layers + 1 hidden states, as a non-negative layer count."""
    layer = requested
    if layer is None:
        layer = hint if isinstance(hint, int) and not isinstance(hint, bool) else TOWERS[family].feature_layer
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


def _drop_deeper_blocks(state: dict, depth: int, total: int, block_key: str) -> dict:
    """Blocks past the feature layer exist in the checkpoint but are never run."""
    pattern = re.compile(block_key)

    def used(key: str) -> bool:
        m = pattern.match(key)
        return m is None or not depth <= int(m.group(1)) < total

    return {k: v for k, v in state.items() if used(k)}


def _is_layer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def load_encoder(
    path: str | Path,
    *,
    feature_layer: int | None = None,
    dtype: torch.dtype = torch.float32,
    allow_pickle: bool = False,
    pos_antialias: bool = False,
    final_norm: bool | None = None,
    limits: ConfigLimits | None = None,
) -> VisionEncoder:
    """Load the vision encoder of a transformers model folder, in eval mode.

    ``feature_layer`` indexes transformers' ``hidden_states`` (-1 = last layer output,
    -2 = penultimate, 0 = embeddings). ``None`` takes the folder's ``vision_feature_layer``
    when a VLM config has an integer one, else the last layer for a VLM whose connector
    reads the tower's ``last_hidden_state`` (Gemma 3), else the family's default
    (``TowerFamily.feature_layer``): -2 for CLIP/SigLIP (LLaVA's choice), -1 for the Qwen
    towers (their merger is trained on the last block) and for Idefics3/SmolVLM and SigLIP2
    (their post-normed ``last_hidden_state``). Layers past it are not loaded.
    ``final_norm``: run the tower's final norm after the last layer (transformers'
    ``last_hidden_state``: SigLIP's ``post_layernorm``, InternViT's ``layernorm``); ``None``
    does so where the VLM's connector reads ``last_hidden_state`` (Gemma 3; InternVL at
    ``vision_feature_layer=-1``; the Idefics3 and SigLIP2 towers always do at their last
    layer). ``pos_antialias=True`` antialiases position embeddings when a grid shrinks (off
    by default: transformers does not). ``limits`` bounds what ``config.json`` may ask for
    (``ConfigLimits``: layers, widths, sizes, parameters); the config is checked against it
    before any weight is read or module built. Raises ``CheckpointError`` (``SpecError`` for
    a ``final_norm`` that is not a bool or None, or True below the last layer).
    """
    limits = DEFAULT_LIMITS if limits is None else limits
    if not isinstance(limits, ConfigLimits):
        raise SpecError(f"limits must be a ConfigLimits, got {type(limits).__name__}")
    if final_norm is not None and not isinstance(final_norm, bool):
        raise SpecError(f"final_norm must be True, False or None, got {final_norm!r}")
    folder = model_folder(path)
    config = read_config(folder)
    family, tower_cfg, hint = vision_section(config, folder)
    tower = TOWERS[family]
    reads_last_state = tower_cfg is not config and model_type_of(config, folder) in tower.last_state_parents
    if reads_last_state and not _is_layer(hint):
        hint = -1  # Gemma 3 has no vision_feature_layer: its connector reads last_hidden_state
    cfg = tower.read_config(tower_cfg, folder, limits)
    depth = resolve_feature_layer(feature_layer, hint, family, cfg.num_layers, folder)
    requested = feature_layer if feature_layer is not None else (hint if _is_layer(hint) else tower.feature_layer)
    if final_norm is None:
        final_norm = reads_last_state and requested == -1
    elif final_norm and depth != cfg.num_layers:
        raise SpecError(
            f"final_norm=True runs the tower's final norm after its last layer; feature_layer={requested} "
            f"stops at layer {depth} of {cfg.num_layers}"
        )
    checkpoint = Checkpoint(folder, allow_pickle=allow_pickle)
    prefix = find_prefix(checkpoint.keys, tower.anchor, folder, f"{family} vision tower")
    names = [k for k in checkpoint.keys if k.startswith(prefix)]
    weights = {k[len(prefix) :]: v for k, v in checkpoint.load(names).items()}
    not_tensors = [k for k, v in weights.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise CheckpointError(f"{folder}: entries that are not tensors: {_listing(prefix + k for k in not_tensors)}")
    try:
        converted = tower.convert(weights)
    except (RuntimeError, IndexError, ValueError) as exc:  # q/k/v or patch weights that cannot be fused
        raise CheckpointError(f"{folder}: {family} tower weights of inconsistent shapes ({exc})") from None
    state = _drop_deeper_blocks(converted, depth, cfg.num_layers, tower.block_key)
    with torch.device("meta"):
        model: VisionEncoder = tower.build(cfg, depth, {"pos_antialias": pos_antialias, "final_norm": final_norm})
    if not any(k.startswith(FINAL_NORM) for k in model.state_dict()):  # built without it: its weights stay unread
        state = {k: v for k, v in state.items() if not k.startswith(FINAL_NORM)}
    load_state(model, state, folder, dtype)
    return model.eval()

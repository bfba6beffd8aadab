"""The tower families ``load_encoder`` knows: one ``TowerFamily`` record a family,
registered by the family's own module (``register_tower`` at its end).

A record says everything loading needs:

- which ``model_type`` values name the tower (``model_types``), and which parent
  (VLM) model types imply it when their ``vision_config`` omits ``model_type``
  (``parents``);
- ``anchor``: a weight key every tower of the family has, to find where the
  checkpoint put the tower (``checkpoint.find_prefix``);
- ``feature_layer``: the layer whose output the family's connector was trained on,
  when neither the caller nor the checkpoint says;
- ``read_config(tower_config, folder, limits)``: the checked config (it has
  ``num_layers``), before anything is allocated;
- ``convert(weights)``: the pure state-dict conversion from transformers' names;
- ``build(config, depth, options)``: the module (on the meta device; weights are
  assigned afterwards). ``options`` holds ``pos_antialias`` and ``final_norm``;
- ``last_state_parents``: the parent (VLM) model types whose connector reads
  transformers' ``last_hidden_state`` -- the last layer's output through the tower's
  final norm (SigLIP's ``post_layernorm``, InternViT's ``layernorm``) -- instead of
  one of the ``hidden_states``: for them the feature layer defaults to the last, and
  at -1 the final norm runs. The converted state dict holds that norm under
  ``final_norm.*``; a tower built without it leaves those keys unread.

Adding a tower is one module that defines these and calls ``register_tower``, and one
import line in ``load.py``; nothing else switches on the family's name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TowerFamily:
    name: str
    model_types: tuple[str, ...]
    anchor: str
    feature_layer: int
    read_config: Callable[..., Any]
    convert: Callable[[dict], dict]
    build: Callable[[Any, int, Mapping[str, Any]], Any]
    parents: tuple[str, ...] = ()
    # model_type values that name this tower only inside a parent's vision_config (early
    # Qwen2-VL checkpoints label their tower like the VLM)
    nested_aliases: tuple[str, ...] = ()
    # a pattern whose group 1 is a block index, for dropping blocks past the feature layer
    block_key: str = r"^blocks\.(\d+)\."
    last_state_parents: tuple[str, ...] = ()


TOWERS: dict[str, TowerFamily] = {}


def register_tower(family: TowerFamily) -> TowerFamily:
    if family.name in TOWERS and TOWERS[family.name] != family:
        raise ValueError(f"tower family {family.name!r} is already registered")
    for other in TOWERS.values():
        clash = (set(other.model_types) & set(family.model_types)) if other.name != family.name else set()
        if clash:
            raise ValueError(f"model_type {sorted(clash)} already names tower family {other.name!r}")
    TOWERS[family.name] = family
    return family


def tower_types() -> dict[str, str]:
    """model_type of a tower config -> family name."""
    return {t: f.name for f in TOWERS.values() for t in f.model_types}


def nested_aliases() -> dict[str, str]:
    """model_type found inside a vision_config -> the tower's model_type."""
    return {a: f.model_types[0] for f in TOWERS.values() for a in f.nested_aliases}


def parent_defaults() -> dict[str, str]:
    """model_type of a parent config whose vision_config omits model_type -> the tower's model_type."""
    return {p: f.model_types[0] for f in TOWERS.values() for p in f.parents}

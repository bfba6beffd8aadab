"""Finding a module's weights inside a foreign state dict (transformers or original repos).

A state dict of a whole VLM holds the few tensors the token stage owns under names like
``model.multi_modal_projector.linear_1.weight`` or ``mlp1.1.weight``. ``find_module``
returns the tensors under the first matching module name, with that prefix removed.
A state dict that lacks a module, or holds tensors of the wrong names, shapes or kinds,
is a ``CheckpointError``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from ..errors import CheckpointError


def _strip(key: str, name: str) -> str | None:
    """The rest of ``key`` after a module path ``name`` that starts at a dotted boundary."""
    if key.startswith(name + "."):
        return key[len(name) + 1 :]
    marker = "." + name + "."
    at = key.find(marker)
    if at >= 0:
        return key[at + len(marker) :]
    return None


def find_module(state_dict: Mapping[str, torch.Tensor], names: Sequence[str]) -> tuple[str, dict[str, torch.Tensor]]:
    """(matched name, {sub key: tensor}) for the first of ``names`` present in the dict."""
    for name in names:
        found = {}
        for key, value in state_dict.items():
            rest = _strip(key, name)
            if rest is not None:
                found[rest] = value
        if found:
            return name, found
    raise CheckpointError(f"the state dict holds none of the modules {', '.join(names)}")


def find_tensor(state_dict: Mapping[str, torch.Tensor], name: str) -> torch.Tensor:
    """The one tensor whose key is ``name`` or ends with ``.name``."""
    hits = [v for k, v in state_dict.items() if k == name or k.endswith("." + name)]
    if len(hits) != 1:
        raise CheckpointError(f"expected exactly one tensor named {name!r} in the state dict, found {len(hits)}")
    return hits[0]


def load_renamed(module: torch.nn.Module, tensors: Mapping[str, torch.Tensor], renames: Mapping[str, str] | None = None) -> None:
    """Load ``tensors`` (renamed by ``renames``: foreign name -> ours) strictly, checking shapes."""
    renames = renames or {}
    ours = {renames.get(k, k): v for k, v in tensors.items()}
    expected = module.state_dict()
    missing = sorted(set(expected) - set(ours))
    unexpected = sorted(set(ours) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{type(module).__name__}: weights do not match (missing {missing or 'none'}, unexpected {unexpected or 'none'})"
        )
    for k, v in ours.items():
        if not isinstance(v, torch.Tensor):
            raise CheckpointError(f"{type(module).__name__}.{k}: a {type(v).__name__}, not a tensor")
        if expected[k].is_floating_point() and not v.is_floating_point():
            raise CheckpointError(f"{type(module).__name__}.{k}: a {v.dtype} tensor where float weights are expected")
        if tuple(v.shape) != tuple(expected[k].shape):
            raise CheckpointError(
                f"{type(module).__name__}.{k}: weight of shape {tuple(v.shape)}, the module needs {tuple(expected[k].shape)}"
            )
    module.load_state_dict(ours, strict=True)

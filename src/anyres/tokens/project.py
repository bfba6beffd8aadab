"""Projectors from vision width to language-model width.

- ``LinearProjector``: one Linear (LLaVA-1 ``linear``; Idefics3's connector projection,
  ``bias=False``).
- ``MLPProjector``: Linear -> GELU -> Linear (LLaVA-1.5/NeXT ``mlp2x_gelu``; names as
  transformers' ``LlavaNextMultiModalProjector``: ``linear_1``, ``linear_2``); without
  biases ``mlp2x_gelu_nobias`` (Mistral 3's, after its patch merger).
- ``NormMLPProjector``: LayerNorm -> Linear -> GELU -> Linear (InternVL's ``mlp1``; names
  as transformers' ``InternVLMultiModalProjector``).
- a perceiver ``Resampler`` (``anyres.tokens.resampler``) is the projector of the
  slicing presets: it maps any number of features to a fixed number of tokens.

``load_projector(module, state_dict)`` finds the module's weights in a whole-model
state dict in transformers' or the original repositories' naming.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from ..errors import SpecError
from .weights import find_module, load_renamed


class LinearProjector(nn.Module):
    def __init__(self, in_width: int, out_width: int, bias: bool = True) -> None:
        super().__init__()
        self.proj = nn.Linear(in_width, out_width, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class MLPProjector(nn.Module):
    def __init__(self, in_width: int, out_width: int, hidden: int | None = None, bias: bool = True) -> None:
        super().__init__()
        hidden = hidden or out_width
        self.linear_1 = nn.Linear(in_width, hidden, bias=bias)
        self.act = nn.GELU()
        self.linear_2 = nn.Linear(hidden, out_width, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act(self.linear_1(x)))


class NormMLPProjector(nn.Module):
    def __init__(self, in_width: int, out_width: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.layer_norm = nn.LayerNorm(in_width, eps=eps)
        self.linear_1 = nn.Linear(in_width, out_width)
        self.act = nn.GELU()
        self.linear_2 = nn.Linear(out_width, out_width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act(self.linear_1(self.layer_norm(x))))


PROJECTORS = ("none", "linear", "linear_nobias", "mlp2x_gelu", "mlp2x_gelu_nobias", "norm_mlp")


def build_projector(kind: str, in_width: int, out_width: int) -> nn.Module | None:
    """A projector by name (``PROJECTORS``); ``"none"`` returns None (widths must agree)."""
    if kind == "none":
        if in_width != out_width:
            raise SpecError(f"no projector, but the widths differ ({in_width} -> {out_width})")
        return None
    if kind == "linear":
        return LinearProjector(in_width, out_width)
    if kind == "linear_nobias":  # Idefics3's modality projection
        return LinearProjector(in_width, out_width, bias=False)
    if kind == "mlp2x_gelu":
        return MLPProjector(in_width, out_width)
    if kind == "mlp2x_gelu_nobias":  # Mistral 3 (multimodal_projector_bias=False)
        return MLPProjector(in_width, out_width, bias=False)
    if kind == "norm_mlp":
        return NormMLPProjector(in_width, out_width)
    raise SpecError(f"unknown projector {kind!r}; known: {', '.join(PROJECTORS)}")


# Where each projector lives in foreign checkpoints, and how its keys map to ours.
_SEQ_MLP = {"0.weight": "linear_1.weight", "0.bias": "linear_1.bias", "2.weight": "linear_2.weight", "2.bias": "linear_2.bias"}
_SEQ_NORM_MLP = {
    "0.weight": "layer_norm.weight",
    "0.bias": "layer_norm.bias",
    "1.weight": "linear_1.weight",
    "1.bias": "linear_1.bias",
    "3.weight": "linear_2.weight",
    "3.bias": "linear_2.bias",
}
_SOURCES: dict[type, tuple[tuple[str, dict[str, str]], ...]] = {
    MLPProjector: (("multi_modal_projector", {}), ("mm_projector", _SEQ_MLP)),
    NormMLPProjector: (("multi_modal_projector", {}), ("mlp1", _SEQ_NORM_MLP)),
    LinearProjector: (
        ("connector.modality_projection", {}),
        ("multi_modal_projector", {"linear_1.weight": "proj.weight", "linear_1.bias": "proj.bias"}),
        ("mm_projector", {"weight": "proj.weight", "bias": "proj.bias"}),
    ),
}


def load_projector(module: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Load a projector's weights from a whole-model state dict (transformers names
    ``multi_modal_projector.*`` / ``connector.modality_projection.*``; original LLaVA
    ``mm_projector.{0,2}.*``; original InternVL ``mlp1.{0,1,3}.*``)."""
    sources = _SOURCES.get(type(module))
    if sources is None:
        raise SpecError(f"no known checkpoint layout for {type(module).__name__}")
    name, tensors = find_module(state_dict, [s[0] for s in sources])
    load_renamed(module, tensors, dict(sources)[name])

"""Projectors from vision width to language-model width.

- ``LinearProjector``: one Linear (LLaVA-1 ``linear``; Idefics3's connector projection,
  ``bias=False``).
- ``MLPProjector``: Linear -> GELU -> Linear (LLaVA-1.5/NeXT ``mlp2x_gelu``; names as
  transformers' ``LlavaNextMultiModalProjector``: ``linear_1``, ``linear_2``); without
  biases ``mlp2x_gelu_nobias`` (Mistral 3's, after its patch merger).
- ``NormMLPProjector``: LayerNorm -> Linear -> GELU -> Linear (InternVL's ``mlp1``; names
  as transformers' ``InternVLMultiModalProjector``).
- ``SoftEmbeddingProjector``: Gemma's RMSNorm (scaled by ``1 + weight``) -> a bias-free
  matmul (Gemma 3's soft-embedding norm and input projection; names as transformers'
  ``Gemma3MultiModalProjector``, whose average pooling is the connector's ``pool``).
- a perceiver ``Resampler`` (``anyres.tokens.resampler``) is the projector of the
  slicing presets: it maps any number of features to a fixed number of tokens.

``load_projector(module, state_dict)`` finds the module's weights in a whole-model
state dict in transformers' or the original repositories' naming. A projector with
settings of its own in the checkpoint's ``config.json`` (the norm's epsilon) reads them
in ``configure(config)``.
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

    def configure(self, config: Mapping, where: str = "config.json") -> None:
        """The activation: ``projector_hidden_act`` (LLaVA's and Mistral 3's configs, default
        exact GELU)."""
        self.act = configured_activation(config, where, self.act)


class NormMLPProjector(nn.Module):
    def __init__(self, in_width: int, out_width: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.layer_norm = nn.LayerNorm(in_width, eps=eps)
        self.linear_1 = nn.Linear(in_width, out_width)
        self.act = nn.GELU()
        self.linear_2 = nn.Linear(out_width, out_width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act(self.linear_1(self.layer_norm(x))))

    def configure(self, config: Mapping, where: str = "config.json") -> None:
        """The activation: ``projector_hidden_act`` (InternVLConfig's, default exact GELU;
        the original InternVL configs have none and use GELU)."""
        self.act = configured_activation(config, where, self.act)

def configured_activation(config: Mapping, where: str, default: nn.Module) -> nn.Module:
    """``projector_hidden_act`` of a checkpoint config as a module (``default`` when the
    config has none); a name anyres does not know is a ``CheckpointError``."""
    if "projector_hidden_act" not in config:
        return default
    from ..encode.config import DEFAULT_LIMITS, FieldReader
    from ..encode.layers import ACTIVATIONS

    act = FieldReader(config, where, DEFAULT_LIMITS).choice("projector_hidden_act", "gelu", ACTIVATIONS)
    return Activation(ACTIVATIONS[act][0], act)


class Activation(nn.Module):
    """A named activation function as a module (one read from a checkpoint config)."""

    def __init__(self, fn, name: str) -> None:
        super().__init__()
        self.fn, self.name = fn, name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)

    def extra_repr(self) -> str:
        return self.name


class GemmaRMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * (1 + weight), all in float32, cast back at the end
    (Gemma's order: the scale is applied before the cast, unlike Llama's RMSNorm)."""

    def __init__(self, width: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(width))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (xf * (1.0 + self.weight.float())).type_as(x)


class SoftEmbeddingProjector(nn.Module):
    """Gemma 3: ``GemmaRMSNorm`` then ``x @ mm_input_projection_weight`` (in, out), no bias."""

    def __init__(self, in_width: int, out_width: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.mm_soft_emb_norm = GemmaRMSNorm(in_width, eps=eps)
        self.mm_input_projection_weight = nn.Parameter(torch.randn(in_width, out_width) / in_width**0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.matmul(self.mm_soft_emb_norm(x), self.mm_input_projection_weight).type_as(x)

    def configure(self, config: Mapping, where: str = "config.json") -> None:
        """The norm's epsilon: the vision tower's ``layer_norm_eps`` (transformers builds
        the soft-embedding norm with it; SigLIP's default 1e-6). A bad value is a
        ``CheckpointError`` naming ``where`` and the field."""
        from ..encode.config import DEFAULT_LIMITS, FieldReader

        vision = config.get("vision_config") if isinstance(config.get("vision_config"), dict) else {}
        read = FieldReader(vision, where, DEFAULT_LIMITS, prefix="vision_config.")
        self.mm_soft_emb_norm.eps = read.number("layer_norm_eps", 1e-6, 0.0, 1.0)


PROJECTORS = ("none", "linear", "linear_nobias", "mlp2x_gelu", "mlp2x_gelu_nobias", "norm_mlp", "gemma_rms_linear")


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
    if kind == "gemma_rms_linear":  # Gemma 3's soft-embedding norm and projection
        return SoftEmbeddingProjector(in_width, out_width)
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
    SoftEmbeddingProjector: (("multi_modal_projector", {}),),
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

"""CLIP and SigLIP vision towers: one ViT with absolute position embeddings.

The two differ only in details, all driven by ``ViTConfig.family``:

=================  ======================  ===========================
                   CLIP                    SigLIP
=================  ======================  ===========================
CLS token          yes (first row)         no
pre-norm           ``pre_layrnorm``        none
patch conv bias    no                      yes
activation         quick_gelu              gelu (tanh approximation)
layer-norm eps     1e-5                    1e-6
=================  ======================  ===========================

``hidden_states[i]`` in transformers is the input of layer i (the embeddings, after
CLIP's pre-norm, for i = 0) or the output of layer i-1; the final ``post_layernorm``
never appears in it. The tower here holds only the layers up to the feature layer.
With ``final_norm`` (the last layer only) it ends with ``post_layernorm``: SigLIP's
``last_hidden_state``, what Gemma 3's projector reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError, ShapeError, SpecError
from .base import EncoderOutput, VisionEncoder, check_feature_layer, check_packed, grid_rows
from .config import DEFAULT_LIMITS, ConfigLimits, FieldReader, check_heads, check_parameters
from .layers import ACTIVATIONS, Block, run_blocks
from .posembed import native_grid, resample_abs_pos_embed
from .towers import TowerFamily, register_tower


@dataclass(frozen=True)
class ViTConfig:
    family: str  # "clip" or "siglip"
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    image_size: int
    patch_size: int
    num_channels: int = 3
    act: str = "quick_gelu"
    eps: float = 1e-5

    @property
    def has_cls(self) -> bool:
        return self.family == "clip"


class ClipEncoder(VisionEncoder):
    """CLIP or SigLIP vision tower truncated at ``feature_layer`` (see ``base.VisionEncoder``)."""

    def __init__(self, cfg: ViTConfig, feature_layer: int, *, pos_antialias: bool = False, final_norm: bool = False):
        super().__init__()
        check_feature_layer(feature_layer, cfg.num_layers)
        if final_norm and feature_layer != cfg.num_layers:
            raise SpecError(f"final_norm follows the last layer ({cfg.num_layers}), not layer {feature_layer}")
        d, p, c = cfg.hidden_size, cfg.patch_size, cfg.num_channels
        self.cfg = cfg
        self.family, self.patch_size, self.hidden_size, self.image_size = cfg.family, p, d, cfg.image_size
        self.has_cls, self.num_channels, self.feature_layer = cfg.has_cls, c, feature_layer
        self.num_prefix_tokens = int(cfg.has_cls)
        self.native_hw = native_grid((cfg.image_size // p) ** 2)
        # Whether position embeddings are antialiased when downsampled; False = transformers' numbers.
        self.pos_antialias = pos_antialias
        self.patch_embed = nn.Linear(c * p * p, d, bias=not cfg.has_cls)
        self.cls_token = nn.Parameter(torch.zeros(d)) if cfg.has_cls else None
        self.pos_embed = nn.Parameter(torch.zeros(self.num_prefix_tokens + (cfg.image_size // p) ** 2, d))
        self.pre_norm = nn.LayerNorm(d, eps=cfg.eps) if cfg.has_cls else None
        self.blocks = nn.ModuleList(
            Block(d, cfg.num_heads, cfg.intermediate_size, cfg.act, cfg.eps) for _ in range(feature_layer)
        )
        # transformers' post_layernorm, run after the last layer (last_hidden_state)
        self.final_norm = nn.LayerNorm(d, eps=cfg.eps) if final_norm else None

    def position_embedding(self, hw: tuple[int, int]) -> torch.Tensor:
        """(prefix + h*w, D) position embeddings for an h x w patch grid."""
        return resample_abs_pos_embed(
            self.pos_embed, hw, self.native_hw, self.num_prefix_tokens, antialias=self.pos_antialias
        )

    def forward_features(
        self, pixel_values: torch.Tensor, *, keep_cls: bool = False, output_attention: bool = False
    ) -> torch.Tensor | EncoderOutput:
        B, C, H, W = self.check_views(pixel_values, output_attention)
        p, d, P = self.patch_size, self.hidden_size, self.num_prefix_tokens
        weight = self.patch_embed.weight.view(d, C, p, p)
        x = F.conv2d(pixel_values.to(weight.dtype), weight, self.patch_embed.bias, stride=p)
        x = x.flatten(2).transpose(1, 2)  # (B, h*w, D)
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(B, 1, d), x], dim=1)
        x = x + self.position_embedding((H // p, W // p))
        if self.pre_norm is not None:
            x = self.pre_norm(x)
        x, probe = run_blocks(self.blocks, x, probe=output_attention)
        if self.final_norm is not None:
            x = self.final_norm(x)
        features = x if keep_cls else x[:, P:]
        assert features.shape == (B, self.tokens_per_view(H, W, keep_cls), d)  # invariant
        if output_attention:
            return EncoderOutput(features, probe.attention, probe.keys, P)
        return features

    def forward_packed(
        self, patches: torch.Tensor, grid_thw: torch.Tensor | list, *, keep_cls: bool = False
    ) -> torch.Tensor:
        rows = grid_rows(grid_thw)
        p, d, P = self.patch_size, self.hidden_size, self.num_prefix_tokens
        if any(t != 1 for t, _, _ in rows):
            raise ShapeError(f"{self.family} encodes still images: t must be 1 in every grid_thw row, got {rows}")
        check_packed(patches, rows, self.num_channels * p * p, self.family)
        x = self.patch_embed(patches.to(self.patch_embed.weight.dtype))
        pos_cache: dict[tuple[int, int], torch.Tensor] = {}
        pieces, lengths, start = [], [], 0
        for _, h, w in rows:
            if (h, w) not in pos_cache:
                pos_cache[h, w] = self.position_embedding((h, w))
            pos = pos_cache[h, w]
            if self.cls_token is not None:
                pieces.append((self.cls_token + pos[0]).unsqueeze(0))
            pieces.append(x[start : start + h * w] + pos[P:])
            lengths.append(P + h * w)
            start += h * w
        seq = torch.cat(pieces, dim=0).unsqueeze(0)
        if self.pre_norm is not None:
            seq = self.pre_norm(seq)
        seq, _ = run_blocks(self.blocks, seq, segments=tuple(lengths))
        if self.final_norm is not None:
            seq = self.final_norm(seq)
        seq = seq[0]
        if P and not keep_cls:
            keep = torch.ones(seq.shape[0], dtype=torch.bool, device=seq.device)
            starts = torch.tensor([0, *lengths[:-1]], device=seq.device).cumsum(0)
            keep[starts] = False
            seq = seq[keep]
        assert seq.shape == (sum(lengths) - (0 if keep_cls else P * len(rows)), d)  # invariant
        return seq


_LAYER = re.compile(r"^encoder\.layers\.(\d+)\.(.+)$")
_BLOCK_PARTS = {
    "layer_norm1": "norm1",
    "layer_norm2": "norm2",
    "self_attn.out_proj": "attn.proj",
    "mlp.fc1": "mlp.fc1",
    "mlp.fc2": "mlp.fc2",
}
# Keys of a transformers CLIP/SigLIP vision tower that feature extraction does not use.
IGNORED = re.compile(r"^(head\.|embeddings\.position_ids$)")


def clip_state_dict(hf: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A transformers CLIP/SigLIP vision-tower state dict (prefix removed) -> ``ClipEncoder``'s.

    q/k/v projections are fused into ``qkv`` (rows q, k, v); the patch conv becomes a
    linear layer over (C, p, p) vectors; ``post_layernorm`` becomes ``final_norm``
    (read only when the tower is built with it). The pooling head is dropped; keys this function does not know pass through unchanged, so a strict load
    reports them.
    """
    out: dict[str, torch.Tensor] = {}
    qkv: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    simple = {
        "embeddings.class_embedding": "cls_token",
        "embeddings.position_embedding.weight": "pos_embed",
        "embeddings.patch_embedding.bias": "patch_embed.bias",
        "pre_layrnorm.weight": "pre_norm.weight",
        "pre_layrnorm.bias": "pre_norm.bias",
        "post_layernorm.weight": "final_norm.weight",  # loaded only by a tower built with final_norm
        "post_layernorm.bias": "final_norm.bias",
    }
    for key, value in hf.items():
        if IGNORED.match(key):
            continue
        if key in simple:
            out[simple[key]] = value
            continue
        if key == "embeddings.patch_embedding.weight":
            out["patch_embed.weight"] = value.reshape(value.shape[0], -1)
            continue
        m = _LAYER.match(key)
        if m:
            i, rest = m.groups()
            part, _, kind = rest.rpartition(".")
            if part in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"):
                qkv.setdefault((i, kind), {})[part[len("self_attn.")]] = value
                continue
            if part in _BLOCK_PARTS:
                out[f"blocks.{i}.{_BLOCK_PARTS[part]}.{kind}"] = value
                continue
        out[key] = value
    for (i, kind), parts in qkv.items():
        if set(parts) == {"q", "k", "v"}:
            out[f"blocks.{i}.attn.qkv.{kind}"] = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0)
        else:  # incomplete: leave them under their own names so the load reports them
            out.update({f"encoder.layers.{i}.self_attn.{n}_proj.{kind}": t for n, t in parts.items()})
    return out


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
    check_vit_size(read, folder, cfg_out)
    return cfg_out


def check_vit_size(read: FieldReader, folder, c) -> None:
    """A ViT config's trained grid holds at least one patch, and its parameters (blocks,
    position table, patch embedding) are within the limits. ``c``: any config with
    hidden_size, intermediate_size, num_layers, image_size, patch_size, num_channels."""
    if c.patch_size > c.image_size:
        raise CheckpointError(
            f"{folder}: config image_size={c.image_size} is smaller than patch_size={c.patch_size} "
            "(the trained grid must hold at least one patch)"
        )
    width, grid = c.hidden_size, (c.image_size // c.patch_size) ** 2
    block = 4 * width * width + 2 * width * c.intermediate_size
    check_parameters(read, c.num_layers * block + (grid + 1) * width + c.num_channels * c.patch_size**2 * width)


def _build_vit(cfg: ViTConfig, depth: int, options) -> ClipEncoder:
    return ClipEncoder(cfg, depth, pos_antialias=bool(options.get("pos_antialias", False)),
                       final_norm=bool(options.get("final_norm", False)))


# LLaVA's penultimate layer is the default feature layer of both; Gemma 3's projector
# reads SigLIP's last_hidden_state (after post_layernorm).
for _family, _types, _parents, _last_state in (
    ("clip", ("clip_vision_model",), ("clip", "llava", "llava_next"), ()),
    ("siglip", ("siglip_vision_model",), ("siglip", "llava_onevision", "gemma3"), ("gemma3",)),
):
    register_tower(TowerFamily(
        name=_family, model_types=_types, parents=_parents, anchor="embeddings.patch_embedding.weight",
        feature_layer=-2, read_config=partial(vit_config, _family), convert=clip_state_dict, build=_build_vit,
        last_state_parents=_last_state,
    ))

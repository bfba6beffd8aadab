"""InternViT, InternVL's vision tower (transformers' ``InternVLVisionModel``).

A ViT with a CLS token and absolute position embeddings (CLS row first, the patch rows
bicubically resampled for another grid, as CLIP's), no pre-norm, and per block:

- ``x += lambda_1 * attn(norm1(x))`` and ``x += lambda_2 * mlp(norm2(x))``: the layer
  scales are folded into the output projections when the weights are converted
  (``lambda * (W y + b) = (lambda W) y + lambda b``), so the block is the shared
  ``layers.Block``;
- norms: LayerNorm or RMSNorm (``norm_type``), eps ``layer_norm_eps``;
- attention: q/k/v projections with or without bias (``attention_bias``) and, with
  ``use_qk_norm`` (InternViT-6B), an RMSNorm (eps 1e-6) over the full width of q and of
  k before the heads are split.

``last_hidden_state`` is the last block's output through ``layernorm``, an identity
when ``use_mean_pooling`` (the released InternVL 2.5/3 towers); InternVL's connector
reads it at ``vision_feature_layer=-1`` (``load_encoder``'s ``final_norm``) and drops
the CLS row, then pixel-shuffles and projects (the token stage: ``norm_mlp``).
The forwards are ``ClipEncoder``'s (batched views, or views of mixed shapes packed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import SpecError
from .base import VisionEncoder, check_feature_layer
from .clip import ClipEncoder, check_vit_size
from .config import DEFAULT_LIMITS, ConfigLimits, FieldReader, check_heads
from .layers import ACTIVATIONS, Attention, Block, RMSNorm
from .posembed import native_grid
from .towers import TowerFamily, register_tower

NORM_TYPES = {"layer_norm": "layer", "rms_norm": "rms"}


@dataclass(frozen=True)
class InternViTConfig:
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    image_size: int
    patch_size: int
    num_channels: int = 3
    act: str = "gelu"
    eps: float = 1e-6
    norm: str = "layer"  # "layer" or "rms"
    qkv_bias: bool = False
    qk_norm: bool = False
    mean_pooling: bool = True  # True: last_hidden_state has no final norm
    abs_pos: bool = True


class InternAttention(Attention):
    """``layers.Attention`` with optional q/k/v bias and InternViT's full-width QK RMSNorm."""

    def __init__(self, dim: int, num_heads: int, *, qkv_bias: bool, qk_norm: bool):
        super().__init__(dim, num_heads)
        if not qkv_bias:
            self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.q_norm = RMSNorm(dim, eps=1e-6) if qk_norm else None
        self.k_norm = RMSNorm(dim, eps=1e-6) if qk_norm else None

    def heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.q_norm is None:
            return super().heads(x)
        B, N, D = x.shape
        q, k, v = self.qkv(x).split(D, dim=-1)
        q, k = self.q_norm(q), self.k_norm(k)
        return tuple(t.reshape(B, N, self.num_heads, self.head_dim).transpose(1, 2) for t in (q, k, v))


class InternViTEncoder(ClipEncoder):
    """InternViT truncated at ``feature_layer`` (see ``base.VisionEncoder``); ``final_norm``
    (the last layer only) adds ``layernorm`` when the checkpoint has one."""

    def __init__(self, cfg: InternViTConfig, feature_layer: int, *, pos_antialias: bool = False,
                 final_norm: bool = False):
        VisionEncoder.__init__(self)
        check_feature_layer(feature_layer, cfg.num_layers)
        if final_norm and feature_layer != cfg.num_layers:
            raise SpecError(f"final_norm follows the last layer ({cfg.num_layers}), not layer {feature_layer}")
        d, p, c = cfg.hidden_size, cfg.patch_size, cfg.num_channels
        self.cfg = cfg
        self.family, self.patch_size, self.hidden_size, self.image_size = "internvit", p, d, cfg.image_size
        self.has_cls, self.num_channels, self.feature_layer = True, c, feature_layer
        self.num_prefix_tokens = 1
        self.native_hw = native_grid((cfg.image_size // p) ** 2)
        self.pos_antialias = pos_antialias
        self.patch_embed = nn.Linear(c * p * p, d)
        self.cls_token = nn.Parameter(torch.zeros(d))
        self.pos_embed = nn.Parameter(torch.zeros(1 + (cfg.image_size // p) ** 2, d)) if cfg.abs_pos else None
        self.pre_norm = None
        self.blocks = nn.ModuleList()
        for _ in range(feature_layer):
            block = Block(d, cfg.num_heads, cfg.intermediate_size, cfg.act, cfg.eps, norm=cfg.norm)
            block.attn = InternAttention(d, cfg.num_heads, qkv_bias=cfg.qkv_bias, qk_norm=cfg.qk_norm)
            self.blocks.append(block)
        has_norm = final_norm and not cfg.mean_pooling  # use_mean_pooling: transformers' layernorm is an identity
        self.final_norm = nn.LayerNorm(d, eps=cfg.eps) if has_norm else None

    def position_embedding(self, hw: tuple[int, int]) -> torch.Tensor:
        if self.pos_embed is None:  # use_absolute_position_embeddings=False: nothing is added
            return self.cls_token.new_zeros(1 + hw[0] * hw[1], self.hidden_size)
        return super().position_embedding(hw)


_LAYER = re.compile(r"^encoder\.layer\.(\d+)\.(.+)$")
_BLOCK_PARTS = {
    "layernorm_before": "norm1",
    "layernorm_after": "norm2",
    "attention.projection_layer": "attn.proj",
    "attention.q_norm": "attn.q_norm",
    "attention.k_norm": "attn.k_norm",
    "mlp.fc1": "mlp.fc1",
    "mlp.fc2": "mlp.fc2",
}
# the layer scale each output projection is multiplied by
_SCALED = {"attn.proj": "lambda_1", "mlp.fc2": "lambda_2"}


def internvit_state_dict(hf: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A transformers ``InternVLVisionModel`` state dict (prefix removed) -> ``InternViTEncoder``'s.

    q/k/v are fused into ``qkv``; the patch conv becomes a linear layer; ``lambda_1`` and
    ``lambda_2`` are folded into ``attn.proj`` and ``mlp.fc2`` (in float32); the final
    ``layernorm`` becomes ``final_norm``; the mask token (pre-training only) is dropped.
    Keys this function does not know pass through unchanged, so a strict load reports them.
    """
    out: dict[str, torch.Tensor] = {}
    qkv: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    scales: dict[tuple[str, str], torch.Tensor] = {}
    simple = {
        "embeddings.patch_embeddings.projection.bias": "patch_embed.bias",
        "layernorm.weight": "final_norm.weight",
        "layernorm.bias": "final_norm.bias",
    }
    for key, value in hf.items():
        if key == "embeddings.mask_token":
            continue
        if key in simple:
            out[simple[key]] = value
        elif key == "embeddings.cls_token":
            out["cls_token"] = value.reshape(-1)
        elif key == "embeddings.position_embeddings":
            out["pos_embed"] = value.reshape(-1, value.shape[-1])
        elif key == "embeddings.patch_embeddings.projection.weight":
            out["patch_embed.weight"] = value.reshape(value.shape[0], -1)
        elif m := _LAYER.match(key):
            i, rest = m.groups()
            part, _, kind = rest.rpartition(".")
            if part in ("attention.q_proj", "attention.k_proj", "attention.v_proj"):
                qkv.setdefault((i, kind), {})[part[len("attention.")]] = value
            elif rest in ("lambda_1", "lambda_2"):
                scales[i, rest] = value
            elif part in _BLOCK_PARTS:
                out[f"blocks.{i}.{_BLOCK_PARTS[part]}.{kind}"] = value
            else:
                out[key] = value
        else:
            out[key] = value
    for (i, kind), parts in qkv.items():
        if set(parts) == {"q", "k", "v"}:
            out[f"blocks.{i}.attn.qkv.{kind}"] = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0)
        else:  # incomplete: leave them under their own names so the load reports them
            out.update({f"encoder.layer.{i}.attention.{n}_proj.{kind}": t for n, t in parts.items()})
    blocks = {k.split(".")[1] for k in out if k.startswith("blocks.")}
    for i in sorted(blocks):
        for part, name in _SCALED.items():
            w, b = out.get(f"blocks.{i}.{part}.weight"), out.get(f"blocks.{i}.{part}.bias")
            if w is None or b is None:  # the strict load names the missing weight (and the unused scale)
                continue
            scale = scales.pop((i, name), None)
            if scale is None or scale.shape != b.shape:
                raise ValueError(f"block {i}: layer scale {name} of shape "
                                 f"{None if scale is None else tuple(scale.shape)} for {part} of width {b.shape[0]}")
            s = scale.float()
            out[f"blocks.{i}.{part}.weight"], out[f"blocks.{i}.{part}.bias"] = w.float() * s[:, None], b.float() * s
    out.update({f"encoder.layer.{i}.{name}": v for (i, name), v in scales.items()})  # reported by the load
    return out


def internvit_config(cfg: dict, folder: Path, limits: ConfigLimits = DEFAULT_LIMITS) -> InternViTConfig:
    """InternVLVisionConfig fields, with transformers 5.23's defaults, checked before
    anything is built from them."""
    read = FieldReader(cfg, folder, limits)
    width = read.integer("hidden_size", default=1024, limit=limits.hidden_size)
    heads = read.integer("num_attention_heads", default=16, limit=limits.num_heads)
    check_heads(read, "hidden_size", width, "num_attention_heads", heads)
    c = InternViTConfig(
        hidden_size=width,
        intermediate_size=read.integer("intermediate_size", default=4096, limit=limits.intermediate_size),
        num_layers=read.integer("num_hidden_layers", default=24, limit=limits.num_layers),
        num_heads=heads,
        image_size=read.integer("image_size", default=448, limit=limits.image_size),
        patch_size=read.integer("patch_size", default=14, limit=limits.patch_size),
        num_channels=read.integer("num_channels", default=3, limit=limits.num_channels),
        act=read.choice("hidden_act", "gelu", ACTIVATIONS),
        eps=read.number("layer_norm_eps", 1e-6, 0.0, 1.0),
        norm=NORM_TYPES[read.choice("norm_type", "layer_norm", NORM_TYPES)],
        qkv_bias=read.flag("attention_bias", False),
        qk_norm=read.flag("use_qk_norm", False),
        mean_pooling=read.flag("use_mean_pooling", True),
        abs_pos=read.flag("use_absolute_position_embeddings", True),
    )
    check_vit_size(read, folder, c)
    return c


def _build(cfg: InternViTConfig, depth: int, options) -> InternViTEncoder:
    return InternViTEncoder(cfg, depth, pos_antialias=bool(options.get("pos_antialias", False)),
                            final_norm=bool(options.get("final_norm", False)))


# InternVL reads vision_feature_layer (-1 in every released -hf config: last_hidden_state)
register_tower(TowerFamily(
    name="internvit", model_types=("internvl_vision",), parents=("internvl",),
    anchor="embeddings.patch_embeddings.projection.weight", feature_layer=-1, read_config=internvit_config,
    convert=internvit_state_dict, build=_build, last_state_parents=("internvl",),
))

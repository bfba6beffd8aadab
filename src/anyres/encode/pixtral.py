"""The Pixtral vision tower (``PixtralVisionModel``: Pixtral-12B through LLaVA, and the
Mistral 3 family: Mistral Small 3.x, Ministral 3, Devstral...).

- Patch embedding: a bias-free Conv2d whose kernel equals its stride, i.e. a linear
  layer on (C, p, p) patch vectors (row-major patches, the last ``size % p`` pixels of a
  side left out as by the valid convolution); then ``ln_pre``, an RMSNorm (eps 1e-5).
- No absolute positions: Pixtral's axial 2-D RoPE (``rope.rope_axial``) over each
  image's own patch grid, on q and k in every block.
- Pre-norm blocks, every linear layer bias-free: RMSNorm (eps 1e-5), fused qkv, a gated
  MLP ``down(act(gate(x)) * up(x))`` of ``intermediate_size`` (``act`` is GELU in every
  released checkpoint).
- Packed input: the images of one call form one sequence and each attends only to
  itself (transformers builds the same block-diagonal mask).
- No final norm: ``hidden_states[L]`` is the last block's output, and what the connector
  reads (LLaVA's projector for Pixtral-12B; Mistral 3's RMSNorm, 2x2 patch merger and
  projector, which anyres runs in the token stage: ``anyres.tokens.merger``).

``hidden_states[i]`` counts like transformers' (0 = the normed patch embeddings).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import ShapeError
from .base import EncoderOutput, VisionEncoder, check_feature_layer, check_packed, grid_rows, patchify
from .config import DEFAULT_LIMITS, ConfigLimits, FieldReader, check_parameters, check_rope_heads, rope_theta
from .layers import ACTIVATIONS, Block, Probe, RMSNorm, run_blocks
from .rope import grid_positions, rope_axial
from .towers import TowerFamily, register_tower

EPS = 1e-5  # every RMSNorm of the tower (fixed in transformers' PixtralVisionModel)


@dataclass(frozen=True)
class PixtralConfig:
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    patch_size: int = 16
    num_channels: int = 3
    act: str = "gelu"
    rope_theta: float = 10000.0


class PixtralEncoder(VisionEncoder):
    """Pixtral vision tower truncated at ``feature_layer``; one feature a patch."""

    family = "pixtral"
    has_cls = False
    image_size = None  # native resolution: RoPE positions, no trained grid

    def __init__(self, cfg: PixtralConfig, feature_layer: int):
        super().__init__()
        check_feature_layer(feature_layer, cfg.num_layers)
        d = cfg.hidden_size
        self.cfg = cfg
        self.patch_size, self.hidden_size, self.num_channels = cfg.patch_size, d, cfg.num_channels
        self.feature_layer = feature_layer
        self.head_dim = d // cfg.num_heads
        self.patch_embed = nn.Linear(cfg.num_channels * cfg.patch_size**2, d, bias=False)
        self.ln_pre = RMSNorm(d, eps=EPS)
        self.blocks = nn.ModuleList(
            Block(d, cfg.num_heads, cfg.intermediate_size, cfg.act, EPS, norm="rms", gated=True, bias=False)
            for _ in range(feature_layer)
        )

    def rope(self, grids: list[tuple[int, int]], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """cos, sin of every patch of the images of ``grids`` ((rows, cols) each), packed."""
        positions = torch.cat([grid_positions(h, w) for h, w in grids]).to(device)
        return rope_axial(positions, self.head_dim, self.cfg.rope_theta)

    def encode(
        self, x: torch.Tensor, grids: list[tuple[int, int]], probe: bool = False
    ) -> tuple[torch.Tensor, Probe | None]:
        """Embedded patches (B, N, D), each row of the batch holding the images of
        ``grids`` packed -> (features (B, N, D), the feature layer's probe)."""
        x = self.ln_pre(x)
        segments = tuple(h * w for h, w in grids) if len(grids) > 1 else None
        return run_blocks(self.blocks, x, probe=probe, segments=segments, rope=self.rope(grids, x.device))

    def forward_features(
        self, pixel_values: torch.Tensor, *, keep_cls: bool = False, output_attention: bool = False
    ) -> torch.Tensor | EncoderOutput:
        """Views of one shape: (B, 3, H, W) -> (B, (H // p) * (W // p), hidden_size)."""
        B, C, H, W = self.check_views(pixel_values, output_attention)
        p = self.patch_size
        h, w = H // p, W // p
        pixels = pixel_values[..., : h * p, : w * p].to(self.patch_embed.weight.dtype)
        features, probe = self.encode(self.patch_embed(patchify(pixels, p)), [(h, w)], probe=output_attention)
        if output_attention:
            return EncoderOutput(features, probe.attention, probe.keys, 0)
        return features

    def forward_packed(
        self, patches: torch.Tensor, grid_thw: torch.Tensor | list, *, keep_cls: bool = False
    ) -> torch.Tensor:
        """(N, C*p*p) row-major patch vectors of several images, one (1, h, w) row each ->
        (N, hidden_size) features, image after image (attention inside each image)."""
        rows = grid_rows(grid_thw)
        check_packed(patches, rows, self.patch_embed.in_features, self.family)
        if any(t != 1 for t, _, _ in rows):
            raise ShapeError(f"{self.family}: a still-image tower takes grid rows (1, h, w), got {rows}")
        x = self.patch_embed(patches.to(self.patch_embed.weight.dtype)).unsqueeze(0)
        features, _ = self.encode(x, [(h, w) for _, h, w in rows])
        return features[0]


_LAYER = re.compile(r"^transformer\.layers\.(\d+)\.(.+)$")
_BLOCK_PARTS = {
    "attention_norm.weight": "norm1.weight",
    "ffn_norm.weight": "norm2.weight",
    "attention.o_proj.weight": "attn.proj.weight",
    "feed_forward.gate_proj.weight": "mlp.gate_proj.weight",
    "feed_forward.up_proj.weight": "mlp.up_proj.weight",
    "feed_forward.down_proj.weight": "mlp.down_proj.weight",
}


def pixtral_state_dict(hf: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A transformers ``PixtralVisionModel`` state dict (prefix removed) -> ours.

    The patch conv becomes a linear layer over (C, p, p) vectors; each layer's q/k/v
    projections are fused into ``qkv`` (rows q, k, v). Keys this function does not know
    pass through unchanged, so the strict load names them.
    """
    out: dict[str, torch.Tensor] = {}
    qkv: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in hf.items():
        if key == "patch_conv.weight":
            out["patch_embed.weight"] = value.reshape(value.shape[0], -1)
            continue
        m = _LAYER.match(key)
        if m:
            i, rest = m.groups()
            if rest in ("attention.q_proj.weight", "attention.k_proj.weight", "attention.v_proj.weight"):
                qkv.setdefault(i, {})[rest[len("attention.")]] = value
                continue
            if rest in _BLOCK_PARTS:
                out[f"blocks.{i}.{_BLOCK_PARTS[rest]}"] = value
                continue
        out[key] = value
    for i, parts in qkv.items():
        if set(parts) == {"q", "k", "v"}:
            out[f"blocks.{i}.attn.qkv.weight"] = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0)
        else:  # incomplete: leave them under their own names so the load reports them
            out.update({f"transformer.layers.{i}.attention.{n}_proj.weight": t for n, t in parts.items()})
    return out


def pixtral_config(cfg: dict, folder: Path, limits: ConfigLimits = DEFAULT_LIMITS) -> PixtralConfig:
    """PixtralVisionConfig fields, with transformers 5.23's defaults, checked (``config.py``)
    before anything is built from them."""
    read = FieldReader(cfg, folder, limits)
    width = read.integer("hidden_size", default=1024, limit=limits.hidden_size)
    heads = read.integer("num_attention_heads", default=16, limit=limits.num_heads)
    check_rope_heads(read, "hidden_size", width, "num_attention_heads", heads)
    rope = FieldReader(read.section("rope_parameters"), folder, limits, prefix="rope_parameters.")
    rope.choice("rope_type", "axial", ("axial",))  # transformers refuses any other
    out = PixtralConfig(
        hidden_size=width,
        intermediate_size=read.integer("intermediate_size", default=4096, limit=limits.intermediate_size),
        num_layers=read.integer("num_hidden_layers", default=24, limit=limits.num_layers),
        num_heads=heads,
        patch_size=read.integer("patch_size", default=16, limit=limits.patch_size),
        num_channels=read.integer("num_channels", default=3, limit=limits.num_channels),
        act=read.choice("hidden_act", "gelu", ACTIVATIONS),
        rope_theta=rope_theta(read),
    )
    read.integer("image_size", default=1024, limit=limits.image_size)  # checked; positions come from RoPE
    block = 4 * width * width + 3 * width * out.intermediate_size  # qkv + o, gate/up/down
    check_parameters(read, out.num_layers * block + out.num_channels * out.patch_size**2 * width)
    return out


register_tower(TowerFamily(
    name="pixtral", model_types=("pixtral",), parents=("mistral3",),
    anchor="patch_conv.weight", feature_layer=-1,  # Pixtral-12B's and Mistral 3's vision_feature_layer
    read_config=pixtral_config, convert=pixtral_state_dict, build=lambda cfg, depth, _: PixtralEncoder(cfg, depth),
))

"""SigLIP-style towers that take images of any patch grid (NaViT descendants): the shared
part of Idefics3 / SmolVLM (``idefics3.py``) and SigLIP2 NaFlex (``siglip2.py``).

Both are SigLIP's ViT (``clip.py``'s blocks: LayerNorm, fused-QKV attention, fc1 ->
gelu(tanh) -> fc2; no CLS, no pre-norm) with the final ``post_layernorm`` applied to the
last layer's output (their ``last_hidden_state``, which the connector is trained on).
They differ only in:

- the patch vector's order: Idefics3 embeds patches with a convolution, (C, p, p);
  SigLIP2's processor hands over patches flattened (p, p, C) and embeds them with a linear;
- how a learned ``side x side`` table of position embeddings becomes one row per patch of
  an h x w grid (``position_rows``): Idefics3 buckets fractional coordinates, SigLIP2
  resizes the table bilinearly with antialiasing.

Each image attends only to its own patches: ``forward_packed`` packs images of mixed grids
into one sequence cut into segments; the padded layouts of transformers (a batch padded
to one length, a mask over the padding) are each family's own entry point.

``hidden_states[i]`` in transformers is the input of layer i or the output of layer i-1;
the post-norm is applied only when the tower runs all its layers (``feature_layer`` = L).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import CheckpointError, ShapeError
from .base import EncoderOutput, VisionEncoder, check_feature_layer, check_packed, grid_rows
from .clip import clip_state_dict
from .config import DEFAULT_LIMITS, ConfigLimits, FieldReader, check_heads, check_parameters
from .layers import ACTIVATIONS, Block, run_blocks


@dataclass(frozen=True)
class NaViTConfig:
    family: str
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    patch_size: int
    position_side: int  # the learned position table is position_side x position_side
    num_channels: int = 3
    act: str = "gelu_pytorch_tanh"
    eps: float = 1e-6

    @property
    def image_size(self) -> int:
        return self.position_side * self.patch_size


class NaViTEncoder(VisionEncoder):
    """The shared tower; subclasses give ``position_rows`` and ``patch_vectors``."""

    has_cls = False
    num_prefix_tokens = 0

    def __init__(self, cfg: NaViTConfig, feature_layer: int):
        super().__init__()
        check_feature_layer(feature_layer, cfg.num_layers)
        d, p, c = cfg.hidden_size, cfg.patch_size, cfg.num_channels
        self.cfg, self.family, self.patch_size, self.hidden_size = cfg, cfg.family, p, d
        self.image_size, self.num_channels, self.feature_layer = cfg.image_size, c, feature_layer
        self.patch_embed = nn.Linear(c * p * p, d)
        self.pos_embed = nn.Parameter(torch.zeros(cfg.position_side**2, d))
        self.blocks = nn.ModuleList(
            Block(d, cfg.num_heads, cfg.intermediate_size, cfg.act, cfg.eps) for _ in range(feature_layer)
        )
        # applied only at the last layer: transformers' last_hidden_state is post-normed
        self.final_norm = nn.LayerNorm(d, eps=cfg.eps)  # post_layernorm
        self.final_normed = feature_layer == cfg.num_layers

    # ---------------------------------------------------------------- family specifics
    def position_rows(self, h: int, w: int) -> torch.Tensor:
        """(h*w, D) position embeddings of an h x w patch grid, row-major."""
        raise NotImplementedError

    def patch_vectors(self, pixels: torch.Tensor) -> torch.Tensor:
        """(..., C, H, W) -> (..., h*w, C*p*p) in the order the patch embedding expects."""
        raise NotImplementedError

    # ---------------------------------------------------------------- shared
    def _finish(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_norm(x) if self.final_normed else x

    def patchify(self, view: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int]]:
        if not isinstance(view, torch.Tensor) or view.dim() != 3:
            raise ShapeError(f"{self.family}: a view is a (C, H, W) tensor, got {getattr(view, 'shape', type(view))}")
        self.check_size(view.shape[-2], view.shape[-1])
        p = self.patch_size
        view = view[:, : view.shape[-2] // p * p, : view.shape[-1] // p * p]  # as the valid convolution
        return self.patch_vectors(view), (1, view.shape[-2] // p, view.shape[-1] // p)

    def forward_features(
        self, pixel_values: torch.Tensor, *, keep_cls: bool = False, output_attention: bool = False
    ) -> torch.Tensor | EncoderOutput:
        """(views, C, H, W) of one shape -> (views, h*w, D)."""
        B, C, H, W = self.check_views(pixel_values, output_attention)
        p = self.patch_size
        weight = self.patch_embed.weight
        pixels = pixel_values[..., : H // p * p, : W // p * p].to(weight.device, weight.dtype)
        x = self.patch_embed(self.patch_vectors(pixels)) + self.position_rows(H // p, W // p)
        x, probe = run_blocks(self.blocks, x, probe=output_attention)
        x = self._finish(x)
        if output_attention:
            return EncoderOutput(x, probe.attention, probe.keys, 0)
        return x

    def forward_packed(
        self, patches: torch.Tensor, grid_thw: torch.Tensor | list, *, keep_cls: bool = False
    ) -> torch.Tensor:
        """(N, C*p*p) patch vectors of several images (``patch_vectors``' order) and one
        (1, h, w) row per image -> (N, D), each image attending only to itself."""
        rows = grid_rows(grid_thw)
        if any(t != 1 for t, _, _ in rows):
            raise ShapeError(f"{self.family} encodes still images: t must be 1 in every grid_thw row, got {rows}")
        check_packed(patches, rows, self.num_channels * self.patch_size**2, self.family)
        weight = self.patch_embed.weight
        x = self.patch_embed(patches.to(weight.device, weight.dtype))
        cache: dict[tuple[int, int], torch.Tensor] = {}
        pos = []
        for _, h, w in rows:
            if (h, w) not in cache:
                cache[h, w] = self.position_rows(h, w)
            pos.append(cache[h, w])
        x = (x + torch.cat(pos)).unsqueeze(0)
        x, _ = run_blocks(self.blocks, x, segments=tuple(h * w for _, h, w in rows))
        return self._finish(x[0])

    def run_padded(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Blocks over a padded batch (B, N, D) of embeddings; ``valid`` (B, N) bool: the
        keys every query may attend to (transformers' padding mask). Padded rows are
        computed too (they attend to their image's valid patches), as transformers does."""
        mask = valid[:, None, None, :] if not bool(valid.all()) else None
        x, _ = run_blocks(self.blocks, x.contiguous(), attn_mask=mask)
        return self._finish(x)


def navit_state_dict(hf: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """transformers' Idefics3 / SmolVLM / SigLIP2 vision tower (prefix removed) -> ours: the
    SigLIP conversion (``clip_state_dict``: the patch weight flattened to a linear over the
    checkpoint's own patch order, ``post_layernorm`` -> ``final_norm``); SigLIP2's pooling
    head is not used."""
    return clip_state_dict(hf)


def navit_config(
    family: str, cfg: dict, folder: Path, limits: ConfigLimits = DEFAULT_LIMITS, *, grid_from: str = "image_size"
) -> NaViTConfig:
    """The vision config's fields with transformers 5.23's defaults (Idefics3VisionConfig,
    SmolVLMVisionConfig: image_size 224, patch 32, width 1152; Siglip2VisionConfig:
    num_patches 256, patch 16, width 768), checked before anything is built. The position
    table side is image_size // patch_size, or sqrt(num_patches) (``grid_from``)."""
    read = FieldReader(cfg, folder, limits)
    siglip2 = grid_from == "num_patches"
    width = read.integer("hidden_size", default=768 if siglip2 else 1152, limit=limits.hidden_size)
    heads = read.integer("num_attention_heads", default=12 if siglip2 else 16, limit=limits.num_heads)
    check_heads(read, "hidden_size", width, "num_attention_heads", heads)
    patch = read.integer("patch_size", default=16 if siglip2 else 32, limit=limits.patch_size)
    if siglip2:
        cells = read.integer("num_patches", default=256, limit=limits.image_size**2)
        side = math.isqrt(cells)
        if side * side != cells:
            raise CheckpointError(
                f"{folder}: config num_patches={cells} is not a square number (the position table is side x side)"
            )
    else:
        image = read.integer("image_size", default=224, limit=limits.image_size)
        if patch > image:
            raise CheckpointError(
                f"{folder}: config image_size={image} is smaller than patch_size={patch} "
                "(the trained grid must hold at least one patch)"
            )
        side = image // patch
    out = NaViTConfig(
        family=family,
        hidden_size=width,
        intermediate_size=read.integer("intermediate_size", default=3072, limit=limits.intermediate_size),
        num_layers=read.integer("num_hidden_layers", default=12, limit=limits.num_layers),
        num_heads=heads,
        patch_size=patch,
        position_side=side,
        num_channels=read.integer("num_channels", default=3, limit=limits.num_channels),
        act=read.choice("hidden_act", "gelu_pytorch_tanh", ACTIVATIONS),
        eps=read.number("layer_norm_eps", 1e-6, 0.0, 1.0),
    )
    block = 4 * width * width + 2 * width * out.intermediate_size
    check_parameters(read, out.num_layers * block + side * side * width + out.num_channels * patch * patch * width)
    return out

"""The Qwen2-VL vision tower (``Qwen2VisionTransformerPretrainedModel``).

- Patch embedding: a Conv3d whose kernel equals its stride over (C, t, p, p) patch
  vectors, i.e. a linear layer on the flattened vectors (bias-free in Qwen2/2.5-VL).
- No absolute positions: 2-D RoPE (``rope.py``) on q and k in every block.
- Pre-norm blocks (LayerNorm eps 1e-6, fused qkv, MLP of ``mlp_ratio`` x width, quick_gelu).
- Packed input: each image (each frame of a video) attends only to itself.
- PatchMerger: LayerNorm -> group every ``merge_size``^2 consecutive patches (the
  packed order keeps merge blocks contiguous) -> Linear -> GELU -> Linear, to the
  language model's width (``hidden_size``).

The config's later fields and ``encode`` serve the towers that grew from this one
(``qwen2_5_vl.py``, ``qwen3_vl.py``); the state-dict conversion is shared by all three.

``hidden_states[i]`` counts like transformers' (0 = patch embeddings, -1 = last block);
the merger runs on the feature layer's output (-1 is what Qwen2-VL itself uses).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError, ShapeError
from .base import DeepstackOutput, EncoderOutput, VisionEncoder, check_feature_layer, check_packed, grid_rows, patchify
from .config import DEFAULT_LIMITS, ConfigLimits, FieldReader, check_parameters, check_rope_heads, rope_theta
from .layers import ACTIVATIONS, NORMS, Block, Probe, run_blocks
from .rope import packed_positions, rope_2d
from .towers import TowerFamily, register_tower


@dataclass(frozen=True)
class Qwen2VLConfig:
    embed_dim: int
    hidden_size: int  # merger output width
    num_layers: int
    num_heads: int
    mlp_ratio: float = 4.0
    patch_size: int = 14
    temporal_patch_size: int = 2
    merge_size: int = 2
    num_channels: int = 3
    act: str = "quick_gelu"
    rope_theta: float = 10000.0
    # What the later Qwen towers change (Qwen2.5-VL: RMSNorm + SwiGLU; Qwen3-VL: a patch bias):
    intermediate_size: int | None = None  # MLP width; None: embed_dim * mlp_ratio
    norm: str = "layer"  # "layer" or "rms", in the blocks and the merger
    gated_mlp: bool = False
    patch_bias: bool = False

    @property
    def mlp_hidden(self) -> int:
        return self.intermediate_size or int(self.embed_dim * self.mlp_ratio)


class PatchMerger(nn.Module):
    """norm -> group ``merge_size``^2 consecutive patches -> Linear -> GELU -> Linear.

    ``postshuffle`` normalises the grouped vector (width dim * merge^2) instead of each
    patch (Qwen3-VL's DeepStack mergers)."""

    def __init__(self, dim: int, out_dim: int, merge_size: int = 2, norm: str = "layer", postshuffle: bool = False):
        super().__init__()
        self.merge_size = merge_size
        self.group = merge_size**2
        self.postshuffle = postshuffle
        self.norm = NORMS[norm](dim * self.group if postshuffle else dim, eps=1e-6)
        self.fc1 = nn.Linear(dim * self.group, dim * self.group)
        self.fc2 = nn.Linear(dim * self.group, out_dim)

    def forward(self, x: torch.Tensor, grid: tuple[int, int] | None = None) -> torch.Tensor:
        """(..., n, dim) -> (..., n / merge^2, out_dim).

        Without ``grid`` the rows are in Qwen2-VL's merge-block order (each m x m block
        contiguous, as its processor emits patches). With ``grid=(rows, cols)`` they are
        one image's (n, dim) patches in plain row-major order, gathered into blocks here;
        the output is then in block-row-major order, the same as Qwen2-VL's.
        """
        if grid is not None:
            rows, cols = grid
            if x.dim() != 2 or rows * cols != x.shape[0]:
                raise ShapeError(f"grid {rows}x{cols} does not hold the {tuple(x.shape)} patches")
            if rows % self.merge_size or cols % self.merge_size:
                raise ShapeError(f"a {rows}x{cols} patch grid does not split into {self.merge_size}-blocks")
            m = self.merge_size
            x = x.reshape(rows // m, m, cols // m, m, -1).transpose(1, 2).reshape(rows * cols, -1)
        *lead, n, dim = x.shape
        if n % self.group:
            raise ShapeError(f"{n} patches do not form whole merge groups of {self.group}")
        if self.postshuffle:
            x = self.norm(x.reshape(*lead, n // self.group, dim * self.group))
        else:
            x = self.norm(x).reshape(*lead, n // self.group, dim * self.group)
        return self.fc2(F.gelu(self.fc1(x)))

    def load_reference(self, state_dict: Mapping[str, torch.Tensor]) -> "PatchMerger":
        """Weights from a Qwen2-VL state dict (``visual.merger.*`` or a bare merger's, in
        transformers' names ``ln_q``, ``mlp.0``, ``mlp.2``)."""
        from ..tokens.weights import find_module, load_renamed

        try:
            _, tensors = find_module(state_dict, ["merger"])
        except CheckpointError:  # the merger's own state dict
            tensors = dict(state_dict)
        renames = {"ln_q.weight": "norm.weight", "ln_q.bias": "norm.bias", "mlp.0.weight": "fc1.weight",
                   "mlp.0.bias": "fc1.bias", "mlp.2.weight": "fc2.weight", "mlp.2.bias": "fc2.bias"}
        load_renamed(self, tensors, renames)
        return self


class Qwen2VLEncoder(VisionEncoder):
    """Qwen2-VL vision tower truncated at ``feature_layer``; outputs merged tokens.

    The later Qwen towers subclass it and override ``encode`` (the part after the patch
    embedding): Qwen2.5-VL reorders patches into windows, Qwen3-VL adds learned positions
    and returns DeepStack features."""

    family = "qwen2_vl"
    has_cls = False
    image_size = None  # native resolution: no trained grid

    def __init__(self, cfg: Qwen2VLConfig, feature_layer: int):
        super().__init__()
        check_feature_layer(feature_layer, cfg.num_layers)
        d = cfg.embed_dim
        self.cfg = cfg
        self.patch_size, self.temporal_patch_size, self.merge_size = (
            cfg.patch_size,
            cfg.temporal_patch_size,
            cfg.merge_size,
        )
        self.hidden_size, self.num_channels, self.feature_layer = cfg.hidden_size, cfg.num_channels, feature_layer
        self.head_dim = d // cfg.num_heads
        patch_width = cfg.num_channels * cfg.temporal_patch_size * cfg.patch_size**2
        self.patch_embed = nn.Linear(patch_width, d, bias=cfg.patch_bias)
        self.blocks = nn.ModuleList(
            Block(d, cfg.num_heads, cfg.mlp_hidden, cfg.act, 1e-6, norm=cfg.norm, gated=cfg.gated_mlp)
            for _ in range(feature_layer)
        )
        self.merger = PatchMerger(d, cfg.hidden_size, cfg.merge_size, norm=cfg.norm)

    def rope(self, rows: list[tuple[int, int, int]], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """cos, sin of every patch of ``rows`` (packed, merge-block order)."""
        return rope_2d(packed_positions(rows, self.merge_size).to(device), self.head_dim, self.cfg.rope_theta)

    def encode(
        self, x: torch.Tensor, rows: list[tuple[int, int, int]], probe: bool = False
    ) -> tuple[torch.Tensor, Probe | None, tuple[torch.Tensor, ...]]:
        """Embedded patches (B, N, D), each row of the batch holding the images of ``rows``
        packed -> (merged tokens (B, N / merge^2, hidden), the feature layer's probe, the
        DeepStack levels (none here)). Each image (each frame) attends only to itself."""
        segments = tuple(h * w for t, h, w in rows for _ in range(t))
        x, found = run_blocks(self.blocks, x, probe=probe, segments=segments, rope=self.rope(rows, x.device))
        return self.merger(x), found, ()

    def forward_features(
        self,
        pixel_values: torch.Tensor,
        *,
        keep_cls: bool = False,
        output_attention: bool = False,
        deepstack: bool = False,
    ) -> torch.Tensor | EncoderOutput | DeepstackOutput:
        """Views of one shape, each a still image. With ``output_attention`` the attention
        and keys are over the view's unmerged patches (in merge-block order). With
        ``deepstack`` a ``DeepstackOutput`` (its levels (B, tokens, hidden) each)."""
        B, C, H, W = self.check_views(pixel_values, output_attention)
        p, m = self.patch_size, self.merge_size
        x = self.patch_embed(patchify(pixel_values.to(self.patch_embed.weight.dtype), p, m, self.temporal_patch_size))
        features, probe, levels = self.encode(x, [(1, H // p, W // p)], probe=output_attention)
        assert features.shape == (B, self.tokens_per_view(H, W), self.hidden_size)  # invariant
        if output_attention:
            return EncoderOutput(features, probe.attention, probe.keys, 0)
        return DeepstackOutput(features, levels) if deepstack else features

    def forward_packed(
        self, patches: torch.Tensor, grid_thw: torch.Tensor | list, *, keep_cls: bool = False, deepstack: bool = False
    ) -> torch.Tensor | DeepstackOutput:
        """transformers' packed layout -> (sum t*h*w / merge^2, hidden) tokens, image after
        image; with ``deepstack`` a ``DeepstackOutput`` whose levels have the same rows."""
        rows = grid_rows(grid_thw)
        m = self.merge_size
        check_packed(patches, rows, self.patch_embed.in_features, self.family)
        if any(h % m or w % m for _, h, w in rows):
            raise ShapeError(f"{self.family}: grid_thw h and w must be multiples of the merge size {m}, got {rows}")
        x = self.patch_embed(patches.to(self.patch_embed.weight.dtype)).unsqueeze(0)
        features, _, levels = self.encode(x, rows)
        if deepstack:
            return DeepstackOutput(features[0], tuple(level[0] for level in levels))
        return features[0]


_RENAMES = {  # prefixes: the merger's Sequential indices (Qwen2-VL, Qwen2.5-VL), Qwen3-VL's list name
    "merger.ln_q.": "merger.norm.",
    "merger.mlp.0.": "merger.fc1.",
    "merger.mlp.2.": "merger.fc2.",
    "deepstack_merger_list.": "deepstack_mergers.",
}
_PARTS = {"linear_fc1": "fc1", "linear_fc2": "fc2"}  # Qwen3-VL's names of the same layers


def qwen2_vl_state_dict(hf: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A transformers Qwen2-VL, Qwen2.5-VL or Qwen3-VL vision-tower state dict (prefix
    removed) -> our encoder's.

    The Conv3d becomes a linear layer over (C, t, p, p) vectors, the merger's Sequential
    indices get names, Qwen3-VL's ``linear_fc1/2`` become ``fc1/2``. Other keys (the
    blocks, Qwen2.5-VL's gate/up/down projections, ``pos_embed.weight``) pass through.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in hf.items():
        if key == "patch_embed.proj.weight":
            out["patch_embed.weight"] = value.reshape(value.shape[0], -1)
            continue
        if key == "patch_embed.proj.bias":
            out["patch_embed.bias"] = value
            continue
        for old, new in _RENAMES.items():
            if key.startswith(old):
                key = new + key[len(old) :]
                break
        out[".".join(_PARTS.get(part, part) for part in key.split("."))] = value
    return out


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


register_tower(TowerFamily(
    name="qwen2_vl", model_types=("qwen2_vl_vision",), parents=("qwen2_vl",), nested_aliases=("qwen2_vl",),
    anchor="patch_embed.proj.weight", feature_layer=-1,  # its merger was trained on the last block
    read_config=qwen2_vl_config, convert=qwen2_vl_state_dict, build=lambda cfg, depth, _: Qwen2VLEncoder(cfg, depth),
))

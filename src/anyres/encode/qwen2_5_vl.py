"""The Qwen2.5-VL vision tower (``Qwen2_5_VisionTransformerPretrainedModel``).

Qwen2-VL's tower (``qwen2_vl.py``: patch embedding, 2-D RoPE, packed images, merger)
with three changes:

- blocks use RMSNorm (eps 1e-6) and a SwiGLU MLP ``down(silu(gate(x)) * up(x))`` of
  ``intermediate_size`` with biases; the merger's norm is an RMSNorm too;
- window attention: the merged-token grid of every frame is cut into square windows of
  ``window_size // merge_size // patch_size`` merged tokens a side (the last row and
  column of windows are partial), and all layers attend within a window except those
  in ``fullatt_block_indexes``, which attend over the whole frame;
- so that every window is contiguous, the patches are reordered once after the patch
  embedding (window after window, row-major inside a window, merge blocks kept whole,
  RoPE positions reordered with them) and the merged tokens are put back in the
  image's merge-block order at the end.

Packed over many images in one call like Qwen2-VL (``forward_packed`` takes the
processor's ``pixel_values`` and ``image_grid_thw``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import CheckpointError, SpecError
from .config import DEFAULT_LIMITS, ConfigLimits, FieldReader, check_parameters, check_rope_heads, rope_theta
from .layers import ACTIVATIONS, Probe
from .qwen2_vl import Qwen2VLConfig, Qwen2VLEncoder, qwen2_vl_state_dict
from .rope import packed_positions, rope_2d
from .towers import TowerFamily, register_tower


@dataclass(frozen=True)
class Qwen2_5VLConfig(Qwen2VLConfig):
    window_size: int = 112  # pixels a window side covers
    fullatt_blocks: tuple[int, ...] = (7, 15, 23, 31)

    @property
    def window_tokens(self) -> int:
        """Merged tokens a window side holds."""
        return self.window_size // self.merge_size // self.patch_size


def window_order(rows: list[tuple[int, int, int]], merge_size: int, window: int) -> tuple[torch.Tensor, tuple[int, ...]]:
    """Window order of the merge blocks of packed images (pure geometry).

    Returns (``order``, ``lengths``): ``order[j]`` is the packed index of the merge block
    that goes to place ``j`` (window after window, frame after frame, image after image;
    row-major inside a window), and ``lengths`` the number of merge blocks of each window
    (partial windows at the bottom and right edges are smaller, none is empty).
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise SpecError(f"a window must hold at least one merged token, got window={window!r}")
    order, lengths, start = [], [], 0
    for t, h, w in rows:
        gh, gw = h // merge_size, w // merge_size
        nh, nw = -(-gh // window), -(-gw // window)
        index = torch.arange(t * gh * gw).view(t, gh, gw) + start
        padded = torch.full((t, nh * window, nw * window), -1, dtype=torch.long)
        padded[:, :gh, :gw] = index
        windows = padded.view(t, nh, window, nw, window).permute(0, 1, 3, 2, 4).reshape(t * nh * nw, window * window)
        valid = windows >= 0
        order.append(windows[valid])
        lengths.extend(valid.sum(1).tolist())
        start += t * gh * gw
    return torch.cat(order), tuple(lengths)


class Qwen2_5VLEncoder(Qwen2VLEncoder):
    """Qwen2.5-VL vision tower truncated at ``feature_layer``; outputs merged tokens in
    each image's merge-block order (as transformers' ``pooler_output``)."""

    family = "qwen2_5_vl"

    def encode(
        self, x: torch.Tensor, rows: list[tuple[int, int, int]], probe: bool = False
    ) -> tuple[torch.Tensor, Probe | None, tuple[torch.Tensor, ...]]:
        unit = self.merge_size**2
        order, window_lengths = window_order(rows, self.merge_size, self.cfg.window_tokens)
        order = order.to(x.device)
        patch_order = (order[:, None] * unit + torch.arange(unit, device=x.device)).reshape(-1)
        x = x[:, patch_order]  # a copy the blocks may update in place
        positions = packed_positions(rows, self.merge_size).to(x.device)[patch_order]
        rope = rope_2d(positions, self.head_dim, self.cfg.rope_theta)
        frames = tuple(h * w for t, h, w in rows for _ in range(t))
        windows = tuple(n * unit for n in window_lengths)
        found = None
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            segments = frames if i in self.cfg.fullatt_blocks else windows
            x, found = block(x, probe=probe and i == last, segments=segments, rope=rope)
        merged = self.merger(x)
        inverse = torch.argsort(order)
        if found is not None:  # back to merge-block order on both axes
            back = torch.argsort(patch_order)
            found = Probe(found.attention[:, back][:, :, back], found.keys[:, back])
        return merged[:, inverse], found, ()


def qwen2_5_vl_config(cfg: dict, folder: Path, limits: ConfigLimits = DEFAULT_LIMITS) -> Qwen2_5VLConfig:
    """Qwen2_5_VLVisionConfig fields, with transformers 5.23's defaults (its ``hidden_size``
    is the tower's width and ``out_hidden_size`` the merger's output), checked
    (``config.py``) before anything is built from them."""
    read = FieldReader(cfg, folder, limits)
    embed = read.integer("hidden_size", default=3584, limit=limits.hidden_size)
    heads = read.integer("num_heads", "num_attention_heads", default=16, limit=limits.num_heads)
    check_rope_heads(read, "hidden_size", embed, "num_heads", heads)
    patch = read.integer("patch_size", default=14, limit=limits.patch_size)
    merge = read.integer("spatial_merge_size", default=2, limit=limits.merge_size)
    depth = read.integer("depth", "num_hidden_layers", default=32, limit=limits.num_layers)
    window = read.integer("window_size", default=112, limit=limits.image_size)
    if window < patch * merge:
        raise CheckpointError(
            f"{folder}: window_size={window} is smaller than one merged token ({patch * merge} px): "
            "windows would be empty"
        )
    full = cfg.get("fullatt_block_indexes", (7, 15, 23, 31))
    if not isinstance(full, (list, tuple)) or not all(isinstance(i, int) and not isinstance(i, bool) for i in full):
        raise read.fail("fullatt_block_indexes", full, "must be a list of layer indexes")
    out = Qwen2_5VLConfig(
        embed_dim=embed,
        hidden_size=read.integer("out_hidden_size", default=3584, limit=limits.hidden_size),
        num_layers=depth,
        num_heads=heads,
        intermediate_size=read.integer("intermediate_size", default=3420, limit=limits.intermediate_size),
        patch_size=patch,
        temporal_patch_size=read.integer("temporal_patch_size", default=2, limit=limits.temporal_patch_size),
        merge_size=merge,
        num_channels=read.integer("in_channels", default=3, limit=limits.num_channels),
        act=read.choice("hidden_act", "silu", ACTIVATIONS),
        rope_theta=rope_theta(read),
        norm="rms",
        gated_mlp=True,
        window_size=window,
        fullatt_blocks=tuple(full),  # as transformers: an index outside 0..depth-1 matches no layer
    )
    merged = embed * merge**2
    block = 4 * embed * embed + 3 * embed * out.mlp_hidden  # qkv + proj, gate/up/down
    patch_in = out.num_channels * out.temporal_patch_size * patch**2
    check_parameters(read, depth * block + merged * merged + merged * out.hidden_size + patch_in * embed)
    return out


register_tower(TowerFamily(
    name="qwen2_5_vl", model_types=("qwen2_5_vl_vision",), parents=("qwen2_5_vl",),
    anchor="patch_embed.proj.weight", feature_layer=-1,
    read_config=qwen2_5_vl_config, convert=qwen2_vl_state_dict, build=lambda cfg, depth, _: Qwen2_5VLEncoder(cfg, depth),
))

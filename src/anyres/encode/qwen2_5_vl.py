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

import torch

from .layers import Probe
from .qwen2_vl import Qwen2VLConfig, Qwen2VLEncoder
from .rope import packed_positions, rope_2d


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
    assert window >= 1, f"a window must hold at least one merged token, got {window}"
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


def qwen2_5_vl_config(cfg: dict, folder) -> Qwen2_5VLConfig:
    """Qwen2_5_VLVisionConfig fields, with transformers 5.23's defaults (its ``hidden_size``
    is the tower's width and ``out_hidden_size`` the merger's output)."""
    from ..errors import CheckpointError
    from .load import _act, _float, _int

    rope = cfg.get("rope_parameters") or {}
    patch, merge = _int(cfg, folder, "patch_size", default=14), _int(cfg, folder, "spatial_merge_size", default=2)
    depth = _int(cfg, folder, "depth", "num_hidden_layers", default=32)
    window = _int(cfg, folder, "window_size", default=112)
    if window < patch * merge:
        raise CheckpointError(
            f"{folder}: window_size={window} is smaller than one merged token ({patch * merge} px): "
            "windows would be empty"
        )
    full = cfg.get("fullatt_block_indexes", (7, 15, 23, 31))
    if not isinstance(full, (list, tuple)) or not all(isinstance(i, int) and not isinstance(i, bool) for i in full):
        raise CheckpointError(f"{folder}: fullatt_block_indexes={full!r} must be a list of layer indexes")
    return Qwen2_5VLConfig(
        embed_dim=_int(cfg, folder, "hidden_size", default=3584),
        hidden_size=_int(cfg, folder, "out_hidden_size", default=3584),
        num_layers=depth,
        num_heads=_int(cfg, folder, "num_heads", "num_attention_heads", default=16),
        intermediate_size=_int(cfg, folder, "intermediate_size", default=3420),
        patch_size=patch,
        temporal_patch_size=_int(cfg, folder, "temporal_patch_size", default=2),
        merge_size=merge,
        num_channels=_int(cfg, folder, "in_channels", default=3),
        act=_act(cfg, folder, "silu"),
        rope_theta=_float(rope, folder, "rope_theta", 10000.0),
        norm="rms",
        gated_mlp=True,
        window_size=window,
        fullatt_blocks=tuple(full),  # as transformers: an index outside 0..depth-1 matches no layer
    )

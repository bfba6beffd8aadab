"""The SigLIP2 NaFlex vision tower (``Siglip2VisionModel``, or the vision half of
``Siglip2Model``).

A SigLIP ViT (``navit.py``) that embeds patches flattened (p, p, C) with a linear, and
resizes its learned ``side x side`` position table (side^2 = ``num_patches``) to each
image's patch grid: bilinear, ``align_corners=False``, antialiased (so a shrink averages),
in float32, cast back to the weights' dtype.

``forward_naflex(pixel_values, pixel_attention_mask, spatial_shapes)`` takes the NaFlex
processor's outputs as they are: (B, max_num_patches, p*p*C) patches, valid ones first,
a (B, max_num_patches) mask and (B, 2) patch grids (h, w); it returns the last hidden
state in transformers' padded layout (padded rows computed as transformers does: their
position is the first grid cell's, they attend to the image's valid patches), or with
``packed=True`` only the valid patches, every image's concatenated, from one packed
sequence in which each image attends only to itself. The pooling head is not loaded.
"""

from __future__ import annotations

import math
from functools import partial

import torch
import torch.nn.functional as F

from ..errors import ShapeError
from .navit import NaViTConfig, NaViTEncoder, navit_config, navit_state_dict
from .towers import TowerFamily, register_tower


def resized_positions(table: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(side*side, D) learned positions -> (h*w, D) for an h x w grid (SigLIP2's resize)."""
    side = math.isqrt(table.shape[0])
    grid = table.float().reshape(side, side, -1).permute(2, 0, 1).unsqueeze(0)
    out = F.interpolate(grid, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
    return out.reshape(table.shape[-1], h * w).transpose(0, 1).to(table.dtype)


class Siglip2Encoder(NaViTEncoder):
    """SigLIP2 NaFlex tower truncated at ``feature_layer`` (see ``base.VisionEncoder``)."""

    def position_rows(self, h: int, w: int) -> torch.Tensor:
        return resized_positions(self.pos_embed, h, w)

    def patch_vectors(self, pixels: torch.Tensor) -> torch.Tensor:
        """(..., C, H, W) -> (..., h*w, p*p*C): the NaFlex processor's order."""
        *lead, C, H, W = pixels.shape
        p = self.patch_size
        x = pixels.reshape(*lead, C, H // p, p, W // p, p)
        n = len(lead)
        x = x.permute(*range(n), n + 1, n + 3, n + 2, n + 4, n)
        return x.reshape(*lead, (H // p) * (W // p), p * p * C)

    def _grids(self, pixel_values, pixel_attention_mask, spatial_shapes) -> tuple[list[tuple[int, int]], torch.Tensor]:
        """The checked (h, w) grid of every image and the (B, N) bool mask."""
        width = self.num_channels * self.patch_size**2
        if not isinstance(pixel_values, torch.Tensor) or pixel_values.dim() != 3 or pixel_values.shape[-1] != width:
            shown = tuple(pixel_values.shape) if isinstance(pixel_values, torch.Tensor) else type(pixel_values).__name__
            raise ShapeError(f"{self.family}: pixel_values must be (images, patches, {width}), got {shown}")
        B, N, _ = pixel_values.shape
        shapes = torch.as_tensor(spatial_shapes)
        mask = torch.as_tensor(pixel_attention_mask)
        if shapes.shape != (B, 2) or mask.shape != (B, N):
            raise ShapeError(
                f"{self.family}: spatial_shapes {tuple(shapes.shape)} and pixel_attention_mask {tuple(mask.shape)} "
                f"must be ({B}, 2) and ({B}, {N}) for pixel_values of shape {tuple(pixel_values.shape)}"
            )
        grids = [(int(h), int(w)) for h, w in shapes.tolist()]
        mask = mask.to(self.pos_embed.device).bool()
        for i, (h, w) in enumerate(grids):
            if h < 1 or w < 1 or h * w > N:
                raise ShapeError(f"{self.family}: image {i}: spatial shape {h}x{w} outside 1..{N} patches")
        return grids, mask

    def forward_naflex(
        self,
        pixel_values: torch.Tensor,
        pixel_attention_mask: torch.Tensor,
        spatial_shapes: torch.Tensor,
        *,
        packed: bool = False,
    ) -> torch.Tensor:
        """(B, N, D) like transformers' ``last_hidden_state``, or with ``packed`` the
        valid patches of every image, concatenated: (sum h*w, D)."""
        grids, mask = self._grids(pixel_values, pixel_attention_mask, spatial_shapes)
        if packed:
            counts = mask.sum(dim=1).tolist()
            leading = all(bool(mask[i, :n].all()) for i, n in enumerate(counts))
            if counts != [h * w for h, w in grids] or not leading:
                raise ShapeError(
                    f"{self.family}: the mask's valid patches per image {counts} must be the first h*w patches of "
                    f"spatial_shapes {grids} (the NaFlex processor's layout)"
                )
            patches = pixel_values.to(mask.device)[mask]
            return self.forward_packed(patches, [(1, h, w) for h, w in grids])
        B, N, _ = pixel_values.shape
        weight = self.patch_embed.weight
        x = self.patch_embed(pixel_values.to(weight.device, weight.dtype))
        pos = torch.empty_like(x)
        for i, (h, w) in enumerate(grids):
            rows = self.position_rows(h, w)
            pos[i, : h * w] = rows
            pos[i, h * w :] = rows[0]
        return self.run_padded(x + pos, mask)


def _build(cfg: NaViTConfig, depth: int, options) -> Siglip2Encoder:
    return Siglip2Encoder(cfg, depth)


register_tower(TowerFamily(
    name="siglip2", model_types=("siglip2_vision_model",), parents=("siglip2",),
    anchor="embeddings.patch_embedding.weight", feature_layer=-1,  # last_hidden_state: the post-normed last layer
    read_config=partial(navit_config, "siglip2", grid_from="num_patches"), convert=navit_state_dict, build=_build,
))

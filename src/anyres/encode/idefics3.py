"""The Idefics3 / SmolVLM vision tower (``Idefics3VisionTransformer``,
``SmolVLMVisionTransformer``: the same module under two names).

A SigLIP ViT (``navit.py``) whose learned ``side x side`` position table (side =
image_size // patch_size) serves any h x w patch grid by bucketing: patch row i of h
sits at the fractional coordinate i / h (float32, clamped below 1), and its table row is
the number of boundaries k / side (k = 1 .. side-1) at or below it; likewise for columns.
A grid equal to the table maps onto it one to one.

transformers' padded layout (``forward_masked``): a batch padded to one size with a
``patch_attention_mask`` (B, h, w); the valid patches' grid is counted from the mask's
first column and first row, padded patches take position 0 and are masked as keys.
The connector (pixel shuffle by ``scale_factor``, then a bias-free linear) is the token
stage's (``anyres.tokens``: the ``idefics3`` strategy's connector, its weights read from
``connector.modality_projection``).
"""

from __future__ import annotations

from functools import partial

import torch

from ..errors import ShapeError
from .navit import NaViTConfig, NaViTEncoder, navit_config, navit_state_dict
from .towers import TowerFamily, register_tower


def bucket_position_ids(patch_mask: torch.Tensor, side: int) -> torch.Tensor:
    """(B, h, w) bool mask of valid patches -> (B, h*w) rows of the side x side table,
    transformers' ``Idefics3VisionEmbeddings`` rule step for step (0 where the mask is off)."""
    B, h, w = patch_mask.shape
    device = patch_mask.device
    boundaries = torch.arange(1 / side, 1.0, 1 / side, device=device)
    rows_valid, cols_valid = patch_mask[:, :, 0].sum(dim=1), patch_mask[:, 0, :].sum(dim=1)
    frac_h = torch.arange(h, device=device, dtype=torch.float32)[None, :] * (1.0 / rows_valid)[:, None]
    frac_w = torch.arange(w, device=device, dtype=torch.float32)[None, :] * (1.0 / cols_valid)[:, None]
    bucket_h = torch.bucketize(frac_h.clamp(max=1.0 - 1e-6), boundaries, right=True)
    bucket_w = torch.bucketize(frac_w.clamp(max=1.0 - 1e-6), boundaries, right=True)
    ids = (bucket_h[:, :, None] * side + bucket_w[:, None, :]).reshape(B, -1)
    return torch.where(patch_mask.reshape(B, -1), ids, torch.zeros_like(ids))


class Idefics3Encoder(NaViTEncoder):
    """Idefics3 / SmolVLM tower truncated at ``feature_layer`` (see ``base.VisionEncoder``)."""

    def position_rows(self, h: int, w: int) -> torch.Tensor:
        full = torch.ones(1, h, w, dtype=torch.bool, device=self.pos_embed.device)
        return self.pos_embed[bucket_position_ids(full, self.cfg.position_side)[0]]

    def patch_vectors(self, pixels: torch.Tensor) -> torch.Tensor:
        """(..., C, H, W) -> (..., h*w, C*p*p): the convolution's (C, p, p) order."""
        *lead, C, H, W = pixels.shape
        p = self.patch_size
        x = pixels.reshape(*lead, C, H // p, p, W // p, p)
        n = len(lead)
        x = x.permute(*range(n), n + 1, n + 3, n, n + 2, n + 4)
        return x.reshape(*lead, (H // p) * (W // p), C * p * p)

    def forward_masked(
        self, pixel_values: torch.Tensor, patch_attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """transformers' ``vision_model(pixel_values, patch_attention_mask).last_hidden_state``:
        (B, C, H, W) pixels padded to one size and a (B, H//p, W//p) mask of valid patches
        (None: all valid) -> (B, h*w, D), padded rows included."""
        B, C, H, W = self.check_views(pixel_values)
        p = self.patch_size
        h, w = H // p, W // p
        if patch_attention_mask is None:
            patch_attention_mask = torch.ones(B, h, w, dtype=torch.bool)
        mask = torch.as_tensor(patch_attention_mask).to(self.pos_embed.device).bool()
        if mask.shape != (B, h, w):
            raise ShapeError(
                f"{self.family}: patch_attention_mask of shape {tuple(mask.shape)}, the pixels need {(B, h, w)}"
            )
        if not bool(mask[:, 0, 0].all()):
            raise ShapeError(f"{self.family}: every image needs a valid first patch (its valid grid starts top left)")
        weight = self.patch_embed.weight
        pixels = pixel_values[..., : h * p, : w * p].to(weight.device, weight.dtype)
        x = self.patch_embed(self.patch_vectors(pixels))
        x = x + self.pos_embed[bucket_position_ids(mask, self.cfg.position_side)]
        return self.run_padded(x, mask.reshape(B, -1))


def _build(cfg: NaViTConfig, depth: int, options) -> Idefics3Encoder:
    return Idefics3Encoder(cfg, depth)


register_tower(TowerFamily(
    name="idefics3", model_types=("idefics3_vision", "smolvlm_vision"), parents=("idefics3", "smolvlm"),
    anchor="embeddings.patch_embedding.weight", feature_layer=-1,  # the connector reads the post-normed last layer
    read_config=partial(navit_config, "idefics3"), convert=navit_state_dict, build=_build,
    block_key=r"^blocks\.(\d+)\.",
))

"""anyres.encode: vision encoders (CLIP, SigLIP, Qwen2-VL, Qwen2.5-VL, Qwen3-VL, Idefics3/SmolVLM,
SigLIP2 NaFlex, InternViT, Pixtral) over views of any size.

Imports torch; ``import anyres`` does not import this package.

    encoder = load_encoder("path/to/model-folder")            # see load.py
    feats = encoder.forward_features(pixel_values)            # (views, tokens, width)
    per_view = encoder.forward_views([view_a, view_b])        # mixed shapes, one packed pass
    tokens = encoder.forward_packed(patches, grid_thw)        # transformers' Qwen2-VL layout
    hidden = encoder.forward_naflex(pixel_values, pixel_attention_mask, spatial_shapes)  # SigLIP2

The interface is documented in ``base.py``.
"""

from __future__ import annotations

from ..errors import CheckpointError
from .attention import block_diagonal_mask, packed_attention
from .base import DeepstackOutput, EncoderOutput, VisionEncoder, patchify
from .clip import ClipEncoder, ViTConfig, clip_state_dict
from .config import ConfigLimits
from .idefics3 import Idefics3Encoder, bucket_position_ids
from .internvit import InternViTConfig, InternViTEncoder, internvit_state_dict
from .load import load_encoder
from .navit import NaViTConfig, NaViTEncoder
from .pixtral import PixtralConfig, PixtralEncoder, pixtral_state_dict
from .posembed import resample_abs_pos_embed
from .qwen2_5_vl import Qwen2_5VLConfig, Qwen2_5VLEncoder, window_order
from .qwen2_vl import Qwen2VLConfig, Qwen2VLEncoder, qwen2_vl_state_dict
from .qwen3_vl import Qwen3VLConfig, Qwen3VLEncoder, interpolated_positions
from .rope import apply_rope, block_positions, packed_positions, rope_2d, rope_axial
from .siglip2 import Siglip2Encoder, resized_positions

__all__ = [
    "CheckpointError",
    "ClipEncoder",
    "ConfigLimits",
    "DeepstackOutput",
    "EncoderOutput",
    "Idefics3Encoder",
    "NaViTConfig",
    "NaViTEncoder",
    "InternViTConfig",
    "InternViTEncoder",
    "PixtralConfig",
    "PixtralEncoder",
    "Qwen2_5VLConfig",
    "Qwen2_5VLEncoder",
    "Qwen2VLConfig",
    "Qwen2VLEncoder",
    "Qwen3VLConfig",
    "Qwen3VLEncoder",
    "Siglip2Encoder",
    "ViTConfig",
    "VisionEncoder",
    "apply_rope",
    "block_diagonal_mask",
    "bucket_position_ids",
    "clip_state_dict",
    "block_positions",
    "interpolated_positions",
    "internvit_state_dict",
    "load_encoder",
    "packed_attention",
    "packed_positions",
    "patchify",
    "pixtral_state_dict",
    "qwen2_vl_state_dict",
    "resample_abs_pos_embed",
    "resized_positions",
    "rope_2d",
    "rope_axial",
    "window_order",
]

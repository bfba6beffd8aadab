"""anyres.tokens: from encoder features to the visual tokens a language model consumes.

Compression (``compress``, ``merger``, ``resampler``), pruning and merging (``prune``,
``merge``), assembly in the plan's layout (``assemble``), projectors (``project``) and
Qwen2-VL M-RoPE position ids (``mrope``). This package imports torch; ``import anyres``
does not import it.
"""

from __future__ import annotations

from .assemble import Assembler, assemble, token_grid
from .compress import (
    area_resize,
    avg_pool,
    bilinear_resize,
    depth_to_space,
    idefics3_pixel_shuffle,
    pixel_shuffle,
    pixel_unshuffle,
    shrink_to_max_views,
    space_to_depth,
    split_tiles,
    stitch_tiles,
)
from .merge import bipartite_matches, tome_merge
from .merger import PatchMerger, SpatialMerger, block_order
from .mrope import mrope_position_ids, rope_index, spans_from_ids
from .project import LinearProjector, MLPProjector, NormMLPProjector, build_projector, load_projector
from .prune import importance, iqr_outliers, keep_count, prumerge, text_guided_topk, topk_tokens, visionzip
from .resampler import Resampler, sincos_2d
from ..plan.connector import query_grid
from .packing import ASSEMBLY, follow_layout, per_view, register_assembly
from .sequence import NEWLINE_ROW, VISUAL_ROW, KeptTokens, VisualSequence, grid_positions

__all__ = [
    "ASSEMBLY",
    "Assembler",
    "KeptTokens",
    "LinearProjector",
    "MLPProjector",
    "NEWLINE_ROW",
    "NormMLPProjector",
    "PatchMerger",
    "SpatialMerger",
    "Resampler",
    "VISUAL_ROW",
    "VisualSequence",
    "area_resize",
    "assemble",
    "avg_pool",
    "follow_layout",
    "per_view",
    "register_assembly",
    "bilinear_resize",
    "bipartite_matches",
    "block_order",
    "build_projector",
    "depth_to_space",
    "grid_positions",
    "idefics3_pixel_shuffle",
    "importance",
    "iqr_outliers",
    "keep_count",
    "load_projector",
    "mrope_position_ids",
    "pixel_shuffle",
    "pixel_unshuffle",
    "prumerge",
    "query_grid",
    "rope_index",
    "shrink_to_max_views",
    "sincos_2d",
    "space_to_depth",
    "spans_from_ids",
    "split_tiles",
    "stitch_tiles",
    "text_guided_topk",
    "token_grid",
    "tome_merge",
    "topk_tokens",
    "visionzip",
]

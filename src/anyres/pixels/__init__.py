"""anyres.pixels: execute plans on images; the tensors a vision encoder expects.

``preprocess(images, preset)`` (``anyres.pixels.preprocessing``) loads each image safely,
plans it, renders its views with the reference's filters and order of operations,
rescales and normalises them, and returns a shape-grouped batch (``output="anyres"``),
the transformers processor's own output (``output="hf"``, ``processor_outputs``) or
one packed patch sequence (``output="packed"``).
"""

from __future__ import annotations

from .batch import PackedBatch, PixelBatch, ViewGroup, allocate_groups, allocate_packed, pack
from .execute import render_views
from .outputs import OUTPUTS, Allocation
from .preprocessing import preprocess
from .processor_outputs import HF_OUTPUTS, allocate_hf, register_hf_output

__all__ = [
    "Allocation",
    "HF_OUTPUTS",
    "OUTPUTS",
    "PackedBatch",
    "PixelBatch",
    "ViewGroup",
    "allocate_groups",
    "allocate_hf",
    "allocate_packed",
    "pack",
    "preprocess",
    "register_hf_output",
    "render_views",
]

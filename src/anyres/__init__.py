"""anyres: images of any resolution and aspect ratio into the visual tokens a VLM consumes.

``import anyres`` is light: the planning layer is pure Python; heavy packages load only
in the functions that need them.
"""

from __future__ import annotations

from . import plan as _plan_module
from .errors import AnyresError, ArgumentTypeError, CheckpointError, ImageError, PlanError, ShapeError, SpecError, WorkerError
from .plan import (
    Box,
    Layout,
    PixelSettings,
    Plan,
    Preset,
    Size,
    View,
    get_preset,
    image_size,
    plan_many,
    presets,
    register_preset,
    register_strategy,
    unregister_strategy,
)

# ``anyres.plan`` is both the planning package and, because the module is callable,
# the planning function: ``anyres.plan((1000, 600), "llava-next")``.
plan = _plan_module

__version__ = "0.1.0"

# AutoImageProcessor / AutoProcessor load a saved AnyresImageProcessor config (registered once
# transformers' auto module is imported; nothing is imported here)
from . import hf_auto as _hf_auto  # noqa: E402

_hf_auto.install()

_LAZY = {
    "preprocess": ("anyres.pixels", "preprocess"),
    "render_views": ("anyres.pixels", "render_views"),
    "PixelBatch": ("anyres.pixels", "PixelBatch"),
    "PackedBatch": ("anyres.pixels", "PackedBatch"),
    "ShapeGroupedBatchSampler": ("anyres.pixels.sampler", "ShapeGroupedBatchSampler"),
    "ResolutionSchedule": ("anyres.pixels.sampler", "ResolutionSchedule"),
    "load_image": ("anyres.image", "load_image"),
    "probe": ("anyres.image", "probe"),
    "load_encoder": ("anyres.encode", "load_encoder"),
    "VisionPipeline": ("anyres.pipeline", "VisionPipeline"),
    "VisualTokens": ("anyres.pipeline", "VisualTokens"),
}


def __getattr__(name: str):
    """Pixel-side names load numpy and Pillow only when first used."""
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'anyres' has no attribute {name!r}")

__all__ = [
    *_LAZY,
    "AnyresError",
    "Box",
    "ArgumentTypeError",
    "CheckpointError",
    "ImageError",
    "Layout",
    "PixelSettings",
    "Plan",
    "PlanError",
    "Preset",
    "ShapeError",
    "Size",
    "SpecError",
    "WorkerError",
    "View",
    "get_preset",
    "image_size",
    "plan",
    "plan_many",
    "presets",
    "register_preset",
    "register_strategy",
    "unregister_strategy",
]

"""anyres: images of any resolution and aspect ratio into the visual tokens a VLM consumes.

``import anyres`` is light: the planning layer is pure Python; heavy packages load only
in the functions that need them.
"""

from __future__ import annotations

from . import plan as _plan_module
from .errors import AnyresError, ImageError, PlanError, SpecError
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
    presets,
    register_preset,
    register_strategy,
)

# ``anyres.plan`` is both the planning package and, because the module is callable,
# the planning function: ``anyres.plan((1000, 600), "llava-next")``.
plan = _plan_module

__version__ = "0.1.0"

__all__ = [
    "AnyresError",
    "Box",
    "ImageError",
    "Layout",
    "PixelSettings",
    "Plan",
    "PlanError",
    "Preset",
    "Size",
    "SpecError",
    "View",
    "get_preset",
    "image_size",
    "plan",
    "presets",
    "register_preset",
    "register_strategy",
]

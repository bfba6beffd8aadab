"""The resolution strategies, each a pure function from an image size to views."""

from __future__ import annotations

from .anyres_tiling import LLAVA_NEXT
from .aria import ARIA
from .budget import BUDGET
from .common import Strategy
from .fixed import DYNAMIC, FIXED, FIXED_CROP, FIXED_PAD
from .gpt4v import GPT4V
from .idefics2 import IDEFICS2
from .idefics3 import IDEFICS3
from .internvl import INTERNVL
from .naflex import SIGLIP2_NAFLEX
from .native import QWEN2_VL
from .ovis2 import OVIS2
from .minicpmv4_6 import MINICPMV4_6
from .hunyuan_vl import HUNYUAN_VL
from .deepseek_ocr2 import DEEPSEEK_OCR2
from .deepseek_vl import DEEPSEEK_VL
from .fit_canvas import LLAMA4, MLLAMA
from .gemma4 import GEMMA4
from .pan_and_scan import PAN_AND_SCAN
from .pixtral import PIXTRAL
from .s2 import S2
from .slicing import SLICING
from ...errors import SpecError

STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (FIXED, FIXED_PAD, FIXED_CROP, DYNAMIC, LLAVA_NEXT, INTERNVL, QWEN2_VL, IDEFICS3, SLICING, GPT4V, S2, BUDGET)
}
STRATEGIES.update({s.name: s for s in (PAN_AND_SCAN, PIXTRAL, MLLAMA, LLAMA4, GEMMA4)})
STRATEGIES.update({s.name: s for s in (IDEFICS2, SIGLIP2_NAFLEX, ARIA)})
STRATEGIES.update({s.name: s for s in (OVIS2, MINICPMV4_6, HUNYUAN_VL, DEEPSEEK_OCR2, DEEPSEEK_VL)})  # families


def register_strategy(strategy: Strategy, *, replace_existing: bool = False) -> Strategy:
    """Add a user strategy (then ``register_preset(name, strategy.name, ...)``).

    A name already registered is refused unless ``replace_existing=True``; either way
    the cache of resolved specs is cleared, so no plan is made with a stale strategy.
    """
    if not isinstance(strategy, Strategy):
        raise SpecError(f"register_strategy takes a Strategy, got {type(strategy).__name__}")
    name = strategy.name
    if not isinstance(name, str) or not name or "(" in name or "," in name:
        raise SpecError(f"invalid strategy name {name!r}")
    if name in STRATEGIES and not replace_existing:
        raise SpecError(f"strategy {name!r} is already registered (pass replace_existing=True)")
    STRATEGIES[name] = strategy
    _clear_resolved()
    return strategy


def unregister_strategy(name: str) -> None:
    """Remove a strategy. Refused (``SpecError``) while a registered preset uses it:
    unregister those presets first. An unknown name is ignored, as
    ``unregister_preset`` ignores one."""
    from ..registry import _PRESETS

    users = [p.name for p in _PRESETS.values() if p.strategy == name]
    if users:
        raise SpecError(f"strategy {name!r} is used by presets {', '.join(users)}: unregister them first")
    STRATEGIES.pop(name, None)
    _clear_resolved()


def _clear_resolved() -> None:
    from ..registry import resolve

    resolve.cache_clear()


__all__ = ["STRATEGIES", "Strategy", "register_strategy", "unregister_strategy"]

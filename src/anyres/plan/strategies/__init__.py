"""The resolution strategies, each a pure function from an image size to views."""

from __future__ import annotations

from .anyres_tiling import LLAVA_NEXT
from .budget import BUDGET
from .common import Strategy
from .fixed import DYNAMIC, FIXED, FIXED_CROP, FIXED_PAD
from .gpt4v import GPT4V
from .idefics3 import IDEFICS3
from .internvl import INTERNVL
from .native import QWEN2_VL
from .s2 import S2
from .slicing import SLICING

STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (FIXED, FIXED_PAD, FIXED_CROP, DYNAMIC, LLAVA_NEXT, INTERNVL, QWEN2_VL, IDEFICS3, SLICING, GPT4V, S2, BUDGET)
}


def register_strategy(strategy: Strategy) -> None:
    """Add a user strategy (then ``register_preset(name, strategy.name, ...)``)."""
    STRATEGIES[strategy.name] = strategy


__all__ = ["STRATEGIES", "Strategy", "register_strategy"]

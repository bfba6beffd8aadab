"""Parameters in the shapes transformers' preprocessor_config.json gives them.

``size={"height": 896, "width": 896}``, ``size={"longest_edge": 1540}``,
``patch_size={"height": 16, "width": 16}`` or ``patch_size=16``: each reader checks the
shape and returns plain ints, so that a strategy states its geometry on integers.
"""

from __future__ import annotations

from typing import Any, Mapping

from ...errors import SpecError


def _positive(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError(f"{what} must be a positive integer, got {value!r}")
    return value


def height_width(value: Any, name: str = "size") -> tuple[int, int]:
    """``{"height": h, "width": w}`` (or an int S for S x S) as (height, width)."""
    if isinstance(value, Mapping):
        if set(value) != {"height", "width"}:
            raise SpecError(f"parameter {name} must be {{'height': int, 'width': int}}, got {dict(value)!r}")
        return _positive(value["height"], f"{name}['height']"), _positive(value["width"], f"{name}['width']")
    side = _positive(value, name)
    return side, side


def longest_edge_box(value: Any, name: str = "size") -> tuple[int, int]:
    """The (max height, max width) box of a ``{"longest_edge": L}`` or
    ``{"height": h, "width": w}`` size (Pixtral reads either); an int L means L x L."""
    if isinstance(value, Mapping):
        if set(value) == {"longest_edge"}:
            side = _positive(value["longest_edge"], f"{name}['longest_edge']")
            return side, side
        if set(value) == {"height", "width"}:
            return height_width(value, name)
        raise SpecError(
            f"parameter {name} must be {{'longest_edge': int}} or {{'height': int, 'width': int}}, got {dict(value)!r}"
        )
    side = _positive(value, name)
    return side, side


def square_side(value: Any, name: str) -> int:
    """A patch size given as an int or as ``{"height": p, "width": p}`` (square only)."""
    h, w = height_width(value, name)
    if h != w:
        raise SpecError(f"parameter {name} must be square, got {h}x{w}")
    return h

"""Checking a checkpoint's ``config.json`` before anything is built from it.

A config drives allocation: ``num_hidden_layers`` blocks, ``hidden_size`` x
``intermediate_size`` matrices, ``(image_size / patch_size)^2`` position rows. Every
field a tower reads is checked here, once, for its type (integers are integers, not
bools or strings; floats are finite), its range (positive, at most the bound in
``ConfigLimits``) and its consistency with the other fields (heads divide the width,
the native grid holds at least one patch, 2-D RoPE gets a head width divisible by 4),
so that a hostile or corrupt config ends in one ``CheckpointError`` naming the field,
its value and the limit, in milliseconds and before any module or weight is touched.

``ConfigLimits`` holds every bound in one place. The defaults are far above every
released CLIP, SigLIP and Qwen2-VL tower (the widest, SigLIP so400m, has width 1152
and 27 layers; Qwen2-VL's merger projects to at most 8192); pass your own
``load_encoder(..., limits=ConfigLimits(num_layers=...))`` to load something larger.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CheckpointError


@dataclass(frozen=True)
class ConfigLimits:
    """Upper bounds on the sizes a checkpoint config may ask for (all inclusive)."""

    num_layers: int = 1000  # num_hidden_layers / depth
    hidden_size: int = 65536  # hidden_size, embed_dim (token width)
    intermediate_size: int = 262144  # MLP width (also embed_dim * mlp_ratio)
    num_heads: int = 1024
    image_size: int = 16384  # the native side a ViT was trained at, in pixels
    patch_size: int = 1024
    num_channels: int = 64
    merge_size: int = 16  # Qwen2-VL spatial_merge_size
    temporal_patch_size: int = 64
    mlp_ratio: float = 64.0
    # The tower's weights, estimated from the config (layers x (4 d^2 + 2 d i) + embeddings).
    parameters: int = 50_000_000_000


DEFAULT_LIMITS = ConfigLimits()


class FieldReader:
    """Typed, bounded reads of one tower config; every failure names the folder and field."""

    def __init__(self, cfg: dict, folder: Path, limits: ConfigLimits, prefix: str = ""):
        self.cfg, self.folder, self.limits, self.prefix = cfg, folder, limits, prefix

    def fail(self, name: str, value: Any, requirement: str) -> CheckpointError:
        shown = repr(value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        return CheckpointError(f"{self.folder}: config field {self.prefix}{name}={shown} {requirement}")

    def integer(self, *names: str, default: int, limit: int) -> int:
        """The first of ``names`` present: an integer in 1..limit (a list of one repeated
        value, as some configs write per-axis sizes, counts as that value)."""
        for name in names:
            if name not in self.cfg:
                continue
            value = self.cfg[name]
            if isinstance(value, (list, tuple)) and value and all(_is_int(v) for v in value) and len(set(value)) == 1:
                value = value[0]
            if not _is_int(value) or not 1 <= value <= limit:
                raise self.fail(name, value, f"must be an integer in 1..{limit}")
            return value
        return default

    def number(self, name: str, default: float, low: float, high: float, *, low_open: bool = True) -> float:
        """A finite real number in (low, high] (``low_open``) or [low, high]."""
        value = self.cfg.get(name, default)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        ok = ok and (value > low if low_open else value >= low) and value <= high
        if not ok:
            bracket = "(" if low_open else "["
            raise self.fail(name, value, f"must be a finite number in {bracket}{low:g}, {high:g}]")
        return float(value)

    def flag(self, name: str, default: bool) -> bool:
        """A JSON boolean (not 0/1, not a string)."""
        value = self.cfg.get(name, default)
        if not isinstance(value, bool):
            raise self.fail(name, value, "must be true or false")
        return value

    def choice(self, name: str, default: str, known) -> str:
        value = self.cfg.get(name, default)
        if not isinstance(value, str) or value not in known:
            raise self.fail(name, value, f"is not supported (supported: {', '.join(known)})")
        return value

    def section(self, name: str) -> dict:
        """An optional nested object (``rope_parameters``): a dict, or {} when absent/null."""
        value = self.cfg.get(name)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(name, value, "must be an object")
        return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_heads(read: FieldReader, width_name: str, width: int, heads_name: str, heads: int) -> None:
    if width % heads:
        raise CheckpointError(
            f"{read.folder}: config {width_name}={width} is not divisible by {heads_name}={heads} "
            "(each attention head gets an equal share of the width)"
        )


def check_rope_heads(read: FieldReader, width_name: str, width: int, heads_name: str, heads: int) -> None:
    """Heads divide the width, and each head's width is divisible by 4 (2-D RoPE: half the
    rotary pairs per image axis)."""
    check_heads(read, width_name, width, heads_name, heads)
    if (width // heads) % 4:
        raise CheckpointError(
            f"{read.folder}: config {width_name}={width} / {heads_name}={heads} gives heads of width "
            f"{width // heads}; the 2-D RoPE of the Qwen and Pixtral towers needs a head width divisible by 4"
        )


def rope_theta(read: FieldReader) -> float:
    """RoPE base: ``rope_parameters.rope_theta``, else a top-level ``rope_theta``, else 10000."""
    rope = FieldReader(read.section("rope_parameters"), read.folder, read.limits, prefix="rope_parameters.")
    theta = read.number("rope_theta", 10000.0, 1.0, 1e12, low_open=False)
    return rope.number("rope_theta", theta, 1.0, 1e12, low_open=False)


def layer_indexes(read: FieldReader, name: str, default: tuple[int, ...], num_layers: int) -> tuple[int, ...]:
    """A list of distinct layer indexes, each in 0..num_layers-1."""
    value = read.cfg.get(name, default)
    ok = isinstance(value, (list, tuple)) and all(_is_int(i) and 0 <= i < num_layers for i in value)
    if not ok or len(set(value)) != len(value):
        raise read.fail(name, value, f"must be a list of layer indexes, distinct, each in 0..{num_layers - 1}")
    return tuple(value)


def check_parameters(read: FieldReader, estimate: int) -> None:
    if estimate > read.limits.parameters:
        raise CheckpointError(
            f"{read.folder}: config describes a tower of about {estimate:,} parameters, over the limit of "
            f"{read.limits.parameters:,} (ConfigLimits.parameters)"
        )


def model_type_of(config: dict, folder: Path, where: str = "config.json") -> str | None:
    """``model_type`` of a config object: a string, or None when absent."""
    value = config.get("model_type")
    if value is not None and not isinstance(value, str):
        shown = repr(value)[:80]
        raise CheckpointError(f"{folder}: {where} field model_type={shown} must be a string")
    return value

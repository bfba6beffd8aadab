"""Shared helpers for the token-stage tests: random view features of the right shapes."""

from __future__ import annotations

import torch

import anyres


def kept_cls(plan: anyres.Plan, i: int) -> int:
    """CLS rows the plan counts for view i."""
    p = plan.params
    if plan.strategy == "anyres" and p["feature_select_strategy"] == "full" and i == 0:
        return p["cls_tokens"]
    return 1 if p.get("keep_cls") else 0


def feature_rows(plan: anyres.Plan, i: int, patch: int, with_prefix: bool = False) -> int:
    v = plan.views[i]
    c = plan.connector
    if c.kind == "patch-merger" and c.factor in c.tower_merges:  # the tower merges (Qwen2-VL): its tokens
        return v.tokens
    grid = (v.size.height // patch) * (v.size.width // patch)
    cls = kept_cls(plan, i)
    return grid + (cls if cls else (1 if with_prefix else 0))


def random_features(plan: anyres.Plan, width: int, patch: int, generator: torch.Generator | None = None, with_prefix: bool = False) -> list[torch.Tensor]:
    return [
        torch.randn(feature_rows(plan, i, patch, with_prefix), width, generator=generator)
        for i in range(len(plan.views))
    ]

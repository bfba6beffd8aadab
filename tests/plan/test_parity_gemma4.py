"""Gemma 4 plans against transformers 5.23's Gemma4 size rule and prompt."""

from __future__ import annotations

import pytest

import anyres
from anyres.errors import PlanError, SpecError

from . import oracles
from .sizes import sample_sizes

SIZES = sample_sizes(2000, seed=56)


@pytest.mark.parametrize("max_soft_tokens, k, patch", [(280, 3, 16), (70, 3, 16), (1120, 2, 14)])
def test_gemma4_matches_size_rule_count_and_prompt(max_soft_tokens, k, patch):
    from transformers.models.gemma4.image_processing_pil_gemma4 import get_aspect_ratio_preserving_size
    from transformers.models.gemma4.processing_gemma4 import Gemma4Processor

    proc = oracles._bare(Gemma4Processor, boi_token="<start_of_image>", eoi_token="<end_of_image>",
                         image_token="<image_soft_token>")
    spec = f"gemma4(max_soft_tokens={max_soft_tokens}, pooling_kernel_size={k}, patch_size={patch})"
    bad, refused = [], 0
    for w, h in SIZES:
        try:
            th, tw = get_aspect_ratio_preserving_size(h, w, patch, max_soft_tokens * k * k, k)
        except ValueError:
            with pytest.raises(PlanError):
                anyres.plan((w, h), spec)
            refused += 1
            continue
        p = anyres.plan((w, h), spec)
        n = (th // patch) * (tw // patch) // (k * k)
        text = proc.replace_image_token({"num_soft_tokens_per_image": [n]}, 0)
        if p.views[0].size != (tw, th) or p.num_tokens != n or p.layout.text() != text or len(p.layout) != n + 2:
            bad.append(((w, h), p.views[0].size, (tw, th)))
    assert not bad, f"{len(bad)} of {len(SIZES)} sizes differ, first: {bad[:3]}"
    assert refused < len(SIZES) // 20


def test_gemma4_refuses_what_the_reference_refuses():
    with pytest.raises(SpecError, match="max_soft_tokens"):
        anyres.plan((100, 100), "gemma4(max_soft_tokens=100)")
    p = anyres.plan((1000, 600), "gemma4")
    assert (p.connector.kind, p.connector.factor, p.connector.patch_size) == ("pool", 3, 16)
    assert p.views[0].features == (36, 63) and p.views[0].token_grid == (12, 21) and p.num_tokens == 252

"""V2PE position ids against the authors' definition (InternVL V2PE, ``get_rope_pos_id``)."""

from __future__ import annotations

import math

import pytest
import torch

import anyres
from anyres import SpecError
from anyres.pipeline import VisualTokens
from anyres.tokens.v2pe import v2pe_next, v2pe_position_ids


def reference_v2pe(before: int, tiles: int, stride: int, after: int, tokens_per_tile: int = 256) -> torch.Tensor:
    """The V2PE paper's evaluation code restated for one image: ``before`` text tokens
    ending with <img>, ``tiles * tokens_per_tile`` context tokens, ``after`` text tokens
    starting with </img>; float32 as its linspace makes them."""
    text = torch.arange(before, dtype=torch.float32)
    last = before - 1
    small = stride / tokens_per_tile
    n = tiles * tokens_per_tile
    visual = torch.linspace(last, last + small * n, n + 1)[1:]
    last = math.ceil(float(visual[-1]))
    tail = torch.arange(after, dtype=torch.float32) + last + 1
    return torch.cat([text, visual, tail])


def _tokens(plan) -> VisualTokens:
    n = plan.num_tokens
    return VisualTokens(torch.zeros(n, 2), torch.zeros(n, 3, dtype=torch.long), torch.zeros(n, dtype=torch.int8), plan)


@pytest.mark.parametrize("stride", [1, 2, 16, 64, 256])
@pytest.mark.parametrize("size", [(448, 448), (1344, 448), (2000, 1500)])
def test_internvl_v2pe_ids_match_the_reference(stride, size):
    plan = anyres.plan(size, "internvl")
    tiles = len(plan.views)
    ids = _tokens(plan).position_ids(start=0, v2pe=stride / 256)[0]
    # the layout is <img>, the tiles' context tokens, </img>: one text token before, one after
    ref = reference_v2pe(1, tiles, stride, 1)
    assert ids.shape == ref.shape and ids.dtype == torch.float32
    # float32 linspace and our float64-then-rounded values differ by float32 rounding at most:
    # a few ulps of the largest position
    assert torch.allclose(ids, ref, rtol=0, atol=4 * torch.finfo(torch.float32).eps * float(ref.max()))
    assert ids[-1] == ref[-1]  # the text after the image resumes at the reference's integer


def test_v2pe_with_delta_one_is_the_plain_positions_and_shrinks_the_span():
    plan = anyres.plan((2000, 1500), "internvl")
    t = _tokens(plan)
    assert torch.equal(t.position_ids(start=5, v2pe=1.0), t.position_ids(start=5).float())
    assert v2pe_next(plan.layout, 1.0, 5) == 5 + len(plan.layout)
    # 13 tiles x 256 tokens at 1/256 each advance 13 positions instead of 3,328
    assert v2pe_next(plan.layout, 1 / 256, 0) == 1 + 13 + 1
    ids = v2pe_position_ids(plan.layout, 1 / 256, 0)
    assert (ids[1:] > ids[:-1]).all()  # still strictly increasing


@pytest.mark.parametrize("bad", [0, -0.5, 1.5, float("nan"), True])
def test_a_v2pe_increment_outside_zero_one_is_refused(bad):
    with pytest.raises(SpecError, match="V2PE increment"):
        _tokens(anyres.plan((448, 448), "internvl")).position_ids(v2pe=bad)


def test_v2pe_is_refused_beside_mrope():
    with pytest.raises(SpecError, match="M-RoPE"):
        _tokens(anyres.plan((448, 448), "qwen2-vl")).position_ids(v2pe=0.5)

"""VisualTokens.deepstack: a DeepStack tower's levels (forward_views(..., deepstack=True)
returning (features, levels) per view) come out with the same rows as the embeddings;
empty for other towers. The tower here is the tiny Qwen2-VL one, made to return two
levels derived from its features, so the expected rows are known exactly."""

from __future__ import annotations

from typing import NamedTuple

import pytest
import torch

from anyres.encode import load_encoder
from anyres.pipeline import VisionPipeline

from ..pixels.test_hf_parity import make_image

IMAGES = [make_image(300, 200, 1), make_image(90, 500, 2)]


class DeepstackOutput(NamedTuple):  # the shape of anyres.encode.base.DeepstackOutput
    features: torch.Tensor
    deepstack: tuple[torch.Tensor, ...]


def _with_levels(encoder):
    plain = encoder.forward_views

    def forward_views(views, *, keep_cls=False, deepstack=False):
        out = plain(views, keep_cls=keep_cls)
        return [DeepstackOutput(f, (2 * f, 3 * f)) for f in out] if deepstack else out

    encoder.deepstack_levels = 2
    encoder.forward_views = forward_views
    return encoder


@pytest.mark.parametrize("preset", ["qwen2.5-vl(max_pixels=200704)", "qwen2-vl"])
def test_deepstack_levels_follow_the_embeddings(tiny_qwen, preset):
    pipe = VisionPipeline.from_preset(preset, _with_levels(load_encoder(tiny_qwen)))
    assert pipe.assembler.out_width == pipe.encoder.hidden_size  # no projector: rows pass through unchanged
    for t in pipe(IMAGES):
        assert len(t.deepstack) == 2 and len(t) == t.plan.num_tokens
        assert torch.equal(t.deepstack[0], 2 * t.embeddings) and torch.equal(t.deepstack[1], 3 * t.embeddings)


def test_no_deepstack_for_other_towers(tiny_qwen):
    [t] = VisionPipeline.from_preset("qwen2.5-vl(max_pixels=200704)", tiny_qwen)(IMAGES[:1])
    assert t.deepstack == () and len(t) == t.plan.num_tokens
    assert t.position_ids().shape == (3, len(t.plan.layout)) == (3, len(t) + 2)

"""Token reducers in the spec through the pipeline: every preset, with a tiny random
tower, gives exactly plan.num_tokens rows for each reducer; pooling keeps the layout's
view order and newline rows."""

from __future__ import annotations

import pytest
import torch

import anyres
from anyres.errors import SpecError
from anyres.pipeline import VisionPipeline
from anyres.tokens import NEWLINE_ROW

from .test_properties import _NO_TOWER, _spec

REDUCED = ("+pool(2)", "+visionzip(keep=16)", "+tome(r=0.5)", "+prumerge", "+pool(2)+visionzip(keep=0.25)",
           "+matryoshka(100)", "+vitar(5)")
SIZES = ((1000, 600), (300, 900), (57, 41))
_PIPES: dict = {}


def _pipe(spec, tiny_clip, tiny_qwen):
    merging = anyres.plan.preset_connector(spec).tower_merges != (1,)  # a Qwen-style tower
    folder = tiny_qwen if merging else tiny_clip
    key = (spec, str(folder))
    if key not in _PIPES:
        _PIPES[key] = VisionPipeline.from_preset(spec, folder, packing="single")
    return _PIPES[key]


@pytest.mark.parametrize("reducers", REDUCED)
@pytest.mark.parametrize("preset", anyres.presets())
def test_every_reducer_on_every_preset_keeps_the_token_invariant(preset, reducers, tiny_clip, tiny_qwen):
    if preset in _NO_TOWER:
        pytest.skip(_NO_TOWER[preset])
    spec = _spec(preset) + reducers  # on the tiny towers' 14 px patches
    gen = torch.Generator().manual_seed(0)
    for size in SIZES:
        try:
            plan = anyres.plan(size, spec)
        except SpecError as exc:  # pool on a region without a grid says so
            assert any(m in str(exc) for m in ("pool needs a token grid", "pools a token grid", "merges"))
            return
        except anyres.PlanError:
            continue
        pipe = _pipe(spec, tiny_clip, tiny_qwen)
        views = [torch.randn(3, v.size.height, v.size.width, generator=gen) for v in plan.views]
        [out] = pipe.encode_views([plan], [views])
        assert len(out.embeddings) == plan.num_tokens == plan.layout.num_visual
        assert plan.num_tokens <= plan.unreduced.num_tokens
        assert (out.kind == NEWLINE_ROW).sum().item() == plan.newline_tokens
        assert plan.num_tokens == sum(v.tokens for v in plan.views) + plan.newline_tokens
        assert out.position_ids().shape[-1] == len(plan.layout)
        if reducers == "+pool(2)":  # every pooled row comes from the view the layout says
            order = [s.view for s in plan.layout.segments if s.kind == "visual" for _ in range(s.count)]
            assert out.positions[out.kind != NEWLINE_ROW][:, 0].tolist() == order
            for i, v in enumerate(plan.views):  # positions are cells of the pooled grids
                rows = out.positions[(out.positions[:, 0] == i) & (out.positions[:, 1] >= 0)]
                if len(rows):
                    assert int(rows[:, 1].max()) < v.token_grid[0] and int(rows[:, 2].max()) < v.token_grid[1]


def test_pool_on_llava_next_matches_pooling_the_unreduced_tokens(tiny_clip):
    # the seed: AnyRes with 2x2 pooling is 5 x 144 = 720 tokens (1344x336, 1x4 pinpoint, no newlines)
    spec = "llava-next(image_grid_pinpoints=((336, 1344),), image_newline=False)"
    plan = anyres.plan((1344, 336), spec + "+pool(2)")
    assert plan.num_tokens == len(plan.layout) == 720 == 5 * 144
    assert [v.token_grid for v in plan.views] == [(12, 12)] * 5
    gen = torch.Generator().manual_seed(1)
    views = [torch.randn(3, 336, 336, generator=gen) for _ in plan.views]
    [pooled] = VisionPipeline.from_preset(spec + "+pool(2)", tiny_clip).encode_views([plan], [views])
    [full] = VisionPipeline.from_preset(spec, tiny_clip).encode_views([plan.unreduced], [views])
    base = full.embeddings[:576].reshape(24, 24, -1)
    expect = base.reshape(12, 2, 12, 2, -1).mean(dim=(1, 3)).reshape(144, -1)
    torch.testing.assert_close(pooled.embeddings[:144], expect)  # same float32 sums, reordered: default tolerance
    stitched = full.embeddings[576:].reshape(24, 96, -1)
    expect = stitched.reshape(12, 2, 48, 2, -1).mean(dim=(1, 3)).reshape(576, -1)
    torch.testing.assert_close(pooled.embeddings[144:], expect)


def test_pooled_newlines_follow_the_pooled_rows(tiny_clip):
    plan = anyres.plan((1000, 600), "llava-next+pool(2)")
    base = plan.unreduced
    rows = base.info["unpadded_map"][0]
    assert plan.newline_tokens == -(-rows // 2)
    assert sum(1 for s in plan.layout.segments if s.kind == "newline") == plan.newline_tokens


def test_mrope_ids_of_pooled_qwen_tokens_are_their_cells(tiny_qwen):
    plan = anyres.plan((280, 196), "qwen2-vl+pool(2)")  # 7 x 10 merged tokens -> 4 x 5
    views = [torch.randn(3, v.size.height, v.size.width) for v in plan.views]
    [out] = VisionPipeline.from_preset("qwen2-vl+pool(2)", tiny_qwen).encode_views([plan], [views])
    ids = out.position_ids(start=3)
    assert ids.shape == (3, 20) and ids[0].eq(3).all()
    assert plan.views[0].token_grid == (4, 5)
    assert ids[1].tolist() == [3 + r for r in range(4) for _ in range(5)]
    assert ids[2].tolist() == [3 + c for _ in range(4) for c in range(5)]

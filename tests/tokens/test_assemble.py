"""Assembly on features that carry their own coordinates, and its error paths."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import anyres
from anyres.errors import CheckpointError, ShapeError, SpecError

from ..tolerance import assert_close_rel
from anyres.tokens import NEWLINE_ROW, Assembler, Resampler, assemble, token_grid

from .helpers import random_features


def _coordinate_features(plan, patch: int, prefix: bool = False) -> list[torch.Tensor]:
    """Each patch feature is (view, row, col) of its cell on the view's patch grid."""
    out = []
    for i, v in enumerate(plan.views):
        gh, gw = v.size.height // patch, v.size.width // patch
        r = torch.arange(gh).repeat_interleave(gw)
        c = torch.arange(gw).repeat(gh)
        x = torch.stack([torch.full_like(r, i), r, c], dim=1).float()
        if prefix:
            x = torch.cat([torch.full((1, 3), -7.0), x])
        out.append(x)
    return out


@pytest.mark.parametrize("size", [(1000, 600), (600, 1000), (13, 2600), (336, 336), (3000, 1000)])
def test_llava_next_tokens_come_from_where_positions_say(size):
    plan = anyres.plan(size, "llava-next")
    asm = Assembler.for_plan(plan, 3)
    seq = asm(plan, _coordinate_features(plan, 14, prefix=True))
    visual = seq.kind == 0
    assert torch.equal(seq.embeddings[visual].round().long(), seq.positions[visual])
    nl = seq.kind == NEWLINE_ROW
    assert torch.equal(seq.embeddings[nl], asm.image_newline.detach().expand(int(nl.sum()), -1))
    top, left = plan.info["unpad_offset"]
    tiles = seq.positions[576:][visual[576:]]
    if len(tiles):  # the first kept cell is the unpad offset, in the tile that holds it
        cols = plan.grid[1]
        assert tiles[0].tolist() == [1 + (top // 24) * cols + left // 24, top % 24, left % 24]


@pytest.mark.parametrize("preset", ["internvl", "idefics3"])
def test_pixel_shuffled_tokens_sit_at_their_block(preset):
    plan = anyres.plan((1200, 700), preset)
    asm = Assembler.for_plan(plan, 3, projector="none", out_width=12)
    seq = asm(plan, _coordinate_features(plan, 14))
    first_cell = seq.embeddings[:, :3].round().long()  # block (r, c) starts with cell (2r, 2c)
    expect = seq.positions.clone()
    expect[:, 1:] *= 2
    assert torch.equal(first_cell, expect)
    assert token_grid(plan, 0) == ((16, 16) if preset == "internvl" else (13, 13))


def test_s2_matches_the_wrapper_by_hand():
    plan = anyres.plan((900, 700), "s2")
    feats = random_features(plan, 5, 14)
    seq = assemble(plan, feats)
    maps = []
    at = 0
    for k in (1, 2, 3):  # the wrapper: merge each scale's k x k sub-maps, area-resize, concat
        sub = torch.stack(feats[at : at + k * k]).reshape(k, k, 24, 24, 5)
        at += k * k
        whole = sub.permute(0, 2, 1, 3, 4).reshape(24 * k, 24 * k, 5).permute(2, 0, 1)[None]
        maps.append(F.interpolate(whole, size=(24, 24), mode="area")[0])
    ref = torch.cat(maps).permute(1, 2, 0).reshape(576, 15)
    # the same area resizes and concatenation in another order: float32 rounding of the values' size only
    assert_close_rel(seq.embeddings, ref, 8, "s2 assembly")
    assert seq.width == 15 and seq.positions[:, 0].eq(0).all()


def test_native_passes_merged_tokens_through():
    plan = anyres.plan((1000, 600), "qwen2-vl")
    x = torch.randn(plan.views[0].tokens, 6)
    seq = assemble(plan, [x])
    assert torch.equal(seq.embeddings, x)
    _, gh, gw = plan.info["grid_thw"]
    assert token_grid(plan, 0) == (gh // 2, gw // 2)
    assert seq.positions[-1].tolist() == [0, gh // 2 - 1, gw // 2 - 1]
    with pytest.raises(ShapeError):
        assemble(plan, [torch.randn(plan.views[0].tokens * 4, 6)])  # unmerged patches


@pytest.mark.parametrize("preset", ["minicpm-v", "llava-uhd", "gpt4v"])
def test_resampled_views_equal_a_direct_resampler_call(preset):
    plan = anyres.plan((2000, 1100), preset)
    asm = Assembler.for_plan(plan, 8, 16).eval()
    feats = random_features(plan, 8, asm.patch_size)
    with torch.no_grad():
        seq = asm(plan, feats)
        at = 0
        for i, v in enumerate(plan.views):
            res: Resampler = asm.resamplers[str(v.tokens)]
            grid = (v.size.height // asm.patch_size, v.size.width // asm.patch_size)
            # one resampler call per view vs per batch of views: float32 attention rounding of the values' size
            assert_close_rel(seq.embeddings[at : at + v.tokens], res([feats[i]], [grid])[0], 64, "resampler")
            assert seq.positions[at].tolist() == [i, 0, 0]
            at += v.tokens
    if preset == "gpt4v":
        assert sorted(asm.resamplers) == ["170", "85"]
    else:
        assert list(asm.resamplers) == ["64"]
        assert asm.resamplers["64"].pos_mode == ("interpolate" if preset == "llava-uhd" else "sincos")


def test_modules_are_required_where_the_preset_learns():
    plan = anyres.plan((800, 600), "internvl")
    with pytest.raises(SpecError):
        assemble(plan, random_features(plan, 4, 14))
    with pytest.raises(SpecError):
        assemble(anyres.plan((800, 600), "llava-next"), random_features(anyres.plan((800, 600), "llava-next"), 4, 14))
    no_newline = anyres.plan((800, 600), "llava-next(image_newline=False)")
    seq = assemble(no_newline, random_features(no_newline, 4, 14))
    assert len(seq) == no_newline.num_tokens and not (seq.kind == NEWLINE_ROW).any()


def test_input_shape_errors_name_the_view():
    plan = anyres.plan((800, 600), "llava-next")
    asm = Assembler.for_plan(plan, 4)
    feats = random_features(plan, 4, 14)
    feats[2] = feats[2][:100]
    with pytest.raises(ShapeError, match="view 2"):
        asm(plan, feats)
    with pytest.raises(ShapeError):
        asm(plan, random_features(plan, 4, 14)[:-1])
    with pytest.raises(ShapeError):
        asm(plan, [torch.randn(f.shape[0], 5) for f in random_features(plan, 4, 14)])
    with pytest.raises(SpecError):
        Assembler.for_plan("internvl", 4)(plan, random_features(plan, 4, 14))


def test_for_plan_accepts_specs_and_loads_reference_names():
    asm = Assembler.for_plan("llava-next", 8, 16)
    assert asm.projector is not None and asm.image_newline.shape == (16,)
    state = {"model.image_newline": torch.ones(16)}
    state.update({f"model.multi_modal_projector.{k}": torch.zeros_like(v) for k, v in asm.projector.state_dict().items()})
    asm.load_reference(state)
    assert torch.equal(asm.image_newline.detach(), torch.ones(16))
    with pytest.raises(CheckpointError):  # a checkpoint problem (issue #11), was SpecError
        Assembler.for_plan("llava-next", 8, 16).load_reference({"image_newline": torch.ones(3)})

"""Matryoshka Multimodal Models (M3) as a reducer: nested pooling levels chosen by a
budget, against M3's ``matryoshka_vis_token_process`` (mu-cai/matryoshka-mm
``llava_arch.py``) restated: a square H x W = HW token map, ``stride = kernel =
int(sqrt(HW / scale))``, ``avg_pool2d``, flattened row-major."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import anyres
from anyres.errors import SpecError
from anyres.pipeline import VisionPipeline


def m3_reference(features: torch.Tensor, scale: int) -> torch.Tensor:
    n, hw, c = features.shape
    side = int(hw**0.5)
    grid = features.view(n, side, side, c).permute(0, 3, 1, 2)
    stride = int(math.sqrt(hw / scale))
    pooled = F.avg_pool2d(grid, kernel_size=stride, stride=stride)
    return pooled.permute(0, 2, 3, 1).reshape(n, -1, c)


@pytest.mark.parametrize("budget, scale", [(576, 576), (200, 144), (144, 144), (36, 36), (20, 9), (9, 9), (1, 1)])
def test_matryoshka_picks_m3s_level_and_pools_as_m3(budget, scale, tiny_clip):
    spec = "fixed(size=336, patch_size=14)"  # CLIP-L/14 at 336: M3's 24 x 24 map
    plan = anyres.plan((500, 400), f"{spec}+matryoshka({budget})")
    assert plan.num_tokens == scale  # the finest of 576, 144, 36, 9, 1 within the budget
    view = torch.randn(3, 336, 336, generator=torch.Generator().manual_seed(scale))
    [out] = VisionPipeline.from_preset(f"{spec}+matryoshka({budget})", tiny_clip).encode_views([plan], [[view]])
    [full] = VisionPipeline.from_preset(spec, tiny_clip).encode_views([plan.unreduced], [[view]])
    expected = m3_reference(full.embeddings[None], scale)[0]
    torch.testing.assert_close(out.embeddings, expected)  # the same float32 means: default tolerance


def test_the_level_is_chosen_per_image_over_all_its_tokens():
    # LLaVA-NeXT: the base view and the tile map share one level; the count includes the newlines
    for budget in (2000, 700, 300, 100, 10):
        plan = anyres.plan((1000, 600), f"llava-next+matryoshka({budget})")
        k = plan.info["matryoshka"]["k"]
        assert plan.spec == f"llava-next+pool({k})"  # the resolved level reproduces the plan
        finer = anyres.plan((1000, 600), f"llava-next+pool({k // 2})") if k > 1 else None
        assert plan.num_tokens <= budget or k == max(plan.unreduced.info["unpadded_map"])
        if finer is not None:
            assert finer.num_tokens > budget  # the next finer level does not fit


def test_matryoshka_needs_a_grid_and_a_budget():
    with pytest.raises(SpecError, match="tokens must be a positive integer"):
        anyres.plan((500, 400), "fixed+matryoshka(0)")
    with pytest.raises(SpecError, match="one matryoshka"):
        anyres.plan((500, 400), "fixed+matryoshka(9)+matryoshka(4)")


def test_vitar_reducer_through_the_pipeline_is_the_cell_mean(tiny_clip):
    spec = "fixed(size=336, patch_size=14)"
    plan = anyres.plan((500, 400), spec + "+vitar(12)")
    view = torch.randn(3, 336, 336, generator=torch.Generator().manual_seed(3))
    [out] = VisionPipeline.from_preset(spec + "+vitar(12)", tiny_clip).encode_views([plan], [[view]])
    [full] = VisionPipeline.from_preset(spec, tiny_clip).encode_views([plan.unreduced], [[view]])
    expected = full.embeddings.reshape(12, 2, 12, 2, -1).mean(dim=(1, 3)).reshape(144, -1)
    torch.testing.assert_close(out.embeddings, expected)  # the same float32 means: default tolerance
    assert out.positions[:, 1:].tolist() == [[r, c] for r in range(12) for c in range(12)]

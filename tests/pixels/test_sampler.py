from __future__ import annotations

import random

import pytest

import anyres
from anyres import SpecError
from anyres.pixels.sampler import ResolutionSchedule, ShapeGroupedBatchSampler, shape_key


def _sizes(n=300, seed=0):
    rng = random.Random(seed)
    return [(rng.randint(50, 3000), rng.randint(50, 3000)) for _ in range(n)]


@pytest.mark.parametrize("preset", ["dynamic", "qwen2-vl", "internvl(max_tiles=4)", "minicpm-v"])
def test_batches_hold_one_view_shape_and_cover_everything_once(preset):
    sizes = _sizes()
    sampler = ShapeGroupedBatchSampler(sizes, preset, batch_size=8, seed=1)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(sizes)))
    for b in batches:
        assert 1 <= len(b) <= 8
        assert len({shape_key(anyres.plan(sizes[i], preset)) for i in b}) == 1
    sampler.set_epoch(1)
    assert list(sampler) != batches  # reshuffled per epoch
    sampler.set_epoch(0)
    assert list(sampler) == batches  # and reproducible


def test_drop_last_keeps_only_full_batches():
    sampler = ShapeGroupedBatchSampler(_sizes(), "qwen2-vl", batch_size=4, drop_last=True)
    assert all(len(b) == 4 for b in sampler) and len(list(sampler)) == len(sampler)


def test_resolution_schedule():
    s = ResolutionSchedule("internvl", "max_tiles", ((0, 1), (2, 4), (5, 12)))
    assert [s.value(e) for e in range(7)] == [1, 1, 4, 4, 4, 12, 12]
    assert s.spec(3) == "internvl(max_tiles=4)"
    assert anyres.plan((3000, 1000), s.spec(0)).grid is None
    assert len(anyres.plan((3000, 1000), s.spec(6)).views) > 5
    lin = ResolutionSchedule.linear("qwen2-vl(min_pixels=3136)", "max_pixels", 256 * 784, 1280 * 784, 5)
    assert lin.spec(0) == "qwen2-vl(min_pixels=3136, max_pixels=200704)"
    assert lin.value(4) == 1280 * 784
    with pytest.raises(SpecError):
        ResolutionSchedule("internvl", "max_tiles", ((1, 4),))
    with pytest.raises(SpecError):
        ResolutionSchedule("internvl", "max_tile", ((0, 4),))


def test_a_schedule_keeps_the_specs_token_reducers():
    s = ResolutionSchedule("internvl(min_tiles=1)+pool(2)+visionzip(keep=32)", "max_tiles", ((0, 1), (2, 4)))
    assert s.spec(3) == "internvl(min_tiles=1, max_tiles=4)+pool(2)+visionzip(keep=32)"
    # the scheduled spec plans with its reducers: 32 tokens a view (InternVL's views are reduced one
    # by one), 2 tiles + thumbnail here, against 3 x 256 without them
    made = anyres.plan((2000, 1000), s.spec(3))
    assert (len(made.views), made.num_tokens) == (3, 3 * 32)

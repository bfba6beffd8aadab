"""Compression ops on hand-computable inputs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from anyres.errors import ShapeError, SpecError
from anyres.plan.strategies.anyres_tiling import shrink_size
from anyres.tokens import (
    area_resize,
    avg_pool,
    bilinear_resize,
    depth_to_space,
    pixel_shuffle,
    pixel_unshuffle,
    shrink_to_max_views,
    space_to_depth,
    split_tiles,
    stitch_tiles,
)

from ..tolerance import assert_close_rel


@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_pooled_constant_map_stays_constant(k, ceil_mode):
    x = torch.full((7, 10, 3), 2.5)
    out = avg_pool(x, k, ceil_mode=ceil_mode)
    expect = (-(-7 // k), -(-10 // k)) if ceil_mode else (7 // k, 10 // k)
    assert out.shape == (*expect, 3)
    # sums of 2.5s and their division by the window's count are exact in float32
    assert_close_rel(out, torch.full_like(out, 2.5), ulps=1, what="pooled constant")


def test_avg_pool_2x2_by_hand():
    x = torch.arange(16.0).reshape(4, 4, 1)
    assert avg_pool(x, 2)[..., 0].tolist() == [[2.5, 4.5], [10.5, 12.5]]
    assert avg_pool(torch.zeros(24, 24, 5), 2).shape == (12, 12, 5)  # 576 -> 144


def test_pixel_shuffle_then_unshuffle_is_identity():
    x = torch.randn(2, 8, 12, 5)
    y = pixel_shuffle(x, 0.5)
    assert y.shape == (2, 4, 6, 20)
    torch.testing.assert_close(pixel_unshuffle(y, 0.5), x, rtol=0, atol=0)
    z = torch.randn(9, 6, 4)
    torch.testing.assert_close(depth_to_space(space_to_depth(z, 3), 3), z, rtol=0, atol=0)


def test_space_to_depth_block_order_by_hand():
    x = torch.arange(16).reshape(4, 4, 1)
    y = space_to_depth(x, 2)
    assert y[0, 0].tolist() == [0, 1, 4, 5] and y[1, 1].tolist() == [10, 11, 14, 15]


def test_shuffle_rejects_bad_shapes():
    with pytest.raises(ShapeError):
        pixel_shuffle(torch.zeros(1, 5, 4, 2), 0.5)
    with pytest.raises(SpecError):
        pixel_shuffle(torch.zeros(1, 4, 4, 2), 0.3)


def test_bilinear_resize_is_onevision_interpolate():
    x = torch.randn(30, 44, 6)
    ref = F.interpolate(x.permute(2, 0, 1)[None], [17, 25], mode="bilinear")[0].permute(1, 2, 0)
    torch.testing.assert_close(bilinear_resize(x, (17, 25)), ref, rtol=0, atol=0)
    const = torch.full((9, 13, 2), -1.0)
    # interpolation weights sum to 1 up to an ulp of rounding
    assert_close_rel(bilinear_resize(const, (4, 5)), torch.full((4, 5, 2), -1.0), ulps=2, what="constant")


def test_shrink_size_follows_anyres_max_9():
    assert shrink_size(27 * 3, 27 * 3, 9, 27) == (81, 81)  # ratio 1: kept
    assert shrink_size(162, 162, 9, 27) == (81, 81)  # ratio 2
    rows, cols = shrink_size(100, 162, 9, 27)
    assert rows * cols <= 9 * 27 * 27 * 1.1**2 and (rows, cols) == (int(100 // (100 * 162 / 6561) ** 0.5), int(162 // (100 * 162 / 6561) ** 0.5))
    x = torch.randn(162, 162, 2)
    assert shrink_to_max_views(x, 9, 27).shape == (81, 81, 2)
    small = x[:81, :81]
    assert shrink_to_max_views(small, 9, 27) is small  # within budget: untouched


def test_area_resize_of_a_doubled_map_averages_blocks():
    x = torch.randn(6, 6, 3)
    # both average the same 4 cells, perhaps summed in another order
    assert_close_rel(area_resize(x, (3, 3)), avg_pool(x, 2), ulps=4, what="area vs pool")


def test_stitch_then_split_is_identity_and_row_major():
    tiles = torch.stack([torch.full((2, 3, 1), float(i)) for i in range(6)])  # 2 rows x 3 cols of tiles
    m = stitch_tiles(tiles, 2, 3)
    assert m.shape == (4, 9, 1)
    assert m[0, :, 0].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2] and m[3, 0, 0] == 3
    assert torch.equal(split_tiles(m, 2, 3), tiles)  # a permutation: exact

"""ViTAR's adaptive token merger and fuzzy positional encoding against the paper's
definition (Fan et al. 2024, Sec. 3: GridAttention's query is the average of a grid
cell, keys and values its tokens, a residual to the query, then an FFN, steps sharing
weights; FPE adds a uniform [-0.5, 0.5] offset to each coordinate in training only),
restated in the batched form of a public reimplementation (avg-pool queries, unfold
cells)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import anyres
from anyres import SpecError
from anyres.tokens.vitar import cell_bounds, fuzzy_coordinates, merge_steps, sample_positions, vitar_merge


class Merger(torch.nn.Module):
    """GridAttention + FFN with nn.MultiheadAttention, called cell by cell by vitar_merge."""

    def __init__(self, c=8, heads=2):
        super().__init__()
        self.attn = torch.nn.MultiheadAttention(c, heads, batch_first=True)
        self.ffn = torch.nn.Sequential(torch.nn.Linear(c, 16), torch.nn.SiLU(), torch.nn.Linear(16, c))

    def forward(self, query, cell):
        return self.ffn(query + self.attn(query, cell, cell, need_weights=False)[0])


def reference_atm_step(x: torch.Tensor, merger: Merger, grid: int = 2) -> torch.Tensor:
    """One batched ATM step on an (h, w, c) map divisible by ``grid``."""
    h, w, c = x.shape
    chw = x.permute(2, 0, 1)[None]
    q = F.avg_pool2d(chw, grid).flatten(2).permute(0, 2, 1).reshape(-1, 1, c)
    cells = x.unfold(0, grid, grid).unfold(1, grid, grid)  # (h/g, w/g, c, g, g)
    kv = cells.reshape(-1, c, grid * grid).permute(0, 2, 1)
    out = merger.ffn(q + merger.attn(q, kv, kv, need_weights=False)[0])
    return out.reshape(h // grid, w // grid, c)


def test_learned_atm_steps_match_the_batched_reference():
    torch.manual_seed(0)
    merger = Merger().eval()
    x = torch.randn(8, 8, 8)
    with torch.no_grad():
        ours = vitar_merge(x, (2, 2), merger)
        ref = reference_atm_step(reference_atm_step(x, merger), merger)  # 8 -> 4 -> 2, shared weights
    # the same float32 operations on cells batched differently: ulps of the values' magnitude
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5 * float(ref.abs().max()))


def test_parameter_free_merge_is_the_cell_mean():
    x = torch.randn(24, 24, 4, dtype=torch.float64)
    # 24 -> 12: 2 x 2 cells, each its mean: average pooling
    expected = F.avg_pool2d(x.permute(2, 0, 1)[None], 2)[0].permute(1, 2, 0)
    torch.testing.assert_close(vitar_merge(x, (12, 12)), expected)
    # an odd side: 27 -> 14 cells (13 of two tokens, then one of one), no padding, no token twice
    assert merge_steps(27, 7) == [14, 7] and merge_steps(24, 24) == [] and merge_steps(5, 4) == [4]
    bounds = cell_bounds(27, 14)
    assert bounds[0] == (0, 2) and bounds[-1] == (26, 27) and sum(b - a for a, b in bounds) == 27
    y = torch.randn(27, 3, 2, dtype=torch.float64)
    out = vitar_merge(y, (14, 3))
    torch.testing.assert_close(out[0], y[0:2].mean(dim=0))
    torch.testing.assert_close(out[-1], y[26])


def test_fuzzy_positions_only_in_training():
    exact = fuzzy_coordinates(3, 5, training=False)
    assert torch.equal(exact[..., 0], torch.arange(3.0)[:, None].expand(3, 5))
    g = torch.Generator().manual_seed(0)
    fuzzy = fuzzy_coordinates(3, 5, training=True, generator=g)
    offset = fuzzy - exact
    assert offset.abs().max() <= 0.5 and offset.abs().max() > 0
    table = torch.randn(6, 4, 8)
    # at inference, a grid the table's own size reads the table exactly (bilinear at pixel centres)
    torch.testing.assert_close(sample_positions(table, fuzzy_coordinates(6, 4, training=False), (6, 4)), table)


def test_vitar_as_a_reducer_plans_target_grids():
    plan = anyres.plan((1000, 700), "fixed+vitar(12)")
    assert plan.num_tokens == 144 and plan.views[0].token_grid == (12, 12)
    assert anyres.plan((1000, 700), "fixed+vitar(30)").num_tokens == 576  # within the target: unchanged
    assert anyres.plan((1000, 700), "internvl+vitar(8)").num_tokens == 7 * 64  # each tile and the thumbnail
    with pytest.raises(SpecError, match="stitched map"):
        anyres.plan((1000, 700), "llava-next+vitar(8)")
    with pytest.raises(SpecError, match="rows must be a positive integer"):
        anyres.plan((1000, 700), "fixed+vitar(0)")

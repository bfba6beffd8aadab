"""The perceiver resampler against an oracle built from torch's nn.MultiheadAttention."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from anyres.errors import ShapeError
from anyres.tokens import Resampler, sincos_2d

from ..tolerance import assert_close_rel


def _reference_table(dim: int, rows: int, cols: int) -> np.ndarray:
    """MiniCPM-V's get_2d_sincos_pos_embed, restated: meshgrid(w, h), grid[0] (columns) first."""
    grid = np.stack(np.meshgrid(np.arange(cols, dtype=np.float32), np.arange(rows, dtype=np.float32)), axis=0)

    def one(d, pos):
        omega = np.arange(d // 2, dtype=np.float32) / (d / 2.0)
        out = np.einsum("hw,d->hwd", pos, 1.0 / 10000**omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=-1)

    return np.concatenate([one(dim // 2, grid[0]), one(dim // 2, grid[1])], axis=-1).reshape(rows * cols, dim)


@pytest.mark.parametrize("rows,cols", [(1, 1), (3, 5), (32, 32), (7, 2)])
def test_sincos_table_matches_the_reference_formula(rows, cols):
    # The reference is computed in float32: position x frequency rounds by an ulp of values up
    # to max(rows, cols), so its sin/cos (magnitude 1) carry ~max(rows, cols) ulps of error;
    # ours is float64 cast once. Budget: twice the reference's own error.
    reference = torch.from_numpy(_reference_table(16, rows, cols))
    assert_close_rel(sincos_2d(16, rows, cols), reference, ulps=2 * max(rows, cols, 4), what="sincos")


def _oracle(res: Resampler, x: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    mha = torch.nn.MultiheadAttention(res.embed_dim, res.attn.num_heads)
    mha.load_state_dict({k: v for k, v in res.attn.state_dict().items()})
    kv = res.ln_kv(res.kv_proj(x))
    q = res.ln_q(res.query)
    out, _ = mha(q[:, None], (kv + res.key_positions(rows, cols))[:, None], kv[:, None])
    return res.ln_post(out[:, 0]) @ res.proj


def test_resampler_matches_multihead_attention_and_batches_views():
    torch.manual_seed(0)
    res = Resampler(num_queries=9, embed_dim=16, num_heads=4, kv_dim=12).eval()
    with torch.no_grad():
        for p in res.parameters():
            p.add_(torch.randn_like(p) * 0.1)
        grids = [(4, 6), (2, 2), (5, 3)]
        feats = [torch.randn(h * w, 12) for h, w in grids]
        batched = res(feats, grids)
        assert batched.shape == (3, 9, 16)
        for i, (h, w) in enumerate(grids):
            # nn.MultiheadAttention vs our SDPA call: one attention and three layer norms of
            # width 16 in other kernels, a few roundings each (measured <= 2 ulps)
            assert_close_rel(batched[i], _oracle(res, feats[i], h, w), ulps=32, what="oracle")
            # batched with padded, masked keys vs alone: the masked keys add exact zeros, so
            # only the summation order differs (measured <= 2 ulps)
            assert_close_rel(batched[i], res([feats[i]], [(h, w)])[0], ulps=16, what="alone")


def test_resampler_output_depends_on_key_positions():
    torch.manual_seed(1)
    res = Resampler(4, 8, 2)
    x = torch.randn(6, 8)
    with torch.no_grad():
        a, b = res([x], [(2, 3)]), res([x], [(3, 2)])
    assert not torch.allclose(a, b)


def test_resampler_loads_minicpm_names():
    torch.manual_seed(2)
    src = Resampler(5, 8, 2, kv_dim=6)
    state = {f"resampler.{k}": v for k, v in src.state_dict().items()}
    state["resampler.pos_embed"] = torch.zeros(70, 70, 8)  # MiniCPM-V's non-persistent cache, when saved
    dst = Resampler(5, 8, 2, kv_dim=6).load_reference(state)
    x = torch.randn(12, 6)
    with torch.no_grad():
        # the same weights through the same kernels: equal up to an ulp or two of threading
        assert_close_rel(dst([x], [(3, 4)]), src([x], [(3, 4)]), ulps=4, what="loaded")


def test_llava_uhd_positions_are_an_interpolated_table():
    res = Resampler(4, 8, 2, pos_mode="interpolate", pos_grid=24)
    # at its own size the interpolation is the table itself, up to bicubic weights' rounding
    assert_close_rel(res.key_positions(24, 24), sincos_2d(8, 24, 24), ulps=8, what="native grid")
    table = sincos_2d(8, 24, 24).reshape(1, 24, 24, 8).permute(0, 3, 1, 2)
    ref = F.interpolate(table, size=(10, 30), mode="bicubic", align_corners=False).permute(0, 2, 3, 1).reshape(300, 8)
    assert_close_rel(res.key_positions(10, 30), ref, ulps=4, what="resized")  # the same interpolate call


def test_resampler_shape_errors():
    res = Resampler(4, 8, 2)
    with pytest.raises(ShapeError):
        res([torch.zeros(5, 8)], [(2, 3)])

"""Packed encoding (mixed shapes in one sequence) equals encoding each view alone; the
pure pieces (patchify, block mask, attention implementations, RoPE, position resampling)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from anyres.errors import SpecError  # noqa: E402

from anyres.encode import (  # noqa: E402
    block_diagonal_mask,
    block_positions,
    load_encoder,
    packed_attention,
    patchify,
    resample_abs_pos_embed,
    rope_2d,
)

from ..tolerance import assert_close_rel, error_in_ulps  # noqa: E402

SHAPES = [(56, 56), (28, 84), (112, 42), (14, 14), (70, 56)]
# Two float32 evaluations of a 3-block, width-64 tower that differ only in summation order
# (packed vs batched SDPA, fused vs plain adds; each CPU's kernels differ again). A dot
# product of length n may round by up to n ulps of its terms' magnitude; measured: 3-11
# ulps of the features' largest magnitude on the dev VM, ~9 on another CPU (1.0e-5 at 9.1).
PACKED_ULPS = 64


def random_views(shapes, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(3, h, w, generator=gen) for h, w in shapes]


@pytest.mark.parametrize("family", ["clip", "siglip"])
@pytest.mark.parametrize("keep_cls", [False, True])
def test_packed_views_equal_views_alone(family, keep_cls, clip_vision, siglip_vision):
    encoder = load_encoder((clip_vision if family == "clip" else siglip_vision)[0], feature_layer=-1)
    views = random_views(SHAPES)
    with torch.no_grad():
        packed = encoder.forward_views(views, keep_cls=keep_cls)
        alone = [encoder.forward_features(v[None], keep_cls=keep_cls)[0] for v in views]
    assert len(packed) == len(views)
    for (h, w), a, b in zip(SHAPES, packed, alone):
        assert a.shape == b.shape == ((h // 14) * (w // 14) + (keep_cls and family == "clip"), 64)
        # packed and batched attention sum in different orders (different SDPA kernels per
        # CPU): float32 rounding through 3 blocks of width 64, relative to the features' size
        assert_close_rel(a, b, ulps=PACKED_ULPS, what=f"{family} {h}x{w}")


def test_packed_qwen2_vl_views_equal_views_alone(qwen2_vision):
    encoder = load_encoder(qwen2_vision[0])
    shapes = [(56, 56), (28, 84), (112, 56)]
    views = random_views(shapes, seed=1)
    with torch.no_grad():
        packed = encoder.forward_views(views)
        alone = [encoder.forward_features(v[None])[0] for v in views]
    for (h, w), a, b in zip(shapes, packed, alone):
        assert a.shape == b.shape == ((h // 28) * (w // 28), 48)
        assert_close_rel(a, b, ulps=PACKED_ULPS, what=f"qwen2-vl {h}x{w}")  # as above


@pytest.mark.parametrize("impl", ["auto", "loop", "mask", "flex"])
def test_packed_attention_implementations_agree(impl):
    if impl == "flex":
        pytest.importorskip("torch.nn.attention.flex_attention")
    lengths = (5, 17, 17, 17, 1, 9, 9)  # runs of equal segments, which "auto" batches
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 2, sum(lengths), 8, generator=gen) for _ in range(3))  # 2 rows cut alike
    reference = torch.cat(
        [torch.nn.functional.scaled_dot_product_attention(a, b, c)
         for a, b, c in zip(q.split(lengths, 2), k.split(lengths, 2), v.split(lengths, 2))], dim=2
    )  # fmt: skip
    if impl == "flex":
        try:
            out = packed_attention(q, k, v, lengths, impl)
        except Exception as exc:  # no working compiler here: flex is optional, loop is the default
            pytest.skip(f"compiled flex_attention unavailable: {exc!r:.200}")
    else:
        out = packed_attention(q, k, v, lengths, impl)
    # one attention layer, segments of <= 17 keys, softmax and sums in another order (the
    # mask path adds -inf terms, flex tiles): a length-17 sum rounds by <= 17 ulps; measured <= 2
    assert_close_rel(out, reference, ulps=32, what=impl)


def test_block_diagonal_mask():
    mask = block_diagonal_mask((2, 1, 3))
    assert mask.shape == (6, 6) and mask.sum() == 4 + 1 + 9
    assert mask[0, 1] and not mask[1, 2] and mask[3, 5] and not mask[5, 0]


def test_patchify_layouts():
    view = torch.arange(3 * 4 * 6, dtype=torch.float32).reshape(3, 4, 6)
    plain = patchify(view, 2)
    assert plain.shape == (6, 12)
    assert torch.equal(plain[4], view[:, 2:4, 2:4].reshape(-1))  # row 1, col 1; (C, p, p) order
    merged = patchify(view, 1, merge_size=2, temporal_patch_size=2)
    assert merged.shape == (24, 6)
    # second merge block (rows 0-1, cols 2-3), its third patch = (row 1, col 2); t repeats the pixel
    assert merged[6].tolist() == [view[c, 1, 2].item() for c in range(3) for _ in range(2)]


def test_rope_matches_transformers():
    from transformers import Qwen2VLVisionConfig
    from transformers.models.qwen2_vl.modeling_qwen2_vl import Qwen2VLVisionRotaryEmbedding
    from transformers.vision_utils import get_vision_position_ids

    grid = torch.tensor([[1, 4, 6], [2, 2, 4]])
    ours = torch.cat([block_positions(t, h, w, 2) for t, h, w in grid.tolist()])
    assert torch.equal(ours, get_vision_position_ids(grid, 2))
    rotary = Qwen2VLVisionRotaryEmbedding(Qwen2VLVisionConfig(embed_dim=64, num_heads=4))
    cos, sin = rotary(torch.zeros(1), ours)
    our_cos, our_sin = rope_2d(ours, 16, 10000.0)
    # the same float32 formula on both sides (measured: bit-equal here); 8 ulps of magnitude 1
    # leave room for another libm's cos/sin, which may differ by an ulp or two
    assert_close_rel(our_cos, cos, ulps=8, what="cos")
    assert_close_rel(our_sin, sin, ulps=8, what="sin")


def test_resample_abs_pos_embed():
    gen = torch.Generator().manual_seed(0)
    pos = torch.randn(1, 1 + 16, 8, generator=gen)
    same = resample_abs_pos_embed(pos, (4, 4), num_prefix_tokens=1)
    assert torch.equal(same, pos)
    up = resample_abs_pos_embed(pos, (6, 8), num_prefix_tokens=1)
    assert up.shape == (1, 1 + 48, 8) and torch.equal(up[:, 0], pos[:, 0])
    # antialias only matters when some axis shrinks
    assert torch.equal(up, resample_abs_pos_embed(pos, (6, 8), num_prefix_tokens=1, antialias=False))
    down, down_aa = (resample_abs_pos_embed(pos[0, 1:], (2, 3), antialias=a) for a in (False, True))
    assert down.shape == (6, 8) and not torch.allclose(down, down_aa)
    mixed = resample_abs_pos_embed(pos[0, 1:], (2, 8), antialias=True)  # rows shrink, columns grow
    assert not torch.allclose(mixed, resample_abs_pos_embed(pos[0, 1:], (2, 8), antialias=False))
    flat = torch.arange(4.0).reshape(4, 1)  # a 2x2 grid, upsampled bicubic keeps the corners' ordering
    big = resample_abs_pos_embed(flat, (4, 4)).reshape(4, 4)
    assert big[0, 0] < big[0, 3] < big[3, 3] and big[0, 0] < big[3, 0] < big[3, 3]


def test_autograd_path_matches_the_in_place_inference_path(siglip_vision):
    encoder = load_encoder(siglip_vision[0], feature_layer=-1)
    pixels = torch.randn(2, 3, 42, 56, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        fast = encoder.forward_features(pixels)
    slow = encoder.forward_features(pixels)
    assert slow.requires_grad and not fast.requires_grad
    # in-place fused adds vs out-of-place: the same sums rounded in another order (bit-equal here)
    assert_close_rel(fast, slow, ulps=PACKED_ULPS, what="autograd vs in-place")
    slow.sum().backward()
    assert encoder.blocks[0].attn.qkv.weight.grad is not None


@pytest.mark.parametrize("impl", ["mask", "loop"])
def test_attention_implementation_is_selectable(impl, clip_vision):
    encoder = load_encoder(clip_vision[0])
    views = random_views(SHAPES[:3], seed=4)
    with torch.no_grad():
        reference = encoder.forward_views(views)
        encoder.set_packed_attention(impl)
        assert all(block.attn.impl == impl for block in encoder.blocks)
        for a, b in zip(encoder.forward_views(views), reference):
            assert_close_rel(a, b, ulps=PACKED_ULPS, what=impl)  # as in test_packed_views_equal_views_alone
    with pytest.raises(SpecError, match="unknown attention implementation"):
        encoder.set_packed_attention("magic")


def test_bfloat16_weights(clip_vision):
    full = load_encoder(clip_vision[0])
    half = load_encoder(clip_vision[0], dtype=torch.bfloat16)
    assert half.dtype == torch.bfloat16 and half.pos_embed.dtype == torch.bfloat16
    pixels = torch.randn(1, 3, 42, 70, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        a, b = full.forward_features(pixels), half.forward_features(pixels)
    assert b.dtype == torch.bfloat16
    assert (a - b.float()).abs().max() < 0.1 * a.abs().max()


def test_pos_antialias_flag_changes_only_shrunk_grids(clip_vision):
    plain = load_encoder(clip_vision[0])
    smooth = load_encoder(clip_vision[0], pos_antialias=True)
    with torch.no_grad():
        for size, differs in [((56, 56), False), ((84, 112), False), ((28, 42), True)]:
            pixels = torch.randn(1, 3, *size)
            # without a shrunk axis both run the same kernels (0 ulps); antialiasing changes the
            # position embeddings by a sizeable fraction, far above any rounding (> PACKED_ULPS)
            diff = error_in_ulps(plain.forward_features(pixels), smooth.forward_features(pixels))
            assert (diff > PACKED_ULPS) == differs, (size, diff)


def _segments(lengths=(5, 17, 17, 9), seed=1):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(1, 2, sum(lengths), 8, generator=gen) for _ in range(3)], lengths


def test_a_varlen_kernel_is_used_only_after_it_agrees_with_the_loop(monkeypatch):
    """The selection logic of "auto" on CUDA, exercised on CPU with stand-in kernels (the
    real ones are CUDA-only): a kernel that agrees with the batched loop on its first input
    is adopted for that device and dtype; one that disagrees, or raises, never is, and the
    loop's result is returned either way."""
    import anyres.encode.attention as attention

    (q, k, v), lengths = _segments()
    loop = attention._batched_runs(q, k, v, lengths)
    calls = []

    def exact(q, k, v, lengths):
        calls.append("exact")
        return attention._batched_runs(q, k, v, lengths)

    def wrong(q, k, v, lengths):
        calls.append("wrong")
        return attention._batched_runs(q, k, v, lengths) + 0.01

    def broken(q, k, v, lengths):
        raise RuntimeError("no kernel image is available for execution on the device")

    for kernel, verdict in ((exact, True), (wrong, False), (broken, False)):
        monkeypatch.setattr(attention, "_VARLEN_CHECKED", {})
        assert attention.varlen_usable(q, k, v, lengths, kernel=kernel) is verdict
        assert attention.varlen_usable(q, k, v, lengths, kernel=kernel) is verdict  # decided once
    assert calls == ["exact", "wrong"]  # each kernel ran once, beside the loop
    # a batch of two packed sequences is never handed to a varlen kernel
    monkeypatch.setattr(attention, "_VARLEN_CHECKED", {})
    q2 = q.expand(2, -1, -1, -1)
    assert attention.varlen_usable(q2, q2, q2, lengths, kernel=exact) is False
    # on CPU "auto" is the batched loop whatever was decided
    monkeypatch.setattr(attention, "_VARLEN_CHECKED", {("cpu", torch.float32): True})
    assert torch.equal(packed_attention(q, k, v, lengths), loop)


def test_the_varlen_kernels_are_cuda_only_here():
    """On this CPU-only torch the kernels raise, so "varlen" asked for by name fails loudly
    (a RuntimeError from torch) while "auto" never tries it off CUDA."""
    (q, k, v), lengths = _segments()
    if torch.cuda.is_available():
        pytest.skip("a CUDA device: scripts/gpu_checks.py checks the kernels against the loop")
    with pytest.raises((RuntimeError, NotImplementedError)):
        packed_attention(q, k, v, lengths, "varlen")

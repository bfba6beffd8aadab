"""output_attention: the feature layer's head-averaged attention and keys, checked against
transformers' eager attention weights."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from anyres.errors import SpecError  # noqa: E402

from anyres.encode import EncoderOutput, load_encoder  # noqa: E402

from ..tolerance import assert_close_rel  # noqa: E402


@pytest.mark.parametrize("family", ["clip", "siglip"])
def test_attention_and_keys_match_transformers(family, clip_vision, siglip_vision):
    folder, ref = clip_vision if family == "clip" else siglip_vision
    encoder = load_encoder(folder, feature_layer=-2)
    pixels = torch.randn(2, 3, 42, 70, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = encoder.forward_features(pixels, output_attention=True)
        plain = encoder.forward_features(pixels)
        ref.set_attn_implementation("eager")
        try:
            res = ref(pixels, interpolate_pos_encoding=True, output_hidden_states=True, output_attentions=True)
        finally:
            ref.set_attn_implementation("sdpa")
        layer = ref.encoder.layers[1]  # hidden_states[-2] is the output of layer 1 of 3
        keys = layer.self_attn.k_proj(layer.layer_norm1(res.hidden_states[1]))
    assert isinstance(out, EncoderOutput)
    prefix = 1 if family == "clip" else 0
    n = prefix + 3 * 5
    assert out.num_prefix_tokens == prefix
    assert out.features.shape == (2, 15, 64) and out.attention.shape == (2, n, n) and out.keys.shape == (2, n, 64)
    # explicit softmax attention at the probed layer vs SDPA: one layer's rounding in
    # another order, then the last block (see PACKED_ULPS in test_packed.py)
    assert_close_rel(out.features, plain, ulps=64, what="features")
    # rows of n <= 16 probabilities sum to 1 up to n roundings of values <= 1
    assert_close_rel(out.attention.sum(-1), torch.ones(2, n), ulps=2 * n, what="row sums")
    # transformers' eager softmax vs ours over the same 2 layers: probabilities (<= 1) that
    # went through 2 blocks of width-64 dot products, as above
    assert_close_rel(out.attention, res.attentions[1].mean(1), ulps=64, what="attention")
    # keys: the same layer's projection, by other kernels (fused qkv vs k_proj); as above
    assert_close_rel(out.keys, keys, ulps=64, what="keys")
    assert out.attention.std() > 0.01  # not uniform: the check above means something


def test_qwen2_vl_attention_is_over_unmerged_patches(qwen2_vision):
    encoder = load_encoder(qwen2_vision[0])
    with torch.no_grad():
        out = encoder.forward_features(torch.randn(1, 3, 56, 84), output_attention=True)
    assert out.features.shape == (1, 6, 48) and out.attention.shape == (1, 24, 24) and out.keys.shape == (1, 24, 64)
    assert_close_rel(out.attention.sum(-1), torch.ones(1, 24), ulps=2 * 24, what="row sums")  # as above


def test_no_attention_at_the_embeddings(clip_vision):
    encoder = load_encoder(clip_vision[0], feature_layer=0)
    with pytest.raises(SpecError, match="no attention layer"):
        encoder.forward_features(torch.zeros(1, 3, 56, 56), output_attention=True)

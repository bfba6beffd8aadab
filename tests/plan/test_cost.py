"""The cost model: FLOP counts against torch's FlopCounterMode on tiny transformers
towers and language models, and the seed's worked examples."""

from __future__ import annotations

from dataclasses import replace

import pytest

import anyres
from anyres.errors import SpecError
from anyres.plan import worst_case
from anyres.plan.cost import view_flops, window_lengths
from anyres.plan.sizes import ENCODERS, encoder_size, llm_size

VISION = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4, patch_size=14)
QWEN_VISION = dict(depth=3, embed_dim=64, hidden_size=48, num_heads=4, patch_size=14, spatial_merge_size=2)
LLM = dict(vocab_size=99, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
           num_key_value_heads=2)


def eager(config):
    """Attention as explicit matmuls: FlopCounterMode has no formula for the CPU kernel
    SDPA dispatches to (``_scaled_dot_product_flash_attention_for_cpu``), so it would
    count no attention at all."""
    config._attn_implementation = "eager"
    return config


def counted(module, *args, **kwargs) -> int:
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(*args, **kwargs)
    return counter.get_total_flops()


def close(ours: int, theirs: int) -> bool:
    return abs(ours - theirs) <= 0.02 * theirs  # the bound: 2% of the counted matmul FLOPs


@pytest.mark.parametrize("side", [56, 84, 112])
def test_clip_tower_matches_flop_counter(side):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    config = transformers.CLIPVisionConfig(**VISION, image_size=side)
    model = transformers.CLIPVisionModel(eager(config)).eval()
    plan = anyres.plan((300, 200), f"fixed(size={side})")
    ours = plan.cost(encoder=config).encoder_flops.total
    theirs = counted(model, pixel_values=torch.zeros(1, 3, side, side))
    assert close(ours, theirs), (ours, theirs)  # measured: equal


def _qwen_inputs(plan, temporal=2, patch=14):
    torch = pytest.importorskip("torch")
    t, h, w = plan.info["grid_thw"]
    return torch.zeros(t * h * w, 3 * temporal * patch * patch), torch.tensor([[t, h, w]])


@pytest.mark.parametrize("size", [(200, 150), (90, 400)])
def test_qwen2_vl_tower_matches_flop_counter(size):
    transformers = pytest.importorskip("transformers")
    from transformers.models.qwen2_vl.modeling_qwen2_vl import Qwen2VisionTransformerPretrainedModel

    config = transformers.Qwen2VLVisionConfig(**QWEN_VISION)
    model = Qwen2VisionTransformerPretrainedModel(eager(config)).eval()
    plan = anyres.plan(size, "qwen2-vl")
    c = plan.cost(encoder=config)
    ours = c.encoder_flops.total + c.connector_flops  # the merger is the connector
    pixels, grid = _qwen_inputs(plan)
    theirs = counted(model, pixels, grid_thw=grid)
    assert close(ours, theirs), (ours, theirs)


def test_windowed_qwen2_5_vl_tower_matches_flop_counter():
    transformers = pytest.importorskip("transformers")
    from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VisionTransformerPretrainedModel

    config = transformers.Qwen2_5_VLVisionConfig(depth=4, hidden_size=64, intermediate_size=96, num_heads=4,
                                                 out_hidden_size=48, window_size=56, fullatt_block_indexes=[1, 3])
    model = Qwen2_5_VisionTransformerPretrainedModel(eager(config)).eval()
    plan = anyres.plan((400, 260), "qwen2-vl")  # 28x18 patches: windows of 4x4 patches, cut at the edge
    e = encoder_size(config)
    assert e.window == 56 and e.full_layers == (1, 3) and e.gated
    c = plan.cost(encoder=config)
    pixels, grid = _qwen_inputs(plan)
    theirs = counted(model, pixels, grid_thw=grid)
    assert close(c.encoder_flops.total + c.connector_flops, theirs), (c.encoder_flops.total + c.connector_flops, theirs)
    full = plan.cost(encoder=replace(e, window=0))
    assert c.encoder_flops.attention < full.encoder_flops.attention


def test_llm_prefill_and_kv_match_a_decoder():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    config = transformers.LlamaConfig(**LLM)
    model = transformers.LlamaModel(eager(config)).eval()
    plan = anyres.plan((300, 200), "fixed(size=56)")  # 16 tokens
    c = plan.cost(llm=config, dtype="float32")
    theirs = counted(model, inputs_embeds=torch.zeros(1, plan.num_tokens, 64))
    assert close(c.llm_prefill_flops, theirs), (c.llm_prefill_flops, theirs)
    with torch.no_grad():
        cache = model(inputs_embeds=torch.zeros(1, plan.num_tokens, 64), use_cache=True).past_key_values
    stored = sum(t.numel() * t.element_size() for layer in cache.layers for t in (layer.keys, layer.values))
    assert c.kv_cache_bytes == stored


def test_one_big_view_costs_sixteen_times_the_attention_of_tiles():
    # the seed: one 1344 px view through a ViT is 16x the attention of 4x4 tiles of 336
    e = replace(ENCODERS["clip-l/336"], cls=0)  # patch tokens only, as the seed counts
    one = view_flops(e, 1344, 1344)
    tile = view_flops(e, 336, 336)
    assert one.attention == 16 * (16 * tile.attention)
    assert one.qkv == 16 * tile.qkv and one.mlp == 16 * tile.mlp  # the linear terms are equal
    # through plans: a fixed 1344 view vs a 4x4 grid of 336 tiles
    big = anyres.plan((1344, 1344), "fixed(size=1344)").cost(encoder=e)
    grid = anyres.plan((1344, 1344), "llava-next(image_grid_pinpoints=((1344, 1344),))").cost(encoder=e)
    tiles_only = grid.encoder_flops.attention - tile.attention  # minus the base view
    assert big.encoder_flops.attention == 16 * tiles_only


def test_context_share_of_2880_tokens():
    # the seed: 2,880 visual tokens are 35.2% of an 8k context and 70.3% of a 4k one
    p = anyres.plan((1344, 336), "llava-next(image_grid_pinpoints=((336, 1344),), image_newline=False)")
    assert p.num_tokens == 2880
    assert round(100 * p.cost(context=8192).context_share, 1) == 35.2
    assert round(100 * p.cost(context=4096).context_share, 1) == 70.3
    assert p.cost().encoder_flops.total == 0 and p.cost().context_share is None


def test_sizes_from_names_configs_and_folders(tmp_path):
    import json

    assert llm_size("Llama-3-8B").kv_heads == 8
    (tmp_path / "config.json").write_text(json.dumps({
        "model_type": "llava_next", "vision_config": dict(VISION, model_type="clip_vision_model"),
        "text_config": dict(LLM, model_type="llama")}))
    assert encoder_size(tmp_path).width == 64 and encoder_size(tmp_path).cls == 1
    assert llm_size(str(tmp_path)).kv_heads == 2
    with pytest.raises(SpecError, match="unknown encoder size"):
        encoder_size("vit-huge-nonexistent")
    with pytest.raises(SpecError, match="dtype"):
        anyres.plan((100, 100), "fixed").cost(llm="qwen2-7b", dtype="float13")


def test_window_lengths_cover_the_grid():
    e = encoder_size("qwen2.5-vl-vit")
    for gh, gw in [(2, 2), (18, 28), (64, 90)]:
        assert sum(window_lengths(e, gh, gw)) == gh * gw


def test_worst_case_llava_next():
    tokens, size = worst_case("llava-next")
    # the 2x2 pinpoint on a square image: 576 base + 48x48 tile features + 48 newlines
    assert tokens == 576 + 48 * 48 + 48
    assert anyres.plan(size, "llava-next").num_tokens == tokens


def test_compare_rows_carry_costs():
    from anyres.reports.compare import compare

    rows = compare((1344, 336), ["llava-next", "qwen2-vl"], encoder="auto", llm="auto", context=8192)
    by = {r["preset"]: r for r in rows}
    p = anyres.plan((1344, 336), "llava-next")
    c = p.cost("clip-l/336", "llama-2-7b", 8192)
    assert by["llava-next"]["encoder_gflops"] == round(c.encoder_flops.total / 1e9, 1)
    assert by["llava-next"]["kv_mb"] == round(c.kv_cache_bytes / 2**20, 1)
    assert by["llava-next"]["context"] == round(100 * p.num_tokens / 8192, 1)
    assert "kv_mb" not in compare((1344, 336), ["fixed"])[0]


def test_budget_totals_encoder_tflops_and_kv(monkeypatch):
    import anyres.engine.budget as budget
    from anyres.engine.sources import Item

    sizes = [(1000, 600), (300, 900)]
    monkeypatch.setattr(budget, "item_size", lambda item: anyres.Size(*map(int, item.key.split("x"))))
    items = [Item(f"{w}x{h}", path="unused") for w, h in sizes]
    result = budget.measure(items, ["internvl"], encoder="internvit-300m", llm="qwen2-7b", dtype="float16")
    s = result.presets[0].summary()
    plans = [anyres.plan(size, "internvl") for size in sizes]
    assert s["encoder_tflops"] == sum(p.cost("internvit-300m").encoder_flops.total for p in plans) / 1e12
    assert s["kv_gb"] == sum(p.cost(llm="qwen2-7b", dtype="float16").kv_cache_bytes for p in plans) / 1e9
    assert "KV GB" in budget.format_budget(result)

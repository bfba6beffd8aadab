"""For every preset and 300 sizes from 1x1 to 20000x20000 (and extreme aspect ratios),
with a tiny random encoder: the pipeline emits exactly plan.num_tokens rows, in layout
order, and encoding the views as one packed sequence equals encoding them one by one.

The views are random tensors of the planned view sizes (the encoder does not care what
they show), so a 20000x20000 plan costs what its views cost, not a gigapixel render."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import anyres
from anyres.pipeline import VisionPipeline
from anyres.tokens import NEWLINE_ROW

from ..tolerance import assert_close_rel

side = st.integers(min_value=1, max_value=20000)
thin = st.tuples(st.integers(1, 40), st.integers(1, 20000)).flatmap(lambda t: st.sampled_from([t, (t[1], t[0])]))
sizes = st.one_of(st.tuples(side, side), thin)

_PIPES: dict = {}


# presets no tiny tower here serves, and why
_NO_TOWER = {
    "mllama": "its tokens are cross-attention states, which VisionPipeline does not emit (refused by the layer)",
}


def _spec(preset: str) -> str:
    """The preset on the tiny towers' 14 px patches (the geometry rule is the same, only
    the unit changes); a native preset whose budget runs to tens of thousands of patches
    also at a 200704 px budget, and Mistral 3's 1540 px box (a 12100-patch attention on its
    own tower) at 1024 px (300 examples stay fast)."""
    p = anyres.get_preset(preset)
    params = p.resolved()
    if preset == "deepseek-ocr2":  # its 1024 global view and 768 tiles, scaled down (the same rule)
        return "deepseek-ocr2(patch_size=14, size=448, tile_size=336)"
    if preset in ("deepseek-vl", "janus"):  # 576 tokens: 24 x 24 patches of 14 px
        return f"{preset}(patch_size=14, size=336)"
    if preset == "deepseek-vl-hybrid":  # the same, and its 1024 high-res view at 448 (no tokens of its own)
        return f"{preset}(patch_size=14, size=336, high_res_size=448)"
    if "max_pixels" in params and (params["patch_size"] != 14 or params["max_pixels"] > 1003520):
        hi = min(params["max_pixels"], 200704)
        lo = params["min_pixels"] if params["min_pixels"] <= hi else hi // 4  # HunYuan-VL's 512^2 floor
        return f"{preset}(patch_size=14, min_pixels={lo}, max_pixels={hi})"
    if p.strategy == "pixtral" and params["patch_size"] == 14 and params["size"].get("longest_edge", 0) > 1024:
        return f"{preset}(size={{'longest_edge': 1024}})"
    if anyres.plan.preset_connector(preset).patch_size != 14:
        return f"{preset}(patch_size=14)"
    return preset


# strategies whose presets run on a tiny copy of their own tower (the fixture's name);
# the others on a tiny CLIP (merge-free) or Qwen2-VL (merging) tower
_OWN_TOWER = {"pixtral": "tiny_pixtral"}


def _pipes(preset, tiny_clip, tiny_qwen, request):
    if preset in _NO_TOWER:
        pytest.skip(_NO_TOWER[preset])
    if preset not in _PIPES:
        merging = anyres.plan.preset_connector(_spec(preset)).tower_merges != (1,)  # a Qwen-style tower
        folder = tiny_qwen if merging else tiny_clip
        own = _OWN_TOWER.get(anyres.get_preset(preset).strategy)
        if own:
            folder = request.getfixturevalue(own)
        _PIPES[preset] = tuple(VisionPipeline.from_preset(_spec(preset), folder, packing=m)
                               for m in ("packed", "single"))
    return _PIPES[preset]


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("preset", anyres.presets())
def test_tokens_equal_the_plan_and_packing_equals_per_view(preset, tiny_clip, tiny_qwen, request):
    packed, single = _pipes(preset, tiny_clip, tiny_qwen, request)
    gen = torch.Generator().manual_seed(0)

    # 150 sizes a preset (29 presets): the suite stays well under CI's 15 minutes on 2 cores
    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(size=sizes)
    def check(size):
        try:
            plan = anyres.plan(size, packed.spec)
        except anyres.PlanError:
            return
        views = [torch.randn(3, v.size.height, v.size.width, generator=gen) for v in plan.views]
        [a] = packed.encode_views([plan], [views])
        [b] = single.encode_views([plan], [views])
        assert len(a.embeddings) == plan.num_tokens == len(plan.layout.tokens()) - _text_tokens(plan)
        assert (a.kind == NEWLINE_ROW).sum().item() == plan.newline_tokens
        # packed vs one view at a time: float32 summation order (PACKED_ULPS in
        # tests/encode/test_packed.py), relative to the embeddings' magnitude
        assert_close_rel(a.embeddings, b.embeddings, ulps=64, what=f"{preset} {size}")
        assert torch.equal(a.positions, b.positions)
        # each visual row comes from the view the layout says, in layout order
        order = [s.view for s in plan.layout.segments if s.kind == "visual" for _ in range(s.count)]
        views_of_rows = a.positions[a.kind != NEWLINE_ROW][:, 0].tolist()
        assert views_of_rows == order

    check()


def _text_tokens(plan) -> int:
    return sum(s.count for s in plan.layout.segments if s.kind == "text")

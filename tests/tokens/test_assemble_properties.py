"""For every preset and size: assembly emits plan.num_tokens rows, in plan.layout order,
with positions that the layout and the view grids agree with (hypothesis)."""

from __future__ import annotations

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import anyres
from anyres import PlanError
from anyres.plan.types import NEWLINE as LAYOUT_NEWLINE
from anyres.plan.types import TEXT
from anyres.tokens import ASSEMBLY, NEWLINE_ROW, VISUAL_ROW, Assembler, token_grid

from .helpers import kept_cls, random_features

# every preset whose strategy the token stage serves (Mllama's cross-attention is refused on purpose)
PRESETS = [p for p in anyres.presets() if ASSEMBLY.supports(anyres.get_preset(p).strategy)]
WIDTH = 4

side = st.integers(min_value=1, max_value=20000)
thin = st.tuples(st.integers(1, 40), st.integers(1, 20000)).flatmap(lambda t: st.sampled_from([t, (t[1], t[0])]))
sizes = st.one_of(st.tuples(side, side), thin)

_ASSEMBLERS: dict[str, Assembler] = {}


def _assembler(preset: str) -> Assembler:
    if preset not in _ASSEMBLERS:
        _ASSEMBLERS[preset] = Assembler.for_plan(preset, WIDTH).eval()
    return _ASSEMBLERS[preset]


def check_sequence(plan: anyres.Plan, seq) -> None:
    assert len(seq) == plan.num_tokens, (plan, len(seq))
    assert bool(torch.isfinite(seq.embeddings).all())
    pos, kind = seq.positions, seq.kind
    at = 0
    newline_rows = []
    for s in plan.layout.segments:
        if s.kind == TEXT:
            continue
        block_pos, block_kind = pos[at : at + s.count], kind[at : at + s.count]
        at += s.count
        if s.kind == LAYOUT_NEWLINE:
            assert bool((block_kind == NEWLINE_ROW).all()) and bool((block_pos[:, 0] == -1).all()), s
            newline_rows += block_pos[:, 1].tolist()
            continue
        assert bool((block_kind == VISUAL_ROW).all()), s
        assert bool((block_pos[:, 0] == s.view).all()), (s, block_pos[:3])
        rows, cols = token_grid(plan, s.view)
        cls = (block_pos[:, 1] == -1) & (block_pos[:, 2] == -1)
        inside = (block_pos[:, 1] >= 0) & (block_pos[:, 1] < rows) & (block_pos[:, 2] >= 0) & (block_pos[:, 2] < cols)
        assert bool((cls | inside).all()), (s, rows, cols)
    assert at == len(seq)
    assert newline_rows == list(range(len(newline_rows)))
    for v in range(len(plan.views)):  # CLS rows exactly where the plan counts them
        n_cls = int(((pos[:, 0] == v) & (pos[:, 1] == -1)).sum())
        assert n_cls == kept_cls(plan, v), (v, n_cls)
    assert torch.unique(pos, dim=0).shape[0] == len(seq)  # every row has its own place


def _make(preset):
    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(size=sizes, with_prefix=st.booleans())
    def test(size, with_prefix):
        try:
            plan = anyres.plan(size, preset)
        except PlanError:
            return
        asm = _assembler(preset)
        feats = random_features(plan, WIDTH, asm.patch_size, with_prefix=with_prefix)
        with torch.no_grad():
            seq = asm(plan, feats)
        check_sequence(plan, seq)

    test.__name__ = f"test_assembly_properties_{preset.replace('-', '_')}"
    return test


for _preset in PRESETS:
    globals()[f"test_assembly_properties_{_preset.replace('-', '_')}"] = _make(_preset)


def test_every_builtin_preset_is_covered():
    assert set(PRESETS) >= {
        "fixed", "fixed-pad", "fixed-crop", "dynamic", "llava-next", "llava-onevision", "internvl",
        "qwen2-vl", "idefics3", "minicpm-v", "llava-uhd", "gpt4v", "s2",
    }


@settings(max_examples=60, deadline=None)
@given(size=sizes)
def test_kept_cls_variants(size):
    """Presets that keep the CLS token: it comes first, at (view, -1, -1)."""
    for spec in ("fixed(keep_cls=True)", "llava-next(feature_select_strategy='full')", "dynamic(keep_cls=True)"):
        plan = anyres.plan(size, spec)
        asm = Assembler.for_plan(plan, WIDTH)
        with torch.no_grad():
            seq = asm(plan, random_features(plan, WIDTH, 14))
        check_sequence(plan, seq)
        assert seq.positions[0].tolist() == [0, -1, -1]

"""Properties every preset keeps for every size (hypothesis)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import anyres
from anyres import PlanError

PRESETS = anyres.presets()
EPS = 1e-6

side = st.integers(min_value=1, max_value=20000)
# extreme aspect ratios: one side tiny, the other up to 20000
thin = st.tuples(st.integers(1, 40), st.integers(1, 20000)).flatmap(
    lambda t: st.sampled_from([t, (t[1], t[0])])
)
sizes = st.one_of(st.tuples(side, side), thin)


def check_plan(p: anyres.Plan) -> None:
    W, H = p.image.width, p.image.height
    assert p.views, "a plan has at least one view"
    assert p.num_tokens > 0
    assert p.num_tokens == sum(v.tokens for v in p.views) + p.newline_tokens
    if p.info.get("cross_attention"):  # Mllama: the model cross-attends to the tiles; one prompt token
        assert p.layout.num_visual == 0 and len(p.layout) == 1
    else:
        assert p.layout.num_visual == p.num_tokens
        assert len(p.layout) >= p.num_tokens
    for v in p.views:
        assert v.size.width >= 1 and v.size.height >= 1, v
        assert v.crop.width >= 1 and v.crop.height >= 1, v
        assert v.tokens >= 0
        c = p.canvases[v.canvas]
        # the crop lies inside the canvas, padding included
        assert -EPS <= v.crop.left and v.crop.right <= c.padded.width + EPS, (v, c)
        assert -EPS <= v.crop.top and v.crop.bottom <= c.padded.height + EPS, (v, c)
        # the source lies inside the image
        s = v.source
        assert -EPS <= s.left <= s.right <= W + EPS and -EPS <= s.top <= s.bottom <= H + EPS, (v, p.image)
        assert all(x >= -EPS for x in v.padding)
        if v.grid is not None and p.grid is not None:
            assert 0 <= v.grid[0] < p.grid[0] and 0 <= v.grid[1] < p.grid[1]
    for c in p.canvases:
        assert all(s.width >= 1 and s.height >= 1 for s in c.steps)
        r = c.resized
        assert c.offset[0] >= 0 and c.offset[1] >= 0
        assert c.offset[0] + r.width <= c.padded.width and c.offset[1] + r.height <= c.padded.height
    d = p.diagnostics
    assert 0.0 <= d.padding_fraction < 1.0
    assert d.distortion >= 1.0
    assert 0.0 <= d.coverage <= 1.0 + EPS
    assert d.overlap >= 0.0
    assert d.min_effective_scale > 0 or d.coverage == 0
    json.dumps(p.to_dict())


def _plan_or_plan_error(size, preset):
    try:
        return anyres.plan(size, preset)
    except PlanError as exc:
        assert str(size[0]) in str(exc) and str(size[1]) in str(exc), exc  # the message names the size
        return None
    # any other exception type fails the test


def _make(preset):
    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(size=sizes)
    def test(size):
        p = _plan_or_plan_error(size, preset)
        if p is not None:
            check_plan(p)

    test.__name__ = f"test_properties_{preset.replace('-', '_').replace('.', '_')}"
    return test


for _preset in PRESETS:
    globals()[f"test_properties_{_preset.replace('-', '_').replace('.', '_')}"] = _make(_preset)

# geometries a preset reaches only through a parameter: Aria's split_image (490 and 980 crops),
# HunYuan-VL at the image's own size (do_resize=False: a PlanError off the 32 px grid)
SPECS = {
    "aria_split": "aria(split_image=True)",
    "aria_split_490": "aria(split_image=True, max_image_size=490)",
    "aria_split_custom": "aria(split_image=True, split_resolutions=[[980, 980], [490, 3430], [3430, 490]])",
    "hunyuan_vl_as_is": "hunyuan-vl(resize=False)",
}
for _name, _spec in SPECS.items():
    _test = _make(_spec)
    _test.__name__ = f"test_properties_{_name}"
    globals()[_test.__name__] = _test


@given(w=st.integers(-5, 0) | st.integers(1, 10), h=st.integers(-5, 0))
@settings(max_examples=50, deadline=None)
def test_non_positive_sizes_raise_plan_error(w, h):
    for preset in PRESETS:
        try:
            anyres.plan((w, h), preset)
        except PlanError as exc:
            assert "below 1" in str(exc)
        else:
            raise AssertionError(f"{preset} accepted {w}x{h}")


def test_non_integer_sizes_raise_plan_error():
    for bad in [(1.5, 2), ("a", 3), (1, 2, 3), None, object()]:
        try:
            anyres.plan(bad, "fixed")
        except PlanError:
            pass
        else:
            raise AssertionError(bad)

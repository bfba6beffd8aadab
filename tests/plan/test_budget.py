"""The budget planner: within budget always, content-aware with pixels, geometry without."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import anyres
from anyres import PlanError, SpecError

from .test_properties import check_plan


@settings(max_examples=200, deadline=None)
# budgets up to 5000: 5000 tokens of 56 x 56 px (4x4 merge) stay within the default
# max_view_pixels (anyres.plan.limits); larger ones are refused by resolve
@given(w=st.integers(1, 20000), h=st.integers(1, 20000), budget=st.integers(1, 5000))
def test_never_over_budget(w, h, budget):
    try:
        p = anyres.plan((w, h), "budget", max_tokens=budget)
    except PlanError as exc:
        assert "aspect ratio" in str(exc) or "max_tokens" in str(exc)
        return
    assert p.num_tokens <= budget
    check_plan(p)
    k = p.info["merge"]
    for v in p.views:
        assert v.size.width % (14 * k) == 0 and v.size.height % (14 * k) == 0
        assert v.tokens == (v.size.width // (14 * k)) * (v.size.height // (14 * k))
        assert v.padding == (0.0, 0.0, 0.0, 0.0)


def test_geometry_only_is_one_native_view_at_the_highest_scale():
    p = anyres.plan((1240, 1754), "budget(max_tokens=576)")
    assert len(p.views) == 1 and p.num_tokens <= 576
    assert p.info["content"] == "geometry only" and p.info["merge"] == 4  # only 4x4 gets near full scale
    q = anyres.plan((1240, 1754), "budget(max_tokens=576, merges=(2,))")
    assert q.info["merge"] == 2 and q.diagnostics.min_effective_scale < p.diagnostics.min_effective_scale


def test_spare_budget_prefers_less_compression_and_stops_at_max_scale():
    p = anyres.plan((800, 600), "budget(max_tokens=5000)")
    assert p.info["merge"] == 2
    # the scale lands on 1.5 up to whole-pixel rounding of the chosen size (~2% at these sizes)
    assert p.diagnostics.min_effective_scale == pytest.approx(1.5, rel=0.02)
    assert p.num_tokens < 5000


def _page_with_margins():
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (1000, 1400), "white")
    d = ImageDraw.Draw(img)
    for y in range(300, 500, 20):
        d.text((250, y), "lorem ipsum dolor sit amet " * 3, fill="black")
    for y in range(1000, 1100, 20):
        d.text((250, y), "consectetur adipiscing elit " * 3, fill="black")
    return img


def test_pixels_crop_blank_margins_and_skip_blank_bands():
    img = _page_with_margins()
    p = anyres.plan(img, "budget(max_tokens=576)")
    assert p.info["content"] == "ink map"
    left, top, right, bottom = p.info["content_box"]
    assert 150 <= left <= 250 and 200 <= top <= 300 and bottom >= 1090 and bottom < 1250
    # the blank middle of the page is not encoded: two regions, each around its text
    assert len(p.views) == 2 and p.grid == (2, 1)
    assert p.views[0].source.bottom < 700 and p.views[1].source.top > 800
    assert p.diagnostics.coverage < 0.5
    # at a tight budget the saved tokens buy resolution
    tight = anyres.plan(img, "budget(max_tokens=150)")
    geometry = anyres.plan(img.size, "budget(max_tokens=150)")
    assert tight.num_tokens <= 150 and geometry.num_tokens <= 150
    assert tight.diagnostics.min_effective_scale > 2 * geometry.diagnostics.min_effective_scale


def test_blank_image_falls_back_to_the_whole_image():
    from PIL import Image

    p = anyres.plan(Image.new("RGB", (640, 480), "white"), "budget(max_tokens=300)")
    assert p.info["content_box"] == [0, 0, 640, 480] and len(p.views) == 1


def test_exif_rotated_image_is_mapped_in_the_displayed_frame(tmp_path):
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (1200, 800), "white")
    ImageDraw.Draw(img).text((50, 50), "text near the stored top left " * 2, fill="black")
    exif = img.getexif()
    exif[0x0112] = 6  # displayed rotated 90 degrees clockwise: 800 x 1200
    path = tmp_path / "r.jpg"
    img.save(path, exif=exif)
    with Image.open(path) as opened:
        p = anyres.plan(opened, "budget(max_tokens=400)")
    assert p.image == anyres.Size(800, 1200)
    left, top, right, bottom = p.info["content_box"]
    assert left > 500 and bottom < 700  # stored top-left is displayed at the top right


def test_info_says_what_won_and_why():
    p = anyres.plan((1000, 600), "budget(max_tokens=1000)")
    assert p.info["candidate"].startswith("native") and "within 1000 tokens" in p.info["reason"]
    assert p.spec == "budget(max_tokens=1000)"


def test_bad_parameters_are_spec_errors():
    for spec in ["budget(max_tokens=0)", "budget(merges=())", "budget(max_scale=0)", "budget(tolerance=1)"]:
        with pytest.raises(SpecError):
            anyres.plan((100, 100), spec)


def test_planning_from_a_size_stays_standard_library_only():
    code = (
        "import sys, anyres\n"
        "p = anyres.plan((1000, 600), 'budget(max_tokens=576)')\n"
        "assert p.num_tokens <= 576\n"
        "bad = [m for m in ('numpy', 'torch', 'PIL') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

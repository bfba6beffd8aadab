"""The planning API: inputs, specs, presets, errors, serialisation, purity."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import anyres
from anyres import AnyresError, PlanError, SpecError


def test_plan_module_is_callable_and_pure():
    code = (
        "import sys, anyres, anyres.plan\n"
        "p = anyres.plan((1000, 600), 'llava-next')\n"
        "from anyres.plan import plan\n"
        "assert plan((1000, 600), 'llava-next').num_tokens == p.num_tokens == 1948\n"
        "bad = [m for m in ('numpy', 'torch', 'PIL', 'transformers') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_inputs_size_pil_path_array(tmp_path):
    from PIL import Image
    import numpy as np

    img = Image.new("RGB", (640, 480))
    path = tmp_path / "x.png"
    img.save(path)
    for source in [(640, 480), [640, 480], anyres.Size(640, 480), img, path, str(path), np.zeros((480, 640, 3))]:
        assert anyres.plan(source, "qwen2-vl").image == anyres.Size(640, 480)


def test_exif_rotated_photo_is_planned_on_displayed_axes(tmp_path):
    from PIL import Image

    img = Image.new("RGB", (800, 600))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90: displayed portrait
    path = tmp_path / "phone.jpg"
    img.save(path, exif=exif)
    assert anyres.plan(path, "fixed").image == anyres.Size(600, 800)
    with Image.open(path) as opened:
        assert anyres.plan(opened, "fixed").image == anyres.Size(600, 800)


def test_unreadable_file_is_image_error(tmp_path):
    bad = tmp_path / "text.jpg"
    bad.write_text("not an image")
    with pytest.raises(anyres.ImageError, match="text.jpg"):
        anyres.plan(bad, "fixed")
    with pytest.raises(anyres.ImageError, match="no such file"):
        anyres.plan(tmp_path / "missing.png", "fixed")


def test_spec_strings_and_overrides():
    a = anyres.plan((1000, 600), "internvl(max_tiles=6)")
    b = anyres.plan((1000, 600), "internvl", max_tiles=6)
    assert a == b and a.spec == "internvl(max_tiles=6)"
    assert anyres.plan((1000, 600), a.spec) == a
    assert anyres.plan((2000, 500), "internvl(max_tiles=1)").grid is None
    q = anyres.plan((1000, 600), "qwen2-vl(min_pixels=3136, max_pixels=1003520)")
    assert q.params["max_pixels"] == 1003520
    pins = anyres.plan((1000, 600), "llava-next(image_grid_pinpoints=[[336, 336], [672, 672]])")
    assert pins.params["image_grid_pinpoints"] == ((336, 336), (672, 672))


@pytest.mark.parametrize(
    "spec, message",
    [
        ("nope", "unknown preset"),
        ("internvl(max_tile=6)", "no parameter max_tile"),
        ("internvl(6)", "key=value"),
        ("internvl(max_tiles=__import__('os'))", "not a literal"),
        ("internvl(max_tiles=6", "malformed"),
        ("internvl(max_tiles=0)", r"max_tiles=0 must be an integer in \[1, "),
        ("llava-next(image_grid_pinpoints=[[300, 600]])", "multiples of base_size"),
        ("qwen2-vl(min_pixels=10**9)", "not a literal"),
        ("gpt4v(detail='medium')", "detail"),
        ("s2(scales=(336, 500))", "does not split"),
        ("", "empty"),
    ],
)
def test_bad_specs_raise_spec_error(spec, message):
    with pytest.raises(SpecError, match=message):
        anyres.plan((100, 100), spec)
    assert issubclass(SpecError, AnyresError) and issubclass(PlanError, AnyresError)


def test_register_user_presets():
    anyres.register_preset("internvl-test-6", base="internvl", max_tiles=6, description="six tiles")
    try:
        assert "internvl-test-6" in anyres.presets()
        p = anyres.plan((3000, 500), "internvl-test-6")
        assert p.params["max_tiles"] == 6 and len(p.views) <= 7
        assert anyres.plan((3000, 500), "internvl-test-6(max_tiles=2)").params["max_tiles"] == 2
        with pytest.raises(SpecError, match="already registered"):
            anyres.register_preset("internvl-test-6", base="internvl")
        with pytest.raises(SpecError, match="no parameter"):
            anyres.register_preset("x-test", "internvl", tiles=3)
    finally:
        anyres.plan.unregister_preset("internvl-test-6")
    assert "internvl-test-6" not in anyres.presets()


def test_to_dict_is_json_and_repr_readable():
    p = anyres.plan((1000, 600), "llava-next")
    d = json.loads(json.dumps(p.to_dict()))
    assert d["num_tokens"] == 1948 and d["grid"] == [2, 2] and len(d["views"]) == 5
    assert d["layout"]["length"] == 1948
    assert d["diagnostics"]["cut_lines"]
    text = repr(p)
    assert "llava-next" in text and "1948 tokens" in text and "tile r1c1" in text


def test_plans_are_frozen():
    p = anyres.plan((1000, 600), "fixed")
    with pytest.raises(AttributeError):
        p.num_tokens = 3  # type: ignore[misc]
    with pytest.raises(AttributeError):
        p.views[0].tokens = 3  # type: ignore[misc]


def test_s2_layout_runs_row_major_across_split_sub_views():
    p = anyres.plan((1000, 700), "s2(scales=(672, 1008))")  # the smallest scale split 2x2
    segs = [(s.view, s.count) for s in p.layout.segments]
    assert segs[:4] == [(0, 24), (1, 24), (0, 24), (1, 24)]  # map rows cross views 0 and 1
    assert segs[24 * 2] == (2, 24) and len(p.layout) == p.num_tokens == 48 * 48
    assert [(s.view, s.count) for s in anyres.plan((1000, 700), "s2").layout.segments] == [(0, 576)]

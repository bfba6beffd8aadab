"""The ``anyres`` command."""

from __future__ import annotations

import json

import pytest
from PIL import Image

import anyres
from anyres.cli import main


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_presets_lists_every_preset(capsys):
    code, out, _ = run(capsys, "presets")
    assert code == 0
    for name in anyres.presets():
        assert name in out


def test_plan_table_and_json(capsys):
    code, out, _ = run(capsys, "plan", "--size", "1000x600", "--preset", "llava-next")
    assert code == 0 and "1948 tokens" in out and "tile r1c1" in out
    code, out, _ = run(capsys, "plan", "--size", "1000x600", "--preset", "internvl(max_tiles=6)", "--json")
    d = json.loads(out)
    assert d["spec"] == "internvl(max_tiles=6)" and d["num_tokens"] == anyres.plan((1000, 600), "internvl(max_tiles=6)").num_tokens


def test_plan_errors_are_reported_not_raised(capsys):
    code, _, err = run(capsys, "plan", "--size", "10x5000", "--preset", "qwen2-vl")
    assert code == 2 and "aspect ratio" in err and "10x5000" in err
    code, _, err = run(capsys, "plan", "--size", "10x10", "--preset", "nope")
    assert code == 2 and "unknown preset" in err


def test_show_writes_a_picture(tmp_path, capsys):
    src = tmp_path / "in.png"
    Image.new("RGB", (1000, 600), (250, 250, 250)).save(src)
    out = tmp_path / "out.png"
    code, text, _ = run(capsys, "show", str(src), "--preset", "llava-next", "-o", str(out))
    assert code == 0 and "1948 tokens" in text
    with Image.open(out) as im:
        assert im.size[0] > 500 and im.size[1] > 300


def test_compare_table_json_and_plot(tmp_path, capsys):
    code, out, _ = run(capsys, "compare", "--size", "1000x600", "--presets", "llava-next,internvl(max_tiles=6),qwen2-vl")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["preset", "views", "grid", "tokens"]
    assert any(line.startswith("internvl(max_tiles=6)") for line in lines)
    code, out, _ = run(capsys, "compare", "--size", "10x5000", "--json", "--presets", "qwen2-vl,fixed")
    rows = json.loads(out)
    assert "aspect ratio" in rows[0]["error"] and rows[1]["tokens"] == 576
    plot = tmp_path / "tokens.png"
    code, out, _ = run(capsys, "compare", "--size", "1000x600", "--presets", "llava-next,qwen2-vl", "--plot", str(plot))
    assert code == 0 and plot.stat().st_size > 10_000


def test_missing_image_and_bad_size(capsys):
    code, _, err = run(capsys, "plan", "--preset", "fixed")
    assert code == 2 and "IMAGE or --size" in err
    with pytest.raises(SystemExit):
        main(["plan", "--size", "axb", "--preset", "fixed"])


def test_eval_legibility_on_a_data_folder(tmp_path, capsys):
    pytest.importorskip("rapidocr_onnxruntime")
    from anyres.eval.fonts import font
    from PIL import ImageDraw

    data = tmp_path / "data"
    data.mkdir()
    img = Image.new("RGB", (360, 120), "white")
    ImageDraw.Draw(img).text((20, 40), "total 42.50", font=font("sans", 30), fill="black")
    img.save(data / "note.png")
    (data / "note.txt").write_text("total 42.50")
    out = tmp_path / "out"
    code, text, _ = run(capsys, "eval", "legibility", "--data", str(data), "--presets", "fixed,qwen2-vl",
                        "--budgets", "64", "--cache", str(tmp_path / "cache"), "--quiet", "--out", str(out))
    assert code == 0 and "report.md" in text
    results = json.loads((out / "results.json").read_text())
    rows = {(r["preset"], r["budget"]): r for r in results["records"]}
    assert set(rows) == {("fixed", None), ("qwen2-vl", None), ("budget(max_tokens=64)", 64)}
    assert all(r["image"] == "note" and r["split"] == "user" for r in rows.values())
    assert rows[("qwen2-vl", None)]["recall"] == 1.0
    assert rows[("budget(max_tokens=64)", 64)]["tokens"] <= 64
    assert (out / "pareto.png").stat().st_size > 10_000 and "| budget |" in (out / "report.md").read_text()
    # two runs merge into one report: records of both, comparisons over their union
    code, text, _ = run(capsys, "eval", "legibility", "--data", str(data), "--presets", "fixed",
                        "--budgets", "128", "--cache", str(tmp_path / "cache"), "--quiet", "--out", str(tmp_path / "b"))
    code, text, _ = run(capsys, "eval", "report", str(out / "results.json"), str(tmp_path / "b" / "results.json"),
                        "--out", str(tmp_path / "merged"))
    merged = json.loads((tmp_path / "merged" / "results.json").read_text())
    assert code == 0 and len(merged["records"]) == 5
    assert {(c["budget"], c["split"]) for c in merged["comparisons"]} == {(64, "user"), (128, "user")}
    assert run(capsys, "eval", "report", str(tmp_path / "missing.json"), "--out", str(tmp_path / "x"))[0] == 2

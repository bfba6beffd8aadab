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


def test_plan_and_compare_fit_a_token_budget(capsys):
    code, out, _ = run(capsys, "plan", "--size", "4000x3000", "--preset", "qwen2.5-vl", "--max-tokens", "1024", "--json")
    d = json.loads(out)
    assert code == 0 and d["num_tokens"] <= 1024 and "max_pixels=" in d["spec"]
    code, _, err = run(capsys, "plan", "--size", "800x600", "--preset", "llava-next", "--max-tokens", "1000")
    assert code == 1 and "smallest reachable count is 1026" in err
    code, out, _ = run(capsys, "compare", "--size", "1344x336", "--presets", "internvl,qwen2-vl", "--max-tokens", "1024")
    assert code == 0 and "internvl(max_tiles=3)" in out


def test_plan_errors_are_reported_not_raised(capsys):
    code, _, err = run(capsys, "plan", "--size", "10x5000", "--preset", "qwen2-vl")
    assert code == 1 and "aspect ratio" in err and "10x5000" in err  # a refused input
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
    code, _, err = run(capsys, "plan", "--size", "axb", "--preset", "fixed")
    assert code == 2 and "1000x600" in err and err.count("\n") == 1


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
                        "--budgets", "64", "--fitted", "qwen2.5-vl", "--cache", str(tmp_path / "cache"), "--quiet",
                        "--out", str(out))
    assert code == 0 and "report.md" in text
    results = json.loads((out / "results.json").read_text())
    rows = {(r["preset"], r["budget"]): r for r in results["records"]}
    naive = "qwen2.5-vl(max_pixels=18195), naive for 64"  # the largest cap whose worst case keeps 64 tokens
    assert set(rows) == {("fixed", None), ("qwen2-vl", None), ("budget(max_tokens=64)", 64),
                         ("qwen2.5-vl, max_tokens=64", None), (naive, None)}
    assert rows[("qwen2.5-vl, max_tokens=64", None)]["tokens"] <= 64 and rows[(naive, None)]["tokens"] <= 64
    assert rows[(naive, None)]["fit"] == {"budget": 64, "how": "naive", "base": "qwen2.5-vl"}
    assert all(r["image"] == "note" and r["split"] == "user" for r in rows.values())
    assert rows[("qwen2-vl", None)]["recall"] == 1.0
    assert rows[("budget(max_tokens=64)", 64)]["tokens"] <= 64
    assert (out / "pareto.png").stat().st_size > 10_000 and "| budget |" in (out / "report.md").read_text()
    assert (out / "cost.png").stat().st_size > 10_000 and "## Fitted against naive" in (out / "report.md").read_text()
    # two runs merge into one report: records of both, comparisons over their union
    code, text, _ = run(capsys, "eval", "legibility", "--data", str(data), "--presets", "fixed",
                        "--budgets", "128", "--fitted", "", "--cache", str(tmp_path / "cache"), "--quiet",
                        "--out", str(tmp_path / "b"))
    code, text, _ = run(capsys, "eval", "report", str(out / "results.json"), str(tmp_path / "b" / "results.json"),
                        "--out", str(tmp_path / "merged"))
    merged = json.loads((tmp_path / "merged" / "results.json").read_text())
    assert code == 0 and len(merged["records"]) == 7
    assert {(c["budget"], c["split"]) for c in merged["comparisons"]} == {(64, "user"), (128, "user")}
    assert run(capsys, "eval", "report", str(tmp_path / "missing.json"), "--out", str(tmp_path / "x"))[0] == 2


# --- nothing a user types or feeds ends in a traceback -------------------------------

def one_line_error(capsys, code_wanted: int, *argv) -> str:
    code, _, err = run(capsys, *argv)
    assert code == code_wanted, (argv, code, err)
    assert err.count("\n") == 1 and err.startswith("anyres: error: ") and "Traceback" not in err, (argv, err)
    return err


@pytest.fixture()
def files(tmp_path):
    img = tmp_path / "in.png"
    Image.new("RGB", (300, 200), (250, 250, 250)).save(img)
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "foreign.json").write_text(json.dumps({"name": "something else"}))
    (tmp_path / "records3.json").write_text(json.dumps({"records": 3}))
    (tmp_path / "odd-records.json").write_text(json.dumps({"records": [{"split": "a", "image": "b"}]}))
    rec = {"split": "a", "image": "b", "preset": "fixed", "budget": None, "tokens": "many", "recall": 1.0}
    (tmp_path / "typed.json").write_text(json.dumps({"records": [rec]}))
    (tmp_path / "list.json").write_text("[1, 2]")
    return tmp_path


USAGE_ERRORS = [
    [],
    ["nope"],
    ["plan"],
    ["plan", "--size", "10x10"],
    ["plan", "--size", "10x10", "--preset", "nope"],
    ["plan", "{d}/in.png", "--size", "10x10", "--preset", "fixed"],  # IMAGE and --size: which one?
    ["plan", "--size", "10x10", "--preset", "internvl(max_tiles=)"],
    ["show", "--size", "10x10", "--preset", "fixed"],
    ["show", "--size", "10x10", "--preset", "fixed", "-o", "{d}/x.nope"],
    ["show", "--size", "10x10", "--preset", "fixed", "-o", "{d}/missing/x.png"],
    ["show", "--size", "10x10", "--preset", "fixed", "-o", "{d}"],
    ["show", "--size", "10x10", "--preset", "fixed", "-o", "{d}/a-file/x.png"],
    ["compare", "--size", "10x10", "--presets", "fixed", "--plot", "{d}/p.nope"],
    ["compare", "--size", "10x10", "--presets", "fixed", "--plot", "{d}/missing/p.png"],
    ["compare", "--presets", "fixed"],
    ["budget", "{d}/missing-folder"],
    ["budget", "{d}", "--presets", "fixed", "--plot", "{d}/missing/b.png"],
    ["budget", "{d}", "--presets", "fixed", "--plot", "{d}/b.txt"],
    ["encode", "{d}/in.png", "--preset", "fixed", "--encoder", "{d}", "--out", "{d}/missing/t.safetensors"],
    ["encode", "{d}/in.png", "--preset", "fixed", "--encoder", "{d}", "--out", "{d}"],
    ["encode-dataset", "{d}", "--out", "{d}/a-file", "--preset", "fixed", "--encoder", "{d}"],
    ["encode-dataset", "{d}", "--out", "{d}/a-file/sub", "--preset", "fixed", "--encoder", "{d}"],
    ["encode-dataset", "{d}", "--out", "{d}/o", "--preset", "fixed", "--encoder", "{d}", "--workers", "2.5"],
    ["encode-dataset", "{d}", "--out", "{d}/o", "--preset", "fixed", "--encoder", "{d}", "--workers", "-1"],
    ["encode-dataset", "{d}", "--out", "{d}/o", "--preset", "fixed", "--encoder", "{d}", "--workers", "1000000"],
    ["encode-dataset", "{d}", "--out", "{d}/o", "--preset", "fixed", "--encoder", "{d}", "--batch-size", "x"],
    ["encode-dataset", "{d}", "--out", "{d}/o", "--preset", "fixed", "--encoder", "{d}", "--engine", "ray",
     "--encoders", "3,1"],
    ["encode-dataset", "{d}", "--out", "{d}/o", "--preset", "fixed", "--encoder", "{d}", "--engine", "ray",
     "--gpus-per-encoder", "0"],
    ["eval", "report", "{d}/foreign.json", "--out", "{d}/r"],
    ["eval", "report", "{d}/records3.json", "--out", "{d}/r"],
    ["eval", "report", "{d}/odd-records.json", "--out", "{d}/r"],
    ["eval", "report", "{d}/typed.json", "--out", "{d}/r"],
    ["eval", "report", "{d}/list.json", "--out", "{d}/r"],
    ["eval", "report", "{d}/in.png", "--out", "{d}/r"],
    ["eval", "report", "{d}/missing.json", "--out", "{d}/r"],
    ["eval", "legibility", "--out", "{d}/a-file"],
    ["eval", "ranking", "--out", "{d}/a-file"],
    ["eval", "ranking", "--out", "{d}/r", "--presets", "fixed,no-such-preset"],
    ["eval", "ranking", "--out", "{d}/r", "--budgets", "0"],
    ["eval", "ranking", "--out", "{d}/r", "--categories", "receipt,no-such-category"],
    ["demo", "--out", "{d}/a-file"],
]


@pytest.mark.parametrize("argv", USAGE_ERRORS, ids=lambda a: " ".join(a)[:60] or "nothing")
def test_usage_errors_exit_2_with_one_line(capsys, files, argv):
    one_line_error(capsys, 2, *[a.format(d=files) for a in argv])
    assert not (files / "o").exists() and not (files / "r").exists()  # refused before any work


@pytest.mark.parametrize("argv", [
    ["plan", "{d}/corrupt.png", "--preset", "fixed"],
    ["plan", "{d}/missing.png", "--preset", "fixed"],
    ["plan", "--size", "10x5000", "--preset", "qwen2-vl"],
    ["show", "{d}/corrupt.png", "--preset", "fixed", "-o", "{d}/x.png"],
    ["encode", "{d}/in.png", "--preset", "fixed", "--encoder", "{d}", "--out", "{d}/t.safetensors"],
], ids=lambda a: " ".join(a)[:60])
def test_refused_inputs_exit_1_with_one_line(capsys, files, argv):
    one_line_error(capsys, 1, *[a.format(d=files) for a in argv])


def test_compare_when_every_preset_refuses(capsys):
    code, out, err = run(capsys, "compare", "--size", "10x5000", "--presets", "qwen2-vl")
    assert code == 1 and "aspect ratio" in out and "Traceback" not in err


def test_debug_shows_the_traceback(capsys):
    with pytest.raises(anyres.SpecError):
        main(["--debug", "plan", "--size", "10x10", "--preset", "nope"])
    with pytest.raises(anyres.SpecError):
        main(["plan", "--size", "10x10", "--preset", "nope", "--debug"])


def test_unexpected_errors_are_one_line_too(capsys, monkeypatch):
    import anyres.reports.compare

    def boom(*a, **k):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(anyres.reports.compare, "compare", boom)
    err = one_line_error(capsys, 1, "compare", "--size", "10x10")
    assert "ZeroDivisionError: a bug" in err and "--debug" in err


def test_show_draws_huge_sizes_on_a_bounded_picture(tmp_path, capsys):
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = tmp_path / "huge.png"
    code, text, _ = run(capsys, "show", "--size", "1000000x1000000", "--preset", "fixed", "-o", str(out))
    code2, _, _ = run(capsys, "show", "--size", "60000x20000", "--preset", "llava-next", "-o", str(out))
    assert code == code2 == 0
    with Image.open(out) as im:
        assert max(im.size) < 1500
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024  # kB on Linux
    assert grown_mb < 200  # a 60000x20000 RGB canvas alone would be 3.6 GB


def _cli(args, **kw):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ, PYTHONPATH=str(Path(anyres.__file__).resolve().parents[1]))
    return subprocess.run([sys.executable, "-m", "anyres.cli", *args], env=env, stderr=subprocess.PIPE, timeout=120,
                          **kw)


def test_a_closed_pipe_ends_quietly():
    """``anyres plan ... --json | head -1``: the reader is gone before the output is
    written; no BrokenPipeError traceback, nothing on stderr."""
    import os

    read, write = os.pipe()
    os.close(read)  # as head does once it has its line
    try:
        proc = _cli(["plan", "--size", "1000x600", "--preset", "llava-next", "--json"], stdout=write)
    finally:
        os.close(write)
    assert proc.returncode == 1 and proc.stderr == b""


def test_bad_arguments_in_a_real_process(tmp_path):
    import subprocess

    proc = _cli(["show", "--size", "10x10", "--preset", "fixed", "-o", str(tmp_path / "missing" / "x.png")],
                stdout=subprocess.PIPE)
    assert proc.returncode == 2 and proc.stdout == b""
    assert proc.stderr.decode().count("\n") == 1 and b"Traceback" not in proc.stderr
    proc = _cli(["encode-dataset", str(tmp_path), "--out", str(tmp_path / "o"), "--preset", "fixed", "--encoder",
                 str(tmp_path), "--workers", "2.5"], stdout=subprocess.PIPE)
    assert proc.returncode == 2 and proc.stderr.decode().count("\n") == 1 and b"workers" in proc.stderr

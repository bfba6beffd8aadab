"""anyres budget: sources (folder, path list, Parquet) and per-preset token statistics."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

import anyres
from anyres.cli import main
from anyres.engine.budget import corpus_budget, percentile
from anyres.engine.sources import iter_items

SIZES = [(1000, 600), (300, 200), (1240, 1754), (20, 5000), (4032, 3024)]


def _png(w, h) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (9, 9, 9)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture()
def corpus(tmp_path):
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    for k, (w, h) in enumerate(SIZES):
        (root / ("sub" if k % 2 else "") / f"{k}.png").write_bytes(_png(w, h))
    (root / "broken.jpg").write_text("not an image")
    (root / "notes.txt").write_text("ignored: not an image extension")
    return root


def test_folder_items_are_recursive_sorted_and_skip_non_images(corpus):
    keys = [it.key for it in iter_items(corpus)]
    assert keys == sorted(keys) and len(keys) == len(SIZES) + 1
    assert "sub/1.png" in keys and "broken.jpg" in keys and "notes.txt" not in keys


def test_budget_matches_plans_and_counts_refusals(corpus):
    result = corpus_budget(corpus, ["llava-next", "qwen2-vl"])
    assert len(result.sizes) == len(SIZES) and [k for k, _ in result.unreadable] == ["broken.jpg"]
    by = {b.preset: b for b in result.presets}
    expect = sorted(anyres.plan(s, "llava-next").num_tokens for s in SIZES)
    assert sorted(by["llava-next"].tokens) == expect
    assert by["llava-next"].summary()["total_tokens"] == sum(expect)
    assert [k for k, _ in by["qwen2-vl"].refused] == ["sub/3.png"]  # 20x5000: aspect ratio 250 > 200
    assert "aspect ratio" in by["qwen2-vl"].refused[0][1]


def test_path_list_and_parquet_sources(corpus, tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    listing = tmp_path / "list.txt"
    listing.write_text("# two images\nimages/0.png\n\nimages/sub/1.png\nimages/0.png\n")
    assert [it.key for it in iter_items(listing)] == ["images/0.png", "images/sub/1.png"]
    table = pa.table({"id": ["a", "b"], "image": [{"bytes": _png(640, 480), "path": None}, {"bytes": _png(10, 10), "path": None}]})
    pq.write_table(table, tmp_path / "data.parquet")
    items = list(iter_items(tmp_path / "data.parquet"))
    assert [it.key for it in items] == ["row-0", "row-1"] and items[0].data[:4] == b"\x89PNG"
    paths = pa.table({"path": ["images/0.png", "images/2.png"]})
    pq.write_table(paths, tmp_path / "paths.parquet")
    result = corpus_budget(tmp_path / "paths.parquet", ["internvl"])
    assert [s for _, s in result.sizes] == [anyres.Size(*SIZES[0]), anyres.Size(*SIZES[2])]
    with pytest.raises(anyres.SpecError, match="no column"):
        list(iter_items(tmp_path / "paths.parquet", column="nope"))


def test_percentile_nearest_rank():
    assert percentile([], 50) == 0
    assert percentile([1, 2, 3, 4], 50) == 2 and percentile([1, 2, 3, 4], 100) == 4 and percentile([5], 99) == 5


def test_budget_command(corpus, tmp_path, capsys):
    assert main(["budget", str(corpus), "--presets", "llava-next,internvl(max_tiles=6)", "--plot", str(tmp_path / "b.png")]) == 0
    out = capsys.readouterr().out
    assert "llava-next" in out and "internvl(max_tiles=6)" in out and "1 unreadable" in out
    assert (tmp_path / "b.png").stat().st_size > 1000
    assert main(["budget", str(corpus), "--presets", "qwen2-vl", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["images"] == len(SIZES) and data["presets"][0]["refused"] == 1
    assert main(["budget", str(tmp_path / "missing")]) == 2

"""The Ray engine's sources (``ray_sources``), without Ray: cutting a source into units and
reading each unit on its own gives the entries ``iter_items`` gives (same keys, same
paths or bytes, same refusals), for folders, path lists and Parquet files."""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from anyres import SpecError
from anyres.engine import ray_sources
from anyres.engine.ray_sources import read_units, source_units
from anyres.engine.sources import iter_items

from .corpus import make_corpus


def _entries(src, column=None) -> dict[str, tuple]:
    units = pa.Table.from_pylist(source_units(src, column))
    out = {}
    for k in range(units.num_rows):
        for block in read_units(units.slice(k, 1)):
            for e in block.to_pylist():
                assert e["key"] not in out
                path = os.fsdecode(e["path"]) if e["path"] is not None else None
                out[e["key"]] = (path, e["data"], e["problem"] is not None)
    return out


def _items(src, column=None) -> dict[str, tuple]:
    return {i.key: (i.path, i.data, i.problem is not None) for i in iter_items(src, column=column)}


def test_folder_units_give_the_local_listing(tmp_path):
    src = tmp_path / "src"
    make_corpus(src, 20, seed=1)
    (src / "part1" / "deeper").mkdir()
    (src / "part1" / "deeper" / "x.png").write_bytes(b"x")
    (src / "top.jpg").write_bytes(b"y")
    (src / "notes.txt").write_text("not an image")
    with open(os.fsencode(src) + b"/caf\xe9.png", "wb") as fh:  # a name that is not UTF-8
        fh.write(b"z")
    assert len(source_units(src)) == 4  # the top level, part0..part2
    assert _entries(src) == _items(src)


def test_path_list_ranges_give_the_local_listing(tmp_path, monkeypatch):
    monkeypatch.setattr(ray_sources, "UNIT_BYTES", 7)  # many ranges, lines cut at every place
    lines = [b"a.png", b"", b"# a comment", b"sub/b.jpg", b"x\x00y.png", b"/abs/c.png", b"caf\xe9.png", b"d.png"]
    listing = tmp_path / "list.txt"
    listing.write_bytes(b"\n".join(lines) + b"\n")
    assert len(source_units(listing)) > 5
    assert _entries(listing) == _items(listing)


def test_parquet_row_groups_give_the_local_rows(tmp_path):
    rows = {"path": ["a.png", None, "x\x00y.png", "/abs/b.png", "c.png", None],
            "bytes": [None, b"img1", None, None, None, b"img2"]}
    pq.write_table(pa.table(rows), tmp_path / "rows.parquet", row_group_size=2)
    assert len(source_units(tmp_path / "rows.parquet")) == 3
    assert _entries(tmp_path / "rows.parquet") == _items(tmp_path / "rows.parquet")
    pq.write_table(pa.table({"image": pa.array([1.5, 2.5])}), tmp_path / "floats.parquet")  # wrong type: refused
    assert _entries(tmp_path / "floats.parquet") == _items(tmp_path / "floats.parquet") == {
        "row-0": (None, None, True), "row-1": (None, None, True)}


def test_a_damaged_row_group_costs_its_rows(tmp_path):
    pq.write_table(pa.table({"bytes": [bytes([k]) * 100 for k in range(6)]}), tmp_path / "rows.parquet",
                   row_group_size=2)
    meta = pq.ParquetFile(tmp_path / "rows.parquet").metadata.row_group(1).column(0)
    with open(tmp_path / "rows.parquet", "r+b") as fh:
        fh.seek(meta.dictionary_page_offset or meta.data_page_offset)
        fh.write(b"\xff" * 64)
    entries = _entries(tmp_path / "rows.parquet")
    assert entries == _items(tmp_path / "rows.parquet")
    assert sorted(k for k, (_, _, bad) in entries.items() if bad) == ["row-2", "row-3"]


def test_sources_that_cannot_be_opened(tmp_path):
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(SpecError, match="not a readable Parquet file"):
        source_units(tmp_path / "bad.parquet")
    with pytest.raises(SpecError, match="no such file"):
        source_units(tmp_path / "nothing")
    os.mkfifo(tmp_path / "list.txt")
    with pytest.raises(SpecError, match="regular file"):
        source_units(tmp_path / "list.txt")


def test_a_source_of_more_pieces_than_units_gets_bigger_units(tmp_path, monkeypatch):
    """At most ``MAX_UNITS`` units (the driver's list stays small however big the
    source): runs of row groups, of sub-folders, wider byte ranges; the same entries."""
    monkeypatch.setattr(ray_sources, "MAX_UNITS", 2)
    rows = {"path": ["a.png", None, "x\x00y.png", "/abs/b.png", "c.png", None, "d.png"],
            "bytes": [None, b"img1", None, None, None, b"img2", None]}
    pq.write_table(pa.table(rows), tmp_path / "rows.parquet", row_group_size=2)  # four groups
    assert len(source_units(tmp_path / "rows.parquet")) == 2
    assert _entries(tmp_path / "rows.parquet") == _items(tmp_path / "rows.parquet")
    src = tmp_path / "src"
    make_corpus(src, 12, seed=2)
    for k in range(3, 6):
        (src / f"part{k}").mkdir()
        (src / f"part{k}" / f"{k}.png").write_bytes(b"z")
    assert len(source_units(src)) == 3  # the top level, then six sub-folders in two runs
    assert _entries(src) == _items(src)
    monkeypatch.setattr(ray_sources, "UNIT_BYTES", 4)
    listing = tmp_path / "list.txt"
    listing.write_bytes(b"\n".join(b"p%d.png" % k for k in range(40)))
    assert len(source_units(listing)) == 2
    assert _entries(listing) == _items(listing)


def test_units_say_whether_their_source_can_repeat_a_key(tmp_path):
    """Only a source whose keys can repeat pays for resolving repeats (the claim actors)."""
    pq.write_table(pa.table({"bytes": [b"a", b"b"]}), tmp_path / "rows.parquet")  # keys row-N
    pq.write_table(pa.table({"path": ["a.png", "a.png"]}), tmp_path / "paths.parquet")
    hf = pa.table({"image": pa.array([{"bytes": None, "path": "a.png"}],
                                     pa.struct([("bytes", pa.binary()), ("path", pa.string())]))})
    pq.write_table(hf, tmp_path / "hf.parquet")  # a Hugging Face image struct may name rows by path
    (tmp_path / "list.txt").write_text("a.png\na.png\n")
    (tmp_path / "src").mkdir()
    repeats = {name: {u["repeats"] for u in source_units(tmp_path / name)}
               for name in ("rows.parquet", "paths.parquet", "hf.parquet", "list.txt", "src")}
    assert repeats == {"rows.parquet": {False}, "paths.parquet": {True}, "hf.parquet": {True}, "list.txt": {True},
                       "src": {False}}

"""encode-dataset against hostile sources and damaged job folders: one bad entry never
stops the job (nor any rerun), only a source that cannot be opened does, with a one-line
SpecError; a damaged folder resumes or says what to do."""

from __future__ import annotations

import json
import os
from concurrent.futures.process import BrokenProcessPool

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from anyres import SpecError
from anyres.engine import encode_dataset
from anyres.engine.sources import iter_items

from .corpus import _png, make_corpus

PRESET = "llava-next"


def _images(root, n: int, seed: int) -> list[str]:
    """``n`` good PNGs under ``root`` (keys relative to it)."""
    import random

    rng = random.Random(seed)
    (root / "part0").mkdir(parents=True, exist_ok=True)
    keys = [f"part0/{k:04d}.png" for k in range(n)]
    for key in keys:
        (root / key).write_bytes(_png(rng, rng.randint(8, 120), rng.randint(8, 120)))
    return keys


def _manifest(out):
    return pq.read_table(out / "manifest.parquet").to_pylist()


def _errors(out):
    return pq.read_table(out / "errors.parquet").to_pylist()


def _twice(src, out, encoder, **kw):
    """Run the job, then rerun it: the rerun must do nothing new."""
    first = encode_dataset(src, out, PRESET, encoder, **kw)
    again = encode_dataset(src, out, PRESET, encoder, **kw)
    assert (again["encoded"], again["refused"]) == (0, 0)
    assert again["skipped_done"] == first["encoded"] + first["refused"]
    return first


def test_path_list_with_nul_bytes_and_undecodable_lines(tmp_path, tiny_clip_folder):
    src = tmp_path / "src"
    good, bad = make_corpus(src, 4, seed=11, bad_share=0.01)
    latin = os.fsencode(src) + b"/caf\xe9.png"  # a real file whose name is not UTF-8
    with open(latin, "wb") as fh:
        fh.write((src / good[0]).read_bytes())
    listing = tmp_path / "list.txt"
    lines = [f"src/{g}".encode() for g in good + bad] + [b"src/a\x00b.png", latin, b"src/gone\xff\xfe.png"]
    listing.write_bytes(b"\n".join(lines))
    summary = _twice(listing, tmp_path / "out", tiny_clip_folder)
    assert (summary["encoded"], summary["refused"]) == (len(good) + 1, len(bad) + 2)
    errors = {e["source"]: e["message"] for e in _errors(tmp_path / "out")}
    assert "NUL byte" in errors["src/a\x00b.png"]
    assert "cannot read" in errors["src/gone\\xff\\xfe.png"]  # keys are valid UTF-8, the bytes escaped
    assert any(r["source"].endswith("caf\\xe9.png") for r in _manifest(tmp_path / "out"))


def test_a_folder_with_file_names_that_are_not_utf8(tmp_path, tiny_clip_folder):
    src = tmp_path / "src"
    good = _images(src, 2, 10)
    with open(os.fsencode(src) + b"/ok\xe9.png", "wb") as fh:
        fh.write((src / good[0]).read_bytes())
    with open(os.fsencode(src) + b"/broken\xff.png", "wb") as fh:  # refused, its name in the message
        fh.write(b"not an image")
    summary = _twice(src, tmp_path / "out", tiny_clip_folder)
    assert (summary["encoded"], summary["refused"]) == (3, 1)
    [error] = _errors(tmp_path / "out")
    assert error["source"] == "broken\\xff.png" and "broken\\xff.png" in error["message"]


@pytest.mark.parametrize("values, arrow_type, what", [
    (["a.png", "b.png"], pa.string(), "str"),
    ([1.5, float("nan")], pa.float64(), "float"),
    ([[1, 2, 3], []], pa.list_(pa.int64()), "list"),
    ([10**8, 3], pa.int64(), "int"),  # never bytes(10**8): 100 MB of zeros
])
def test_a_bytes_column_of_the_wrong_type_is_refused_row_by_row(tmp_path, tiny_clip_folder, values, arrow_type, what):
    pq.write_table(pa.table({"image": pa.array(values, arrow_type)}), tmp_path / "rows.parquet")
    summary = _twice(tmp_path / "rows.parquet", tmp_path / "out", tiny_clip_folder)
    assert (summary["encoded"], summary["refused"]) == (0, 2)
    assert all(f"holds a {what}, not image bytes" in e["message"] for e in _errors(tmp_path / "out"))


def test_parquet_rows_of_every_kind_in_one_source(tmp_path, tiny_clip_folder):
    src = tmp_path / "src"
    good = _images(src, 3, 12)
    data = [(src / g).read_bytes() for g in good]
    # a path column of ints: every row refused, the bytes column unused
    pq.write_table(pa.table({"path": [1, 2], "bytes": data[:2]}), tmp_path / "ints.parquet")
    summary = _twice(tmp_path / "ints.parquet", tmp_path / "a", tiny_clip_folder)
    assert (summary["encoded"], summary["refused"]) == (0, 2)
    assert all("not a path" in e["message"] for e in _errors(tmp_path / "a"))
    # paths: good, NUL, missing, null; Hugging Face structs: bytes, path only, neither
    rows = pa.table({"path": [f"src/{good[0]}", "x\x00y.png", "src/missing.png", None]})
    pq.write_table(rows, tmp_path / "paths.parquet")
    summary = _twice(tmp_path / "paths.parquet", tmp_path / "b", tiny_clip_folder)
    assert (summary["encoded"], summary["refused"]) == (1, 3)
    structs = pa.table({"image": [{"bytes": data[1], "path": None}, {"bytes": None, "path": str(src / good[2])},
                                  {"bytes": None, "path": None}]})
    pq.write_table(structs, tmp_path / "hf.parquet")
    summary = _twice(tmp_path / "hf.parquet", tmp_path / "c", tiny_clip_folder)
    assert (summary["encoded"], summary["refused"]) == (2, 1)


def _damage_row_group(path, group: int) -> None:
    meta = pq.ParquetFile(path).metadata.row_group(group).column(0)
    start = meta.dictionary_page_offset or meta.data_page_offset
    with open(path, "r+b") as fh:
        fh.seek(start)
        fh.write(b"\xff" * 64)


def test_a_damaged_row_group_costs_its_rows_only(tmp_path, tiny_clip_folder):
    src = tmp_path / "src"
    good = _images(src, 6, 13)
    table = pa.table({"bytes": [(src / g).read_bytes() for g in good]})
    pq.write_table(table, tmp_path / "rows.parquet", row_group_size=2)
    _damage_row_group(tmp_path / "rows.parquet", 1)
    summary = _twice(tmp_path / "rows.parquet", tmp_path / "out", tiny_clip_folder)
    assert (summary["encoded"], summary["refused"]) == (4, 2)
    assert sorted(e["source"] for e in _errors(tmp_path / "out")) == ["row-2", "row-3"]
    assert all("row group 1" in e["message"] for e in _errors(tmp_path / "out"))


@pytest.mark.parametrize("content", [b"", b"PAR1 not really", b"\x00" * 4096])
def test_a_source_that_cannot_be_opened_stops_before_the_folder_is_touched(tmp_path, tiny_clip_folder, content):
    (tmp_path / "bad.parquet").write_bytes(content)
    with pytest.raises(SpecError, match="not a readable Parquet file") as info:
        encode_dataset(tmp_path / "bad.parquet", tmp_path / "out", PRESET, tiny_clip_folder)
    assert "\n" not in str(info.value) and not (tmp_path / "out").exists()
    with pytest.raises(SpecError, match="no such file"):
        iter_items(tmp_path / "nothing")


def test_not_a_regular_file_is_refused_not_waited_on(tmp_path, tiny_clip_folder):
    src = tmp_path / "src"
    good = _images(src, 2, 14)
    os.mkfifo(src / "part0" / "fifo.png")
    summary = encode_dataset(src, tmp_path / "out", PRESET, tiny_clip_folder)
    assert (summary["encoded"], summary["refused"]) == (len(good), 1)
    assert "not a regular file" in _errors(tmp_path / "out")[0]["message"]


def test_a_changed_file_keeps_only_its_newest_row(tmp_path, tiny_clip_folder):
    src = tmp_path / "src"
    good = _images(src, 3, 15)
    out = tmp_path / "out"
    encode_dataset(src, out, PRESET, tiny_clip_folder)
    (src / good[0]).write_bytes((src / good[1]).read_bytes())  # changed between runs
    (src / good[2]).write_bytes(b"now broken")  # was encoded, now refused
    summary = encode_dataset(src, out, PRESET, tiny_clip_folder)
    assert (summary["encoded"], summary["refused"], summary["replaced_rows"]) == (1, 1, 2)
    rows = {r["source"]: r for r in _manifest(out)}
    assert sorted(rows) == sorted(good[:2])  # one row each, good[2] only in the errors
    assert rows[good[0]]["content_hash"] == rows[good[1]]["content_hash"]
    assert [e["source"] for e in _errors(out)] == [good[2]]
    replaced = pq.read_table(out / "replaced.parquet").to_pylist()
    assert sorted((r["source"], r["table"]) for r in replaced) == sorted([(good[0], "manifest"), (good[2], "manifest")])


def test_a_typo_leaves_no_job_behind(tmp_path, tiny_clip_folder):
    src = tmp_path / "src"
    _images(src, 2, 16)
    out = tmp_path / "out"
    with pytest.raises(SpecError, match="unknown preset"):
        encode_dataset(src, out, "llava-nxt", tiny_clip_folder)
    with pytest.raises(Exception):
        encode_dataset(src, out, PRESET, tmp_path / "no-encoder")
    assert not (out / "job.json").exists()
    assert encode_dataset(src, out, PRESET, tiny_clip_folder)["encoded"] == 2


def test_damaged_job_folders(tmp_path, tiny_clip_folder):
    src = tmp_path / "src"
    good, bad = make_corpus(src, 8, seed=17, bad_share=0.15)
    out = tmp_path / "out"
    encode_dataset(src, out, PRESET, tiny_clip_folder, batch_size=2, shard_mb=0.05)
    parts = sorted((out / "manifest").glob("part-*.parquet"))
    assert len(parts) >= 3
    parts[1].write_bytes(b"garbage")  # a damaged manifest part: set aside, its images redone
    shard = sorted((out / "shards").iterdir())[-1]
    shard.write_bytes(b"\x00" * 10)  # a damaged shard: its part is set aside too
    summary = encode_dataset(src, out, PRESET, tiny_clip_folder, batch_size=2, shard_mb=0.05)
    assert summary["encoded"] >= 2 and len(summary["damaged_parts_set_aside"]) == 2
    assert sorted(r["source"] for r in _manifest(out)) == sorted(good)  # each exactly once
    assert sorted(e["source"] for e in _errors(out)) == sorted(bad)
    assert len(list((out / "manifest").glob("*.corrupt"))) == 2
    again = encode_dataset(src, out, PRESET, tiny_clip_folder)
    assert (again["encoded"], again["refused"]) == (0, 0) and "damaged_parts_set_aside" not in again
    (out / "job.json").write_text("{not json")
    with pytest.raises(SpecError, match="delete job.json and rerun to resume") as info:
        encode_dataset(src, out, PRESET, tiny_clip_folder)
    assert "\n" not in str(info.value)
    (out / "job.json").unlink()
    assert encode_dataset(src, out, PRESET, tiny_clip_folder)["skipped_done"] == len(good) + len(bad)


def test_out_that_is_a_file_or_read_only(tmp_path, tiny_clip_folder):
    src = tmp_path / "src"
    _images(src, 1, 18)
    (tmp_path / "file").write_text("x")
    with pytest.raises(SpecError, match="is a file"):
        encode_dataset(src, tmp_path / "file", PRESET, tiny_clip_folder)
    with pytest.raises(SpecError, match="cannot use this folder"):
        encode_dataset(src, tmp_path / "file" / "sub", PRESET, tiny_clip_folder)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        with pytest.raises(SpecError, match="cannot use this folder"):
            encode_dataset(src, ro / "job", PRESET, tiny_clip_folder)
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize("workers", ["2", 2.5, True, -1, 10**6, None])
def test_workers_must_be_a_small_int(tmp_path, tiny_clip_folder, workers):
    with pytest.raises(SpecError, match="workers") as info:
        encode_dataset(tmp_path, tmp_path / "out", PRESET, tiny_clip_folder, workers=workers)
    assert repr(workers) in str(info.value) or str(workers) in str(info.value)
    assert not (tmp_path / "out").exists()


class _BrokenAtSubmit:
    """An executor whose pool broke before this submit (as a worker dying between two
    submits leaves it)."""

    def submit(self, *a, **k):
        raise BrokenProcessPool("a child process terminated abruptly")


def test_a_pool_broken_at_submit_is_rebuilt(tmp_path, tiny_clip_folder, monkeypatch):
    import anyres.engine.local as local

    src = tmp_path / "src"
    good = _images(src, 5, 19)
    real_init = local._Renderer.__init__
    state = {"broken": 0}

    def init(self, *a, **k):
        real_init(self, *a, **k)
        self.executor = _BrokenAtSubmit()

    real_drop = local._Renderer._drop

    def drop(self, executor):
        state["broken"] += isinstance(executor, _BrokenAtSubmit)
        if not isinstance(executor, _BrokenAtSubmit):
            real_drop(self, executor)

    monkeypatch.setattr(local._Renderer, "__init__", init)
    monkeypatch.setattr(local._Renderer, "_drop", drop)
    summary = encode_dataset(src, tmp_path / "out", PRESET, tiny_clip_folder, workers=2, batch_size=2)
    assert state["broken"] == 1 and (summary["encoded"], summary["refused"]) == (len(good), 0)
    assert sorted(r["source"] for r in _manifest(tmp_path / "out")) == sorted(good)

"""Fuzz over dataset source rows (issue #14): Parquet columns of any Arrow type holding any
value, path lists of any bytes. Reading a source never raises for a row: every row
becomes exactly one item (an image to decode, or a refusal carrying its reason), keys are
unique valid UTF-8, and reading an item's bytes raises only ``ImageError``/``OSError``.
A few generated sources then go through the whole job: every good image encoded once,
every bad row in the errors table, and a rerun does nothing."""

from __future__ import annotations

import os
import random
import time
import tracemalloc

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from anyres import ImageError, SpecError
from anyres.engine import encode_dataset
from anyres.engine.sources import BYTES_COLUMNS, PATH_COLUMNS, iter_items

from .corpus import _png

GOOD = _png(random.Random(5), 20, 14)
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 60)), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# Path-like text: names that exist, that do not, with NUL bytes, surrogates, absolute.
PATH_TEXT = st.one_of(
    st.sampled_from(["good.png", "missing.png", "a\x00b.png", "/nonexistent/x.png", "", "..", "sub/", "é.png"]),
    st.text(max_size=12),
)
BYTES_VALUE = st.one_of(st.just(GOOD), st.binary(max_size=64), st.just(GOOD[:40]), st.just(b""))
# column type -> values of that type (None anywhere: a null)
COLUMN_KINDS = {
    "string": (pa.string(), PATH_TEXT),
    "large_string": (pa.large_string(), PATH_TEXT),
    "binary": (pa.binary(), BYTES_VALUE),
    "large_binary": (pa.large_binary(), BYTES_VALUE),
    "int64": (pa.int64(), st.integers(-(2**63), 2**63 - 1)),
    "float64": (pa.float64(), st.floats(allow_nan=True, allow_infinity=True)),
    "bool": (pa.bool_(), st.booleans()),
    "list": (pa.list_(pa.int64()), st.lists(st.integers(0, 255), max_size=4)),
    "hf_image": (pa.struct([("bytes", pa.binary()), ("path", pa.string())]),
                 st.fixed_dictionaries({"bytes": st.one_of(st.none(), BYTES_VALUE),
                                        "path": st.one_of(st.none(), PATH_TEXT)})),
    "struct_other": (pa.struct([("x", pa.int64())]), st.fixed_dictionaries({"x": st.integers(0, 9)})),
}


@st.composite
def parquet_tables(draw):
    names = draw(st.lists(st.sampled_from(PATH_COLUMNS[:2] + BYTES_COLUMNS[:3] + ("other",)),
                          min_size=1, max_size=3, unique=True))
    rows = draw(st.integers(0, 12))
    columns = {}
    for name in names:
        kind, values = COLUMN_KINDS[draw(st.sampled_from(sorted(COLUMN_KINDS)))]
        columns[name] = pa.array([draw(st.one_of(st.none(), values)) for _ in range(rows)], kind)
    return pa.table(columns), draw(st.integers(1, 5))


def _check_items(items: list, rows: int | None) -> None:
    # a key the source repeats is resolved by sources.claim: every entry can be stored
    # under a key of its own (its key the first time, else its alt, unique in the source)
    taken, keys = set(), []
    for it in items:
        keys.append(it.key if it.key not in taken else it.alt)
        taken.add(keys[-1])
    assert None not in keys and len(set(keys)) == len(keys), "keys (or their alts) must be unique"
    for it in items:
        it.key.encode("utf-8")  # every key can be stored
        assert (it.problem is not None) + (it.data is not None) + (it.path is not None) >= 1
        try:
            data = it.read_bytes()
        except (ImageError, OSError):
            continue
        assert isinstance(data, bytes)
    if rows is not None:
        assert len(items) == rows, "every row is exactly one item"


def _bounded(fn):
    """Run ``fn`` with its CPU time and peak Python allocations measured."""
    tracemalloc.start()
    cpu = time.thread_time()
    try:
        out = fn()
        return out, time.thread_time() - cpu, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@FUZZ
@given(table=parquet_tables())
def test_parquet_rows_of_any_type_become_one_item_each(tmp_path_factory, table):
    folder = tmp_path_factory.mktemp("pq")
    (folder / "good.png").write_bytes(GOOD)
    table, group = table
    path = folder / "rows.parquet"
    pq.write_table(table, path, row_group_size=group)
    try:
        items, cpu, peak = _bounded(lambda: list(iter_items(path)))
    except SpecError as exc:  # only a source with no usable column is refused as a whole
        assert "no image column" in str(exc)
        assert not set(table.column_names) & set(PATH_COLUMNS + BYTES_COLUMNS)
        return
    _check_items(items, table.num_rows)
    # tracemalloc slows Python several times over; the bound is still far below 1 s
    assert cpu < 1.0 and peak < 100 * 2**20, (cpu, peak)


@FUZZ
@given(lines=st.lists(st.one_of(st.binary(max_size=20), st.sampled_from([b"good.png", b"# note", b"", b"  good.png  ",
                                                                          b"a\x00b.png", b"\xff\xfe.png"])),
                      max_size=15))
def test_path_lists_of_any_bytes_become_one_item_a_distinct_entry(tmp_path_factory, lines):
    folder = tmp_path_factory.mktemp("list")
    (folder / "good.png").write_bytes(GOOD)
    listing = folder / "list.txt"
    listing.write_bytes(b"\n".join(lines))
    items = list(iter_items(listing))
    entries = {os.fsdecode(raw.strip()) for line in lines for raw in line.splitlines() if raw.strip()}
    entries = {e for e in entries if not e.startswith("#")}
    _check_items(items, len(entries))


@settings(max_examples=int(os.environ.get("FUZZ_JOB_EXAMPLES", 4)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(table=parquet_tables())
@example(table=(pa.table({"path": pa.array(["good.png", "good.png"], pa.large_string())}), 1))  # a repeat
def test_a_job_over_fuzzed_rows_encodes_each_good_image_once(tmp_path_factory, tiny_clip_folder, table):
    folder = tmp_path_factory.mktemp("job")
    (folder / "good.png").write_bytes(GOOD)
    table, group = table
    source = folder / "rows.parquet"
    pq.write_table(table, source, row_group_size=group)
    try:
        items = list(iter_items(source))
    except SpecError:
        return
    out = folder / "out"
    first = encode_dataset(source, out, "llava-next", tiny_clip_folder)
    # a row holding what an earlier row holds under the same key is a repeat, encoded once
    assert first["encoded"] + first["refused"] + first.get("repeated_in_source", 0) == len(items)
    manifest = pq.read_table(out / "manifest.parquet").to_pylist() if (out / "manifest.parquet").exists() else []
    errors = pq.read_table(out / "errors.parquet").to_pylist() if (out / "errors.parquet").exists() else []
    assert len(manifest) == first["encoded"] and len(errors) == first["refused"]
    assert {r["source"] for r in manifest}.isdisjoint({e["source"] for e in errors})
    again = encode_dataset(source, out, "llava-next", tiny_clip_folder)
    assert (again["encoded"], again["refused"]) == (0, 0)


@pytest.mark.parametrize("table", [
    pa.table({"image": pa.array([GOOD, None, b"junk", GOOD[:40]], pa.binary()),
              "path": pa.array(["good.png", "a\x00b", None, "x.png"])}),
])
def test_a_mixed_source_encodes_exactly_its_good_rows(tmp_path, tiny_clip_folder, table):
    """The hand-written counterpart of the fuzz above, with its outcome spelled out: bytes
    win over the path column; null bytes fall back to the row's path only through a Hugging
    Face struct, so row 1 (null bytes, a NUL path) and rows 2-3 (bad bytes) are refused."""
    source = tmp_path / "rows.parquet"
    pq.write_table(table, source)
    summary = encode_dataset(source, tmp_path / "out", "llava-next", tiny_clip_folder)
    assert (summary["encoded"], summary["refused"]) == (1, 3)

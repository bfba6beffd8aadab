"""A key the source repeats (a path in two row groups of a Parquet file, or in two byte
ranges of a path list) names one image, encoded once by either engine
(``sources.claim``; the Ray engine's side: test_ray_cluster.py)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from anyres.engine import encode_dataset
from anyres.engine.sources import claim

from .corpus import make_corpus

PRESET = "llava-next"


def test_the_claim_rule():
    taken: dict = {}
    assert claim(taken, "a", "h1", "a#row-0") == "key"
    assert claim(taken, "a", "h1", "a#row-5") is None  # the same content again: a repeat
    assert claim(taken, "a", "h2", "a#row-7") == "alt" and taken["a#row-7"] == "h2"  # other content: its own key
    assert claim(taken, "a", "h2", None) is None  # no alt (a path list's line): a repeat
    assert claim(taken, "b", "", None) == "key" and claim(taken, "b", "", None) is None  # unreadable, twice


def repeating_parquet(tmp_path, good: list[str]):
    """Rows over row groups of two: paths repeated across groups, the same bytes twice
    under one name, other bytes under a name already taken; returns (file, expected keys)."""
    src = tmp_path / "src"
    a, b, c = (src / g for g in good[:3])
    rows = {"path": [str(a), str(b), str(a), "named.png", str(b), "named.png", "named.png", str(a)],
            "bytes": [None, None, None, c.read_bytes(), None, c.read_bytes(), a.read_bytes(), None]}
    pq.write_table(pa.table(rows), tmp_path / "rows.parquet", row_group_size=2)
    return tmp_path / "rows.parquet", sorted([str(a), str(b), "named.png", "named.png#row-6"])


def test_a_key_repeated_across_row_groups_is_encoded_once(tmp_path, tiny_clip_folder):
    good, _ = make_corpus(tmp_path / "src", 4, seed=8, bad_share=0.0)
    path, keys = repeating_parquet(tmp_path, good)
    run = encode_dataset(path, tmp_path / "out", PRESET, tiny_clip_folder, batch_size=2)
    assert (run["encoded"], run["refused"], run["repeated_in_source"]) == (4, 0, 4)
    rows = pq.read_table(tmp_path / "out" / "manifest.parquet").to_pylist()
    assert sorted(r["source"] for r in rows) == keys  # one row a key, nothing replaced
    assert pq.read_table(tmp_path / "out" / "replaced.parquet").num_rows == 0
    again = encode_dataset(path, tmp_path / "out", PRESET, tiny_clip_folder)
    assert (again["encoded"], again["skipped_done"], again["repeated_in_source"]) == (0, 4, 4)

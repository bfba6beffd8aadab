"""The job folder: atomic flushes, recovery from interrupted ones, consolidation."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
import torch

from anyres import SpecError
from anyres.engine.store import Encoded, Refused, Store, load_embeddings

SETTINGS = {"preset": "llava-next", "encoder": "x"}


def _enc(k: int, n: int = 3) -> Encoded:
    return Encoded(f"img{k}.png", f"h{k}", 10 + k, 20, "llava-next", "2x2", n, "[]", n + 1, torch.full((n, 4), float(k)))


def test_flush_commit_and_reload(tmp_path):
    store = Store.open(tmp_path, SETTINGS)
    assert store.flush([_enc(0), _enc(1, 5)], [Refused("bad.jpg", "hb", "ImageError", "not an image")]) == 0
    assert store.flush([], [Refused("bad2.jpg", "hc", "PlanError", "too thin")]) == 1  # errors only: still a commit
    with pytest.raises(SpecError, match="in use by another running job"):
        Store.open(tmp_path, SETTINGS)  # the folder is locked while a job holds it
    store.close()
    again = Store.open(tmp_path, SETTINGS)
    assert again.next_part == 2
    assert again.is_done("img1.png", "h1") and again.is_done("bad2.jpg", "hc") and not again.is_done("img1.png", "other")
    images, errors = again.consolidate()
    assert (images, errors) == (2, 2)
    rows = pq.read_table(tmp_path / "manifest.parquet").to_pylist()
    assert [r["offset"] for r in rows] == [0, 3] and rows[1]["num_tokens"] == 5
    assert torch.equal(load_embeddings(tmp_path, rows[1]), torch.full((5, 4), 1.0))


def test_interrupted_flushes_are_dropped(tmp_path):
    with Store.open(tmp_path, SETTINGS) as store:
        store.flush([_enc(0)], [])
    [kept] = [p.name for p in (tmp_path / "shards").iterdir()]  # named by its content
    # a flush killed after its shard and errors part, before its manifest part
    (tmp_path / "shards" / "shard-00001.safetensors").write_bytes(b"partial")
    (tmp_path / "errors" / "part-00001.parquet").write_bytes(b"partial")
    (tmp_path / "manifest" / ".part-00001.parquet.tmp").write_bytes(b"partial")
    again = Store.open(tmp_path, SETTINGS)
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == [kept]
    assert list((tmp_path / "errors").iterdir()) == [tmp_path / "errors" / "part-00000.parquet"]
    assert list((tmp_path / "manifest").glob(".*")) == []
    assert again.next_part == 1 and again.is_done("img0.png", "h0")


def test_other_settings_refuse_to_resume(tmp_path):
    Store.open(tmp_path, SETTINGS).close()
    with pytest.raises(SpecError, match="preset differ"):
        Store.open(tmp_path, {**SETTINGS, "preset": "qwen2-vl"})


def _commit_named(store, tmp_path, sources: list[str]) -> str:
    """Commit rows whose embeddings a worker wrote as a content-named shard (the Ray engine's way)."""
    import pyarrow as pa

    from anyres.engine.shard_io import output_location, write_shard
    from anyres.engine.store import manifest_schema

    fs, base = output_location(str(tmp_path))
    tensors = {f"{k:06d}": torch.full((2, 4), float(k)) for k in range(len(sources))}
    shard = write_shard(fs, base, tensors, {"format": "anyres-shard-1"})
    rows = [dict(source=s, content_hash=f"h-{s}", width=1, height=1, preset="p", grid="", num_tokens=2,
                 layout_length=2, shard=shard, offset=2 * k, tensor=f"{k:06d}", layout="[]")
            for k, s in enumerate(sources)]
    store.commit(pa.Table.from_pylist(rows, schema=manifest_schema()), [])
    return shard


def test_content_named_shards_orphans_and_duplicates(tmp_path):
    with Store.open(tmp_path, SETTINGS, load_done=False) as store:
        kept = _commit_named(store, tmp_path, ["a.png", "b.png", "a.png"])  # a retried task's duplicate
        assert _commit_named(store, tmp_path, ["a.png", "b.png", "a.png"]) == kept  # same content, same name
        assert not store.done  # the Ray engine anti-joins on its workers: no set in the driver
    (tmp_path / "shards" / f"{'0' * 40}.safetensors").write_bytes(b"a task's shard never committed")
    (tmp_path / "shards" / ".abc.tmp").write_bytes(b"a write cut short")
    again = Store.open(tmp_path, SETTINGS)
    assert [p.name for p in (tmp_path / "shards").iterdir()] == [kept.split("/")[1]]
    assert again.is_done("b.png", "h-b.png") and again.next_part == 2
    assert again.consolidate() == (2, 0)  # one row a source
    rows = {r["source"]: r for r in pq.read_table(tmp_path / "manifest.parquet").to_pylist()}
    assert torch.equal(load_embeddings(tmp_path, rows["a.png"]), torch.full((2, 4), 2.0))  # a.png's last row
    again.close()


def test_a_part_naming_a_shard_outside_the_folder_is_set_aside(tmp_path):
    import pyarrow as pa

    from anyres.engine.store import manifest_schema

    with Store.open(tmp_path, SETTINGS) as store:
        row = dict(source="x.png", content_hash="h", width=1, height=1, preset="p", grid="", num_tokens=1,
                   layout_length=1, shard="shards/../../etc/passwd", offset=0, tensor="000000", layout="[]")
        store.commit(pa.Table.from_pylist([row], schema=manifest_schema()), [])
    again = Store.open(tmp_path, SETTINGS)
    assert len(again.dropped) == 1 and "outside shards/" in again.dropped[0] and not again.is_done("x.png", "h")
    again.close()

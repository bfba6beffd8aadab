"""The job folder on an object store (``pyarrow.fs``, no rename, no lock): a whole job
equal to the local folder's, killed at random writes and resumed exactly once, and the
lease that keeps a second job out (and lets it take over an expired one). The store is
``objectstore.NoRenameHandler``: a local folder behind a file system that refuses rename
and copy."""

from __future__ import annotations

import json
import random
import time
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest
import torch

from anyres import SpecError
from anyres.engine import encode_dataset, folder
from anyres.engine.store import Encoded, Store, load_embeddings

from .corpus import make_corpus
from .objectstore import Crash, object_store

PRESET = "llava-next"
SETTINGS = {"preset": PRESET, "encoder": "x"}


def _rows(root, name: str) -> list[dict]:
    return pq.read_table(root / name).to_pylist()


def _enc(k: int) -> Encoded:
    return Encoded(f"img{k}.png", f"h{k}", 1, 1, PRESET, "", 2, "[]", 2, torch.full((2, 4), float(k)))


def test_a_job_on_an_object_store_equals_the_local_folders(tmp_path, tiny_clip_folder):
    src = tmp_path / "src"
    good, bad = make_corpus(src, 16, seed=11, bad_share=0.2)
    local = encode_dataset(src, tmp_path / "local", PRESET, tiny_clip_folder, batch_size=4, shard_mb=0.2)
    fs, handler = object_store(tmp_path / "bucket")
    run = encode_dataset(src, (fs, "job"), PRESET, tiny_clip_folder, batch_size=4, shard_mb=0.2)
    assert (run["encoded"], run["refused"]) == (local["encoded"], local["refused"]) == (len(good), len(bad))
    job = tmp_path / "bucket" / "job"
    keep = lambda r: {k: v for k, v in r.items() if k not in ("shard", "offset", "tensor")}  # noqa: E731
    ours = {r["source"]: r for r in _rows(job, "manifest.parquet")}
    ref = {r["source"]: r for r in _rows(tmp_path / "local", "manifest.parquet")}
    assert {k: keep(r) for k, r in ours.items()} == {k: keep(r) for k, r in ref.items()}
    for key, r in ref.items():  # the same batches: the same numbers
        assert torch.equal(load_embeddings((fs, "job"), ours[key]), load_embeddings(tmp_path / "local", r)), key
    assert sorted(e["source"] for e in _rows(job, "errors.parquet")) == sorted(bad)
    assert not (job / "job.lease").exists() and not (job / "job.lock").exists()  # released, and no flock there
    assert handler.writes > 0  # (move and copy raise: none was used)
    again = encode_dataset(src, (fs, "job"), PRESET, tiny_clip_folder)
    assert again["encoded"] == again["refused"] == 0 and again["skipped_done"] == len(good) + len(bad)


def test_killed_at_random_writes_then_resumed_exactly_once(tmp_path, tiny_clip_folder, monkeypatch):
    """Each run dies at a random write (a shard, an errors part, a manifest part, the
    consolidated tables), leaving its lease behind; the next run waits out the lease and
    takes the folder over."""
    monkeypatch.setattr(folder, "LEASE_SECONDS", 0.6)
    src = tmp_path / "src"
    good, bad = make_corpus(src, 30, seed=12, bad_share=0.1)
    rng = random.Random(5)
    job = tmp_path / "bucket" / "job"
    crashes = 0
    for _ in range(4):
        fs, handler = object_store(tmp_path / "bucket", crash_at=rng.randint(2, 9))
        with pytest.raises(Crash):
            encode_dataset(src, (fs, "job"), PRESET, tiny_clip_folder, batch_size=3, shard_mb=0.02)
        crashes += 1
        assert (job / "job.lease").exists()  # a dead job's lease stays until it expires
        expires = json.loads((job / "job.lease").read_text())["expires"]
        with monkeypatch.context() as m:  # checked before it expires, however slow this machine is now
            m.setattr(folder, "time", SimpleNamespace(time=lambda: expires - 0.05, sleep=time.sleep))
            with pytest.raises(SpecError, match="in use by another running job"):
                Store.open((object_store(tmp_path / "bucket")[0], "job"), _settings(tiny_clip_folder))
        time.sleep(max(0.0, expires - time.time()) + 0.1)
    fs, handler = object_store(tmp_path / "bucket")
    run = encode_dataset(src, (fs, "job"), PRESET, tiny_clip_folder, batch_size=3, shard_mb=0.02)
    assert run["lease_taken_over_from"] and crashes == 4
    assert run["skipped_done"] > 0 and run["encoded"] + run["refused"] + run["skipped_done"] == len(good) + len(bad)
    rows = _rows(job, "manifest.parquet")
    assert sorted(r["source"] for r in rows) == sorted(good)  # every good image exactly once
    assert sorted(e["source"] for e in _rows(job, "errors.parquet")) == sorted(bad)
    assert {f"shards/{p.name}" for p in (job / "shards").iterdir()} == {r["shard"] for r in rows}  # no orphan
    for r in rows:
        assert load_embeddings((fs, "job"), r).shape[0] == r["num_tokens"]


def _settings(encoder) -> dict:
    from anyres.engine.job import job_settings

    return job_settings(PRESET, encoder, True)


def test_a_live_lease_keeps_a_second_job_out_and_an_expired_one_is_taken_over(tmp_path, monkeypatch):
    monkeypatch.setattr(folder, "LEASE_SECONDS", 0.9)
    fs, _ = object_store(tmp_path)
    first = Store.open((fs, "job"), SETTINGS)
    time.sleep(1.5)  # past the lease's first expiry: renewed meanwhile
    with pytest.raises(SpecError, match="in use by another running job"):
        Store.open((fs, "job"), SETTINGS)
    first.flush([_enc(0)], [])
    first._lock._stop.set()  # the first job stalls: it stops renewing
    first._lock._thread.join()
    time.sleep(1.0)
    second = Store.open((fs, "job"), SETTINGS)
    assert second.report()["lease_taken_over_from"] == first._lock.owner
    assert second.is_done("img0.png", "h0")
    with pytest.raises(SpecError, match="no longer holds the folder"):
        first.flush([_enc(1)], [])  # the stalled job wakes up: it commits nothing more
    second.flush([_enc(2)], [])
    first.close()  # leaves the second job's lease alone
    assert (tmp_path / "job" / "job.lease").exists()
    second.close()
    assert not (tmp_path / "job" / "job.lease").exists()
    third = Store.open((fs, "job"), SETTINGS)
    assert third.consolidate() == (2, 0) and "lease_taken_over_from" not in third.report()
    third.close()


def test_a_damaged_part_is_set_aside_without_a_rename(tmp_path):
    """A committed part whose shard lost its tail (its header lists data that is not
    there) is set aside by copy and delete; its images are done again."""
    fs, _ = object_store(tmp_path)
    with Store.open((fs, "job"), SETTINGS) as store:
        store.flush([_enc(0)], [])
        store.flush([_enc(1)], [])
    rows = pq.read_table(tmp_path / "job" / "manifest" / "part-00001.parquet").to_pylist()
    shard = tmp_path / "job" / rows[0]["shard"]
    shard.write_bytes(shard.read_bytes()[:-8])
    again = Store.open((fs, "job"), SETTINGS)
    assert len(again.dropped) == 1 and again.dropped[0].startswith("part-00001")
    assert again.is_done("img0.png", "h0") and not again.is_done("img1.png", "h1") and again.next_part == 2
    assert (tmp_path / "job" / "manifest" / "part-00001.parquet.corrupt").exists() and not shard.exists()
    assert shard.with_name(shard.name + ".corrupt").exists()
    again.close()


def test_a_uri_pyarrow_cannot_open_is_refused(tmp_path, tiny_clip_folder):
    make_corpus(tmp_path / "src", 2, seed=1)
    with pytest.raises(SpecError, match="not a location pyarrow can open"):
        encode_dataset(tmp_path / "src", "nosuch://bucket/job", PRESET, tiny_clip_folder)

"""encode-dataset: manifest, shards and errors; resume; SIGKILL at random points (the Ray engine:
test_ray_cluster.py)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
from safetensors import safe_open

import anyres
from anyres.engine import encode_dataset
from anyres.engine.store import load_embeddings
from anyres.pipeline import VisionPipeline

from ..tolerance import assert_close_rel
from .corpus import make_corpus

PRESET = "llava-next"


def _manifest(out: Path) -> list[dict]:
    return pq.read_table(out / "manifest.parquet").to_pylist()


def _errors(out: Path) -> list[dict]:
    return pq.read_table(out / "errors.parquet").to_pylist()


def _embeddings(out: Path) -> dict[str, torch.Tensor]:
    return {r["source"]: load_embeddings(out, r) for r in _manifest(out)}


def test_job_writes_what_the_pipeline_gives_and_resumes(tmp_path, tiny_clip_folder):
    src, out = tmp_path / "src", tmp_path / "out"
    good, bad = make_corpus(src, 24, seed=1, bad_share=0.15)
    summary = encode_dataset(src, out, PRESET, tiny_clip_folder, batch_size=5, shard_mb=0.3)
    assert summary["encoded"] == len(good) and summary["refused"] == len(bad)
    rows = _manifest(out)
    assert sorted(r["source"] for r in rows) == sorted(good)
    assert sorted(e["source"] for e in _errors(out)) == sorted(bad)
    assert all(e["error_type"] == "ImageError" and e["message"] for e in _errors(out))
    assert len({r["shard"] for r in rows}) > 2  # several shards
    pipe = VisionPipeline.from_preset(PRESET, tiny_clip_folder)
    for r in rows[:6]:
        [ref] = pipe([str(src / r["source"])])
        emb = load_embeddings(out, r)
        assert r["num_tokens"] == ref.plan.num_tokens == len(emb) and (r["width"], r["height"]) == tuple(ref.plan.image)
        # the same encoder and connector on the same pixels, batched in other groups: float32
        # summation order (see PACKED_ULPS in tests/encode/test_packed.py)
        assert_close_rel(emb, ref.embeddings, ulps=64, what=r["source"])
        assert r["grid"] == "x".join(map(str, ref.plan.grid)) and r["layout_length"] == len(ref.plan.layout)
    again = encode_dataset(src, out, PRESET, tiny_clip_folder)
    assert again["encoded"] == 0 and again["refused"] == 0 and again["skipped_done"] == len(good) + len(bad)
    (src / "part0" / "new.png").write_bytes((src / good[0]).read_bytes())  # a new file: only it is encoded
    assert encode_dataset(src, out, PRESET, tiny_clip_folder)["encoded"] == 1
    with pytest.raises(anyres.SpecError, match="preset differ"):
        encode_dataset(src, out, "internvl", tiny_clip_folder)


def _run(args: list[str]) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(Path(anyres.__file__).resolve().parents[1]))
    return subprocess.Popen([sys.executable, "-m", "anyres.cli", *args], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_sigkill_at_three_random_points_then_resume(tmp_path, tiny_clip_folder):
    src = tmp_path / "src"
    good, bad = make_corpus(src, 300, seed=2)
    ref_out, out = tmp_path / "uninterrupted", tmp_path / "killed"

    def job(dest: Path) -> list[str]:
        return ["encode-dataset", str(src), "--out", str(dest), "--preset", PRESET, "--encoder", str(tiny_clip_folder),
                "--workers", "2", "--batch-size", "8", "--shard-mb", "0.5", "--quiet"]

    assert _run(job(ref_out)).wait(timeout=600) == 0
    rng = random.Random(7)
    kills = 0
    for _ in range(3):
        proc = _run(job(out))
        target = len(list((out / "manifest").glob("part-*.parquet"))) + rng.randint(1, 6) if out.exists() else rng.randint(1, 6)
        deadline = time.time() + 300
        while proc.poll() is None and time.time() < deadline:
            if out.exists() and len(list((out / "manifest").glob("part-*.parquet"))) >= target:
                time.sleep(rng.uniform(0, 0.3))  # somewhere inside the next flush, or between flushes
                break
            time.sleep(0.02)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
    assert kills == 3, "each run should have been killed mid-job"
    final = _run(job(out))
    assert final.wait(timeout=600) == 0, final.stderr.read().decode()[-2000:]

    rows = _manifest(out)
    assert sorted(r["source"] for r in rows) == sorted(good)  # every good image exactly once
    assert sorted(e["source"] for e in _errors(out)) == sorted(bad)  # every bad one once
    for shard in (out / "shards").iterdir():  # every shard loads
        with safe_open(str(shard), framework="pt") as f:
            assert all(f.get_tensor(k).dim() == 2 for k in f.keys())
    assert {r["shard"] for r in rows} == {f"shards/{s.name}" for s in (out / "shards").iterdir()}
    ours, ref = _embeddings(out), _embeddings(ref_out)
    assert ours.keys() == ref.keys()
    for key in ref:
        assert_close_rel(ours[key], ref[key], ulps=64, what=key)  # batched in other groups: as above


def _killer(job):
    """A render function that kills its worker process on some images (as an OOM kill would)."""
    from anyres.pixels.render import render_one

    if "kill" in os.path.basename(str(job.source)):
        os._exit(1)
    return render_one(job)


def test_workers_killed_ten_times_in_one_job_refuse_only_those_images(tmp_path, tiny_clip_folder, monkeypatch):
    """Ten worker deaths in one job, spread through it (each breaks the pool while other
    images are in flight and more are being submitted): the job finishes, every good
    image encoded exactly once, only the ten killers refused."""
    import anyres.engine.local as local

    src = tmp_path / "src"
    good, bad = make_corpus(src, 30, seed=4)
    kills = []
    for k in range(10):
        name = f"part{k % 3}/{3 * k:04d}-kill.png"
        (src / name).write_bytes((src / good[k]).read_bytes())
        kills.append(name)
    monkeypatch.setattr(local, "render_one", _killer)
    summary = encode_dataset(src, tmp_path / "out", PRESET, tiny_clip_folder, workers=2, batch_size=3)
    assert summary["encoded"] == len(good) and summary["refused"] == len(bad) + len(kills)
    sources = [r["source"] for r in _manifest(tmp_path / "out")]
    assert sorted(sources) == sorted(good)  # each exactly once
    errors = {e["source"]: e["error_type"] for e in _errors(tmp_path / "out")}
    assert {k: errors.pop(k) for k in kills} == {k: "WorkerError" for k in kills} and sorted(errors) == sorted(bad)


def test_unreadable_inputs_are_listed_once_and_null_rows_refused(tmp_path, tiny_clip_folder):
    import pyarrow as pa

    src = tmp_path / "src"
    good, _ = make_corpus(src, 4, seed=5)
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join([f"src/{g}" for g in good] + ["src/missing.png"]))
    for _ in range(3):  # a missing file is refused once, then skipped on every resume
        summary = encode_dataset(listing, tmp_path / "out", PRESET, tiny_clip_folder)
    assert summary["refused"] == 0 and summary["skipped_done"] == len(good) + 1
    assert [e["source"] for e in _errors(tmp_path / "out")] == ["src/missing.png"]
    table = pa.table({"image": [{"bytes": (src / good[0]).read_bytes(), "path": None}, None]})
    pq.write_table(table, tmp_path / "rows.parquet")
    summary = encode_dataset(tmp_path / "rows.parquet", tmp_path / "pq", PRESET, tiny_clip_folder)
    assert (summary["encoded"], summary["refused"]) == (1, 1)
    assert "no image" in _errors(tmp_path / "pq")[0]["message"]


def test_fast_pixel_path_job(tmp_path, tiny_clip_folder):
    src = tmp_path / "src"
    good, bad = make_corpus(src, 12, seed=6, bad_share=0.2)
    summary = encode_dataset(src, tmp_path / "out", PRESET, tiny_clip_folder, exact=False, workers=2, batch_size=4)
    assert (summary["encoded"], summary["refused"]) == (len(good), len(bad))
    assert all(e["error_type"] == "ImageError" for e in _errors(tmp_path / "out"))

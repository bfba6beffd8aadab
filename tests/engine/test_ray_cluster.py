"""The Ray engine on a simulated multi-node cluster (``ray.cluster_utils.Cluster``: a head
node with CPUs, two worker nodes with a CPU and a fake GPU each), shared by the tests of
this module: encoder actors one per GPU across the nodes, a node lost mid-run and a driver
crash, then a resume that ends with every good image encoded exactly once, every bad one
in the errors table, and the local engine's embeddings; bad Parquet rows and a damaged
row group refused row by row, as the local engine does."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from anyres import SpecError
from anyres.engine import encode_dataset
from anyres.engine.store import Store, load_embeddings

from ..tolerance import assert_close_rel
from .corpus import make_corpus

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # one cluster for the module: ~1 minute on 2 busy cores

PRESET = "llava-next"


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "object_store_memory": 100 * 2**20,
                                                      "include_dashboard": False})
    gpu_nodes = [c.add_node(num_cpus=1, num_gpus=1, object_store_memory=100 * 2**20) for _ in range(2)]
    ray.init(address=c.address, log_to_driver=False)
    c.wait_for_nodes()
    yield c, gpu_nodes
    ray.shutdown()
    c.shutdown()


def _manifest(out: Path) -> list[dict]:
    return pq.read_table(out / "manifest.parquet").to_pylist()


def _errors(out: Path) -> list[dict]:
    return pq.read_table(out / "errors.parquet").to_pylist()


def _same_rows_and_embeddings(local: Path, remote: Path) -> None:
    keep = ("source", "content_hash", "width", "height", "preset", "grid", "num_tokens", "layout_length", "layout")
    a = sorted(({k: r[k] for k in keep} for r in _manifest(local)), key=lambda r: r["source"])
    b = sorted(({k: r[k] for k in keep} for r in _manifest(remote)), key=lambda r: r["source"])
    assert a == b
    ours = {r["source"]: load_embeddings(remote, r) for r in _manifest(remote)}
    for r in _manifest(local):
        # the same encoder on the same pixels, batched in other groups: float32 summation
        # order (see PACKED_ULPS in tests/encode/test_packed.py)
        assert_close_rel(ours[r["source"]], load_embeddings(local, r), ulps=64, what=r["source"])
    assert sorted(e["source"] for e in _errors(local)) == sorted(e["source"] for e in _errors(remote))


def _only_named_shards(out: Path) -> None:
    """Every shard file is named by a committed row (no orphan left from a lost task)."""
    assert {f"shards/{f.name}" for f in (out / "shards").iterdir()} == {r["shard"] for r in _manifest(out)}


def test_encoders_one_per_gpu_across_nodes_and_the_local_engines_rows(cluster, tmp_path, tiny_clip_folder,
                                                                      monkeypatch):
    from ray._private.state import available_resources_per_node

    import anyres.engine.ray_engine as ray_engine

    c, gpu_nodes = cluster
    src = tmp_path / "src"
    good, bad = make_corpus(src, 24, seed=3, bad_share=0.15)
    local = encode_dataset(src, tmp_path / "local", PRESET, tiny_clip_folder, batch_size=2, shard_mb=0.3)
    real_commit, free_gpus = Store.commit, []

    def commit(self, manifest, refused):  # where the encoders sit, while the job runs
        free_gpus.append({n: r.get("GPU", 0) for n, r in available_resources_per_node().items()})
        return real_commit(self, manifest, refused)

    monkeypatch.setattr(Store, "commit", commit)
    monkeypatch.setattr(ray_engine, "COMMIT_ROWS", 4)  # commits while the job runs (the last one follows its end)
    # the default pool autoscales from 1 to 2 actors here (the second released when the
    # renders cannot keep both busy; encoder_pool is tested below); a fixed pool of two
    # holds both GPUs for the whole job
    run = encode_dataset(src, tmp_path / "ray", PRESET, tiny_clip_folder, engine="ray", batch_size=2, shard_mb=0.3,
                         encoders=2)
    assert (local["encoded"], local["refused"]) == (run["encoded"], run["refused"]) == (len(good), len(bad))
    assert run["encoder_pool"] == [2, 2] and run["gpus_per_encoder"] == 1.0  # one actor a (fake) GPU
    # while the job runs, each GPU node's GPU is taken, by one actor each
    assert free_gpus and all(free_gpus[0][n.node_id] == 0 for n in gpu_nodes), free_gpus[0]
    assert 1 <= run["encoder_actors"] <= 2 and run["encoder_nodes"] == run["encoder_actors"]
    assert run["ray_started_here"] is False and run["ray_startup_s"] < 1  # joined the running cluster
    # the first actor's load is the check: before the first result (the renders ran meanwhile)
    assert 0 < run["checked_s"] <= run["first_result_s"]
    _same_rows_and_embeddings(tmp_path / "local", tmp_path / "ray")
    _only_named_shards(tmp_path / "ray")
    # a resume with other settings: the folder's own error, raised in the driver, nothing written
    parts = sorted(p.name for p in (tmp_path / "ray" / "manifest").iterdir())
    with pytest.raises(SpecError, match="exact differ"):
        encode_dataset(src, tmp_path / "ray", PRESET, tiny_clip_folder, engine="ray", exact=False, encoders=1)
    assert sorted(p.name for p in (tmp_path / "ray" / "manifest").iterdir()) == parts


def test_the_pool_is_sized_to_the_cluster():
    from anyres.engine.ray_engine import check_encoders, encoder_pool

    gpus = {"CPU": 64.0, "GPU": 8.0}
    assert encoder_pool(gpus, 2, None, 1.0) == {"min": 1, "max": 8, "num_gpus": 1.0, "num_cpus": 1.0}
    assert encoder_pool(gpus, 2, None, 0.5)["max"] == 16  # two actors share a GPU
    assert encoder_pool(gpus, 2, (2, 4), 1.0)["max"] == 4
    assert encoder_pool({"CPU": 8.0}, 3, None, 1.0) == {"min": 1, "max": 3, "num_gpus": 0.0, "num_cpus": 0.25}
    assert check_encoders("2,6", 1) == ((2, 6), 1.0) and check_encoders(3, 0.25) == ((3, 3), 0.25)
    for bad in ("0", "4,2", "x", (1, 2, 3), True, 2.5):
        with pytest.raises(SpecError, match="encoders"):
            check_encoders(bad, 1.0)
    with pytest.raises(SpecError, match="gpus_per_encoder"):
        check_encoders(None, 0)


def test_bad_parquet_rows_on_the_workers(cluster, tmp_path, tiny_clip_folder):
    """Rows refused one by one (a damaged row group, a missing file, a NUL byte in a path),
    the good ones encoded (unit by unit reading: test_ray_sources.py)."""
    src = tmp_path / "src"
    good, _ = make_corpus(src, 6, seed=5, bad_share=0.01)
    paths = [f"img-{k}" for k in range(len(good))] + ["src/gone.png", "x\x00y.png"]
    data = [(src / g).read_bytes() for g in good] + [None, None]
    pq.write_table(pa.table({"path": paths, "bytes": data}), tmp_path / "rows.parquet", row_group_size=2)
    meta = pq.ParquetFile(tmp_path / "rows.parquet").metadata.row_group(1).column(1)
    with open(tmp_path / "rows.parquet", "r+b") as fh:  # a damaged row group: its two rows refused
        fh.seek(meta.dictionary_page_offset or meta.data_page_offset)
        fh.write(b"\xff" * 64)
    run = encode_dataset(tmp_path / "rows.parquet", tmp_path / "pq", PRESET, tiny_clip_folder, engine="ray",
                         encoders=(1, 1))
    ok = len(good) - 2  # all but the damaged group's two rows
    assert (run["encoded"], run["refused"]) == (ok, len(paths) - ok)
    errors = {e["source"]: e["message"] for e in _errors(tmp_path / "pq")}
    assert "row group 1" in errors["row-2"] and "row group 1" in errors["row-3"]
    assert "cannot read" in errors["src/gone.png"] and "NUL byte" in errors["x\x00y.png"]
    # a typo is refused by the worker that checks the pipeline, before the folder is touched
    with pytest.raises(SpecError, match="unknown preset"):
        encode_dataset(tmp_path / "rows.parquet", tmp_path / "typo", "llava-nxt", tiny_clip_folder, engine="ray")
    assert not (tmp_path / "typo").exists()
    # nothing to encode: the job may end before an actor has loaded the pipeline (a task checks it)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpecError, match="unknown preset"):
        encode_dataset(tmp_path / "empty", tmp_path / "typo", "llava-nxt", tiny_clip_folder, engine="ray")
    assert not (tmp_path / "typo").exists()
    run = encode_dataset(tmp_path / "empty", tmp_path / "none", PRESET, tiny_clip_folder, engine="ray")
    assert (run["encoded"], run["manifest_images"]) == (0, 0)


def test_a_node_lost_and_a_driver_crash_mid_run_then_resume_exactly_once(cluster, tmp_path, tiny_clip_folder,
                                                                         monkeypatch):
    """The first run loses a GPU node after its first commit and its driver dies at the
    third (after the workers wrote shards that no part names); the resumed run, on the
    remaining nodes, finishes the job."""
    import anyres.engine.ray_engine as ray_engine

    c, gpu_nodes = cluster
    src = tmp_path / "src"
    good, bad = make_corpus(src, 30, seed=9, bad_share=0.1)
    encode_dataset(src, tmp_path / "local", PRESET, tiny_clip_folder, batch_size=3)
    monkeypatch.setattr(ray_engine, "COMMIT_ROWS", 3)
    real_commit = Store.commit
    commits = []

    def commit(self, manifest, refused):
        if len(commits) == 1:
            c.remove_node(gpu_nodes[1])  # a node lost mid-run: its actor and tasks with it
        if len(commits) == 2:
            raise SystemExit("the driver dies here")
        commits.append(real_commit(self, manifest, refused))
        return commits[-1]

    monkeypatch.setattr(Store, "commit", commit)
    out = tmp_path / "ray"
    with pytest.raises(SystemExit):
        encode_dataset(src, out, PRESET, tiny_clip_folder, engine="ray", batch_size=3)
    assert len(list((out / "manifest").glob("part-*.parquet"))) == 2
    monkeypatch.setattr(Store, "commit", real_commit)
    run = encode_dataset(src, out, PRESET, tiny_clip_folder, engine="ray", batch_size=3)
    assert 0 < run["skipped_done"] < len(good) + len(bad) and run["encoder_nodes"] == 1
    assert run["encoded"] + run["refused"] + run["skipped_done"] == len(good) + len(bad)
    assert sorted(r["source"] for r in _manifest(out)) == sorted(good)  # each exactly once
    assert sorted(e["source"] for e in _errors(out)) == sorted(bad)
    _same_rows_and_embeddings(tmp_path / "local", out)
    _only_named_shards(out)


def test_repeated_keys_across_units_are_encoded_once(cluster, tmp_path, tiny_clip_folder, monkeypatch):
    """A path in several row groups, or in several byte ranges of a path list, is encoded
    once, as the local engine does (``sources.claim``, asked of the claim actors)."""
    import anyres.engine.ray_sources as ray_sources

    from .test_repeats import repeating_parquet

    good, _ = make_corpus(tmp_path / "src", 4, seed=8, bad_share=0.0)
    path, keys = repeating_parquet(tmp_path, good)
    local = encode_dataset(path, tmp_path / "local", PRESET, tiny_clip_folder)
    run = encode_dataset(path, tmp_path / "ray", PRESET, tiny_clip_folder, engine="ray", encoders=1)
    assert (run["encoded"], run["repeated_in_source"]) == (local["encoded"], local["repeated_in_source"]) == (4, 4)
    ours = sorted((r["source"], r["content_hash"]) for r in _manifest(tmp_path / "ray"))
    ref = sorted((r["source"], r["content_hash"]) for r in _manifest(tmp_path / "local"))
    # the rows whose name already held other bytes: which one keeps the bare name is the
    # one read first (in order for the local engine, in any order on a cluster)
    assert [k for k, _ in ours if not k.startswith("named")] == [k for k, _ in ref if not k.startswith("named")]
    assert sorted(h for _, h in ours) == sorted(h for _, h in ref) and len({k for k, _ in ours}) == 4
    assert pq.read_table(tmp_path / "ray" / "replaced.parquet").num_rows == 0
    monkeypatch.setattr(ray_sources, "UNIT_BYTES", 40)  # a range of a line or two: repeats across ranges
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(f"src/{g}" for g in good * 3))
    run = encode_dataset(listing, tmp_path / "list", PRESET, tiny_clip_folder, engine="ray", encoders=1)
    assert run["encoded"] == len(good) and run["repeated_in_source"] == 2 * len(good)
    assert sorted(r["source"] for r in _manifest(tmp_path / "list")) == sorted(f"src/{g}" for g in good)


def test_a_ray_job_on_an_object_store(cluster, tmp_path, tiny_clip_folder):
    """Workers write their shards, and the driver its parts, to a store with no rename
    (``objectstore.NoRenameHandler``, sent to the workers by value)."""
    from ray import cloudpickle

    from . import objectstore

    cloudpickle.register_pickle_by_value(objectstore)
    src = tmp_path / "src"
    good, bad = make_corpus(src, 12, seed=13, bad_share=0.2)
    encode_dataset(src, tmp_path / "local", PRESET, tiny_clip_folder, batch_size=2, shard_mb=0.3)
    fs, _ = objectstore.object_store(tmp_path / "bucket")
    run = encode_dataset(src, (fs, "job"), PRESET, tiny_clip_folder, engine="ray", batch_size=2, shard_mb=0.3,
                         encoders=1)
    assert (run["encoded"], run["refused"]) == (len(good), len(bad))
    job = tmp_path / "bucket" / "job"
    _same_rows_and_embeddings(tmp_path / "local", job)
    _only_named_shards(job)
    assert not (job / "job.lease").exists()

"""The Ray engine: the dataset job on a Ray cluster, nothing proportional to the corpus
on the driver.

  units   the driver cuts the source into units (row groups, sub-folders, byte ranges of
          a path list: ``ray_sources``); workers turn them into entries
  read    a CPU task reads each entry's bytes once (a file, or the Parquet row group's
          value), hashes them, resolves a key the source repeats (``sources.claim``,
          asked of claim actors), anti-joins (source, hash) against the committed parts
          (an Arrow join on the worker against a table that one task read from the
          manifest and errors parts and shared through the object store), and decodes,
          plans and renders the pending ones from the same bytes (``render_one``)
  encode  an actor pool sized to the cluster (one actor per GPU, or per fraction of one;
          CPU actors when there is no accelerator) encodes each batch and writes its
          embeddings as content-named shards straight to the output (``shard_io``)
  commit  the driver receives one small record per image (no embeddings) and commits
          them in bounded windows as manifest and errors parts (``Store.commit``: one
          atomic write is the commit point)
  start   nothing waits on the model: the encoder actors load it in a thread while the
          render tasks run; the first to load is the check of the preset and the
          encoder, and only then does the driver open (and recover) the job folder
          (``_Gate``); the actors write no shard before that

After a crash anywhere, or a node lost mid-run, shards no committed part names are
deleted when the job resumes, and the resumed job anti-joins against what was
committed: every image ends up encoded exactly once.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import time
from typing import Any, Iterator

from ..errors import AnyresError, SpecError
from .job import Stats, layout_json
from .ray_sources import ENTRY_ROWS
from .store import Refused, Store, manifest_schema

COMMIT_ROWS = 1024  # records the driver holds before it commits a part
COMMIT_SECONDS = 10.0  # ... or the time it waits
CLAIM_ACTORS = 8  # at most this many partitions of the source's keys (one actor each)


def check_encoders(encoders: Any, gpus_per_encoder: Any) -> tuple[tuple[int, int] | None, float]:
    """``encoders``: None (sized to the cluster), N, (MIN, MAX) or "MIN,MAX";
    ``gpus_per_encoder``: a number in (0, 8]."""
    if isinstance(encoders, str):
        try:
            parts = [int(x) for x in encoders.split(",")]
        except ValueError:
            raise SpecError(f"encoders must be N or MIN,MAX (ints), got {encoders!r}") from None
        encoders = tuple(parts) if len(parts) != 1 else parts[0]
    if isinstance(encoders, int) and not isinstance(encoders, bool):
        encoders = (encoders, encoders)
    if encoders is not None:
        ok = (isinstance(encoders, (tuple, list)) and len(encoders) == 2
              and all(isinstance(x, int) and not isinstance(x, bool) for x in encoders)
              and 1 <= encoders[0] <= encoders[1] <= 4096)
        if not ok:
            raise SpecError(f"encoders must be N or MIN,MAX with 1 <= MIN <= MAX <= 4096, got {encoders!r}")
        encoders = (int(encoders[0]), int(encoders[1]))
    if (isinstance(gpus_per_encoder, bool) or not isinstance(gpus_per_encoder, (int, float))
            or not 0 < gpus_per_encoder <= 8):
        raise SpecError(f"gpus_per_encoder must be a number in (0, 8], got {gpus_per_encoder!r}")
    return encoders, float(gpus_per_encoder)


def encoder_pool(resources: dict[str, float], nodes: int, encoders: tuple[int, int] | None,
                 gpus_per_encoder: float) -> dict[str, Any]:
    """How many encoder actors, and what each asks for: one per ``gpus_per_encoder`` of
    the cluster's GPUs; without GPUs, one CPU actor per node. ``encoders`` caps (or
    widens) the pool: Ray Data starts MAX actors and keeps at least MIN (a lost node's
    actors are restarted where there is room, and the job goes on with fewer)."""
    gpus = resources.get("GPU", 0.0)
    if gpus >= gpus_per_encoder:
        num_gpus, fit = gpus_per_encoder, int(gpus // gpus_per_encoder + 1e-9)
    else:
        num_gpus, fit = 0.0, max(1, nodes)
    low, high = encoders or (1, fit)
    return {"min": low, "max": high, "num_gpus": num_gpus, "num_cpus": 1.0 if num_gpus else 0.25}


def connect(address: str | None) -> tuple[bool, float]:
    """Join the cluster at ``address`` ("auto", "HOST:PORT"), or start one for this job
    when there is none, unless this process is already connected; returns (whether it
    was started or joined here, so is to be shut down by the caller; seconds it took)."""
    import ray

    started = time.perf_counter()
    ours = not ray.is_initialized()
    if ours:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    return ours, time.perf_counter() - started


class _Gate:
    """The job's start-up handshake (an async actor, no CPU). The first encoder actor
    to load the pipeline reports how it went (``report``): that is the check of
    ``--preset`` and ``--encoder``, and the driver opens the job folder only after it
    passed (a typo leaves no folder). The driver then ``open``s the gate: the actors
    write no shard, and a resumed job reads no committed part, before the folder is
    open and recovered. Meanwhile the render tasks read and render (a new job needs no
    committed parts), so a job's fixed start-up costs overlap."""

    def __init__(self) -> None:
        import asyncio

        self.checked, self.opened = asyncio.Event(), asyncio.Event()
        self.check_error: BaseException | None = None
        self.open_error: BaseException | None = None

    async def report(self, error: BaseException | None) -> None:
        if not self.checked.is_set():
            self.check_error = error
            self.checked.set()

    async def is_checked(self) -> bool:
        return self.checked.is_set()

    async def wait_checked(self) -> BaseException | None:
        await self.checked.wait()
        return self.check_error

    async def open(self, error: BaseException | None) -> None:
        self.open_error = error
        self.opened.set()

    async def wait_open(self) -> BaseException | None:
        await self.opened.wait()
        return self.open_error


def _check_pipeline(preset: str, encoder: str, exact: bool) -> BaseException | None:
    """Load the pipeline; what it raised (a ``SpecError`` for a preset typo, a
    ``CheckpointError`` for an encoder folder, ...), or None."""
    try:
        from ..pipeline import VisionPipeline

        VisionPipeline.from_preset(preset, encoder, exact=exact)
    except Exception as exc:  # handed back as it is, raised in the driver
        return exc.with_traceback(None)
    return None


class JobNotStarted(AnyresError):
    """The job folder was not opened (the check failed): nothing written."""


def _wait_open(gate: Any) -> None:
    import ray

    error = ray.get(gate.wait_open.remote())
    if error is not None:
        raise JobNotStarted(f"the job folder was not opened ({type(error).__name__}: {error})")


def run_ray(preset: str, encoder: Any, exact: bool, units: list[dict[str, Any]], open_store: Any, stats: Stats, *,
            out: Any, workers: int, batch_size: int, shard_mb: float, max_image_pixels: int,
            encoders: tuple[int, int] | None = None, gpus_per_encoder: float = 1.0,
            progress: Any = None) -> tuple[Store, dict[str, Any]]:
    """Run the job on the connected cluster (``connect``); ``open_store()`` opens the
    job folder at ``out`` (called once the first encoder actor has loaded the pipeline,
    ``_Gate``). Returns the store (open: the caller closes it) and what the summary adds
    (the pool, where it ran, when each start-up step ended)."""
    import threading

    import ray
    import ray.data
    import ray.util.scheduling_strategies

    from .folder import JobFolder

    resources = ray.cluster_resources()
    nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
    pool = encoder_pool(resources, nodes, encoders, gpus_per_encoder)
    cpus = resources.get("CPU", 1.0)
    slots = workers or max(1, int(cpus))
    # every encoder must fit at once beside the render tasks, or Ray leaves some unscheduled
    render_cpus = max(0.05, min(1.0, (cpus - (0 if pool["num_gpus"] else pool["max"] * pool["num_cpus"])) / slots))
    threads = max(1, int(cpus) - slots) if not pool["num_gpus"] else 1

    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = False
    ctx.enable_progress_bars = False
    began = time.perf_counter()
    # on the driver's node: a restarted gate would forget that the folder is open (and
    # when that node is lost, so is the driver)
    here = ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(),
                                                                         soft=True)
    gate = ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1, scheduling_strategy=here)(_Gate).remote()
    # the committed keys: none for a new job (read without opening anything: the render
    # tasks start at once); for a resume, one task reads them once the folder is open and
    # recovered, and the workers share its table through the object store
    try:
        resume = any(n.startswith("part-") for n in JobFolder.at(out).files("manifest"))
    except OSError:  # not a folder: opening it says so, with what to do
        resume = False
    done = (ray.remote(num_cpus=0)(_read_done).remote(out, gate) if resume
            else ray.put(_done_schema().empty_table()))
    opened: dict[str, Any] = {}

    def opener() -> None:
        """Wait for the first actor's check, then open the folder and the gate."""
        try:
            error = ray.get(gate.wait_checked.remote())
            opened["checked_s"] = time.perf_counter() - began
            if error is not None:
                raise error
            store = open_store()
            opened["store"] = store
            if not resume and store.next_part > 0:  # committed to while this job started
                raise SpecError(f"{store.folder}: another job committed to this folder while this one started: "
                                "rerun to resume")
            ray.get(gate.open.remote(None))
        except BaseException as exc:
            opened["error"] = exc
            gate.open.remote(exc)

    thread = threading.Thread(target=opener, name="anyres-open", daemon=True)
    thread.start()

    def store_or_raise() -> Store:
        thread.join()
        if "error" in opened:
            raise opened["error"]
        return opened["store"]
    tasks = ray.data.TaskPoolStrategy(size=workers or None)
    # a path list or a Parquet column of paths can repeat a key anywhere: the keys taken so
    # far sit in a few actors spread over the cluster, a partition each (a folder's keys,
    # and a Parquet file's row-N, are unique)
    claims = None
    if units and units[0]["repeats"]:
        remote = ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1, scheduling_strategy="SPREAD")
        claims = [remote(_Claims).remote() for _ in range(max(1, min(CLAIM_ACTORS, nodes)))]
    ds = ray.data.from_items(units, override_num_blocks=max(1, min(len(units), 4096)))
    if units and units[0]["kind"] == "parquet":
        # a row group's entries hold its image bytes: listed and rendered in one task
        # (Ray fuses the two stages), so that the bytes never cross the object store
        ds = ds.map_batches(_read_units, fn_args=(ENTRY_ROWS,), batch_size=1, batch_format="pyarrow",
                            num_cpus=render_cpus, compute=tasks)
    else:
        # a listing's entries are a few bytes each: listed apart (a unit can be a
        # flat folder of millions of files) and spread, a block at a time, over the
        # render tasks
        ds = ds.map_batches(_read_units, fn_args=(max(1, batch_size),), batch_size=1, batch_format="pyarrow",
                            num_cpus=0.05, compute=ray.data.TaskPoolStrategy())
        # Ray coalesces a task's small outputs into one block: cut them again (streaming,
        # no shuffle), so that each render task gets a few images and streams them on
        ds = ds.repartition(target_num_rows_per_block=max(1, batch_size // 2))
    ds = ds.map_batches(_read_render, fn_args=(preset, exact, max_image_pixels, [done], claims),
                        batch_size=max(1, batch_size // 2), batch_format="pyarrow", num_cpus=render_cpus,
                        compute=tasks)
    # start as many actors as the cluster has room for now (they load the model while the
    # first images are read and rendered), up to the pool's size
    room = encoder_pool(ray.available_resources(), nodes, None, gpus_per_encoder)["max"]
    initial = max(pool["min"], min(pool["max"], room))
    actors = ray.data.ActorPoolStrategy(min_size=pool["min"], max_size=pool["max"], initial_size=initial)
    ds = ds.map_batches(_Encode, fn_constructor_args=(preset, str(encoder), exact, threads, out, shard_mb, gate),
                        batch_size=batch_size, batch_format="pyarrow", compute=actors,
                        num_cpus=pool["num_cpus"], num_gpus=pool["num_gpus"] or None)
    committer = _Committer(store_or_raise, stats, progress)
    try:
        with bounded_block_stats():
            batches = iter(ds.iter_batches(batch_size=None, batch_format="pyarrow"))
            try:
                for batch in batches:
                    committer.add(batch)
            finally:  # on any exit, stop the execution (its actors hold the cluster's GPUs)
                close = getattr(batches, "close", None)
                if close is not None:
                    close()
    except Exception:
        thread.join(timeout=30)  # a failed check fails the actors' batches too: raise the check's own error
        if not thread.is_alive() and "error" in opened:
            raise opened["error"] from None
        raise
    if thread.is_alive() and not ray.get(gate.is_checked.remote()):
        # the job ended before an actor loaded the pipeline (nothing to encode: Ray Data
        # may stop its actors first): a task checks it instead
        error = ray.get(ray.remote(num_cpus=0)(_check_pipeline).remote(preset, str(encoder), exact))
        ray.get(gate.report.remote(error))
    store = store_or_raise()
    committer.commit()
    return store, {"encoder_pool": [pool["min"], pool["max"]],
                   "gpus_per_encoder": pool["num_gpus"], "encoder_actors": len(committer.actors),
                   "encoder_nodes": len(committer.nodes), "checked_s": round(opened.get("checked_s", 0.0), 3)}


BLOCK_STATS_KEPT = 1024  # per operator, the newest output blocks' statistics Ray Data keeps


@contextlib.contextmanager
def bounded_block_stats(keep: int | None = None, operator: Any = None) -> Iterator[None]:
    """While the job runs, each of Ray Data's map operators keeps the statistics of its
    newest ``BLOCK_STATS_KEPT`` output blocks only. Ray Data keeps one ``BlockStats`` per
    output block for the dataset's lifetime (for its end-of-run summary, which this job
    never prints): on the driver, a list that grows with the corpus (ray-project/ray
    issue 66016). A Ray without that attribute is left as it is."""
    keep = keep or BLOCK_STATS_KEPT
    try:
        from ray.data._internal.execution.operators.map_operator import MapOperator
    except ImportError:
        yield
        return
    MapOperator = operator or MapOperator  # noqa: N806 (a stand-in in the tests)
    original = MapOperator.__dict__.get("_get_next_inner")
    if original is None:
        yield
        return

    def get_next_inner(self: Any) -> Any:
        bundle = original(self)
        kept = getattr(self, "_output_blocks_stats", None)
        if isinstance(kept, list) and len(kept) > 2 * keep:
            del kept[:-keep]
        return bundle

    MapOperator._get_next_inner = get_next_inner
    try:
        yield
    finally:
        MapOperator._get_next_inner = original


def on_worker(fn: Any, *args: Any) -> Any:
    """``fn(*args)`` in a Ray task (what is O(images) runs there, not in the driver)."""
    import ray

    return ray.get(ray.remote(num_cpus=0, max_retries=3)(fn).remote(*args))


def _done_schema() -> Any:
    import pyarrow as pa

    return pa.schema([("source", pa.string()), ("content_hash", pa.string())])


def _read_done(location: Any, gate: Any = None) -> Any:
    """(source, content_hash) of every committed part: the right side of the anti-join
    (read once ``gate`` says the folder is open and recovered)."""
    import pyarrow as pa

    from .folder import JobFolder

    if gate is not None:
        _wait_open(gate)
    folder = JobFolder.at(location)
    schema = _done_schema()
    committed = set(folder.files("manifest"))
    tables = []
    for sub in ("manifest", "errors"):
        for name in folder.files(sub):
            if name.startswith("part-") and name.endswith(".parquet") and name in committed:
                tables.append(folder.read_table(f"{sub}/{name}", columns=["source", "content_hash"]))
    return pa.concat_tables(tables).cast(schema) if tables else schema.empty_table()


def _read_units(batch: Any, rows_per_block: int):
    from .ray_sources import read_units

    yield from read_units(batch, rows_per_block)


_DONE: dict[str, Any] = {}  # the anti-join's right side, once per worker process


def _done(box: list) -> Any:
    import ray

    ref = box[0]
    key = ref.hex()
    if key not in _DONE:
        _DONE.clear()
        _DONE[key] = ray.get(ref)
    return _DONE[key]


class _Claims:
    """One partition of the keys the source has given so far (``sources.claim``): a
    16-byte digest of each key and 8 bytes of its content hash, about 100 bytes a key.
    An actor lost with its node comes back empty: a key repeated across that moment may
    then be encoded twice (under the same key; consolidation keeps one row)."""

    def __init__(self) -> None:
        self.taken: dict[bytes, bytes] = {}

    def claim(self, entries: list[tuple[bytes, bytes, bytes | None]]) -> list[str | None]:
        from .sources import claim

        return [claim(self.taken, k, d, a) for k, d, a in entries]


def _key_id(key: str) -> bytes:
    import hashlib

    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _claim_keys(claims: list | None, keys: list[str], hashes: list[str], alts: list[str | None]) -> list[str | None]:
    """The key each entry is stored under, or None for a repeat (``sources.claim``,
    asked of the actor holding the key's partition)."""
    import ray

    if not claims:
        return list(keys)
    ids = [_key_id(k) for k in keys]
    asks: dict[int, list[int]] = {}
    for i, kid in enumerate(ids):
        asks.setdefault(kid[0] % len(claims), []).append(i)
    refs = {p: claims[p].claim.remote([(ids[i], bytes.fromhex(hashes[i][:16]),
                                        _key_id(alts[i]) if alts[i] is not None else None) for i in idx])
            for p, idx in asks.items()}
    out: list[str | None] = [None] * len(keys)
    for p, answers in zip(refs, ray.get(list(refs.values()))):
        for i, which in zip(asks[p], answers):
            out[i] = keys[i] if which == "key" else alts[i] if which == "alt" else None
    return out


def rendered_schema():
    import pyarrow as pa

    return pa.schema([("source", pa.string()), ("content_hash", pa.string()), ("status", pa.string()),
                      ("error_type", pa.string()), ("message", pa.string()), ("rendered", pa.binary())])


def _read_render(batch: Any, preset: str, exact: bool, max_image_pixels: int, done_box: list,
                 claims: list | None) -> Any:
    """Read, hash, resolve repeated keys, skip what is committed, render the rest: one
    read of each input."""
    import pyarrow as pa

    from ..pixels.render import Job, render_one
    from .sources import Item, content_hash, safe_key

    entries = batch.to_pylist()
    keys, hashes, datas, errors = [], [], [], []
    for e in entries:
        item = Item(e["key"], os.fsdecode(e["path"]) if e["path"] is not None else None, e["data"], e["problem"])
        data, error = None, None
        try:
            data = item.read_bytes()
        except (OSError, ValueError, AnyresError) as exc:
            if isinstance(exc, AnyresError):
                error = exc
            else:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                error = type(exc)(f"{item.key}: cannot read ({reason})")
        keys.append(item.key)
        hashes.append(content_hash(data) if data is not None else "")
        datas.append(data)
        errors.append(error)
    final = _claim_keys(claims, keys, hashes, [e["alt"] for e in entries])
    fresh = [i for i, k in enumerate(final) if k is not None]
    probe = pa.table({"source": [final[i] for i in fresh], "content_hash": [hashes[i] for i in fresh], "i": fresh},
                     schema=pa.schema([("source", pa.string()), ("content_hash", pa.string()), ("i", pa.int64())]))
    pending = set(probe.join(_done(done_box), keys=["source", "content_hash"], join_type="left anti")
                  .column("i").to_pylist())
    out = {name: [] for name in rendered_schema().names}
    for i, (key, digest, data, error) in enumerate(zip(keys, hashes, datas, errors)):
        status, rendered = "skip" if final[i] is not None else "repeat", None
        if i in pending:
            if error is None:
                result = render_one(Job(data, preset, {}, exact, max_image_pixels))
                if isinstance(result, AnyresError):
                    error = result
                else:
                    status, rendered = "ok", pickle.dumps(result, protocol=5)
            if error is not None:
                status = "refused"
        message = None
        if error is not None:
            message = str(error)
            prefix = f"<{len(data)} bytes>" if data is not None else None
            if prefix and message.startswith(prefix):  # rendered from the bytes read: name the input
                message = key + message[len(prefix):]
            message = safe_key(message)
        for name, value in zip(out, (final[i] or key, digest, status, type(error).__name__ if error is not None else None,
                                     message, rendered)):
            out[name].append(value)
    return pa.table(out, schema=rendered_schema())


def record_schema():
    import pyarrow as pa

    extra = [("status", pa.string()), ("error_type", pa.string()), ("message", pa.string()),
             ("actor", pa.string()), ("node", pa.string())]
    return pa.schema(list(manifest_schema()) + [pa.field(n, t) for n, t in extra])


class _Encode:
    """One pipeline per actor (the encoder is loaded once); each batch's embeddings are
    written by the actor as shards of at most ``shard_mb`` megabytes.

    The actor is ready at once: it imports torch and loads the pipeline in a thread
    while the render tasks proceed, and tells the job's ``_Gate`` how the load went
    (the first report is the job's check of ``--preset`` and ``--encoder``). It writes
    its first shard only once the driver has opened the job folder."""

    def __init__(self, preset: str, encoder: str, exact: bool, threads: int, out: Any, shard_mb: float,
                 gate: Any) -> None:
        import threading

        import ray

        from .shard_io import output_location

        self.gate, self.open = gate, False
        self.pipe: Any = None
        self.error: BaseException | None = None
        self.fs, self.base = output_location(out)
        self.limit = shard_mb * 2**20
        ctx = ray.get_runtime_context()
        self.actor, self.node = ctx.get_actor_id(), ctx.get_node_id()
        self.loading = threading.Thread(target=self._load, args=(preset, encoder, exact, threads), daemon=True)
        self.loading.start()

    def _load(self, preset: str, encoder: str, exact: bool, threads: int) -> None:
        try:
            import torch

            from ..pipeline import VisionPipeline

            pipe = VisionPipeline.from_preset(preset, encoder, exact=exact)
            if torch.cuda.is_available():
                pipe.encoder.cuda()
                pipe.assembler.cuda()
            else:  # the cores the render tasks leave
                torch.set_num_threads(max(1, min(threads, os.cpu_count() or 1)))
            self.pipe = pipe
        except Exception as exc:  # handed to the driver as it is (a SpecError for a typo, ...)
            self.error = exc.with_traceback(None)
        self.gate.report.remote(self.error)

    def _ready(self) -> None:
        self.loading.join()
        if self.error is not None:
            raise JobNotStarted(f"the encoder actor could not load the pipeline ({type(self.error).__name__}: "
                                f"{self.error})")

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        from .local import encode_rendered

        rows = batch.to_pylist()
        ok = [k for k, r in enumerate(rows) if r["status"] == "ok"]
        rendered = [pickle.loads(rows[k]["rendered"]) for k in ok]
        if rendered:
            self._ready()
        try:
            tokens = encode_rendered(self.pipe, rendered) if rendered else []
        except AnyresError:  # one image at fault: encode them one at a time
            tokens = [self._alone(r) for r in rendered]
        results = dict(zip(ok, tokens))
        names = record_schema().names
        records, shard_rows, tensors, size = [], [], {}, 0
        for k, r in enumerate(rows):
            rec = dict.fromkeys(names)
            rec.update(source=r["source"], content_hash=r["content_hash"], status=r["status"], actor=self.actor,
                       node=self.node, error_type=r["error_type"], message=r["message"])
            t = results.get(k)
            if isinstance(t, AnyresError):
                rec.update(status="refused", error_type=type(t).__name__, message=str(t))
            elif t is not None:
                p = t.plan
                name = f"{len(tensors):06d}"
                tensors[name] = t.embeddings.detach().to("cpu").contiguous()
                rec.update(width=p.image.width, height=p.image.height, preset=p.spec,
                           grid=f"{p.grid[0]}x{p.grid[1]}" if p.grid else "", num_tokens=len(t),
                           layout=layout_json(p), layout_length=len(p.layout), tensor=name)
                shard_rows.append(rec)
                size += tensors[name].numel() * tensors[name].element_size()
                if size >= self.limit:
                    self._write(shard_rows, tensors)
                    shard_rows, tensors, size = [], {}, 0
            records.append(rec)
        if tensors:
            self._write(shard_rows, tensors)
        return pa.Table.from_pylist(records, schema=record_schema())

    def _write(self, shard_rows: list[dict], tensors: dict) -> None:
        """One shard, named by its content; its rows get its name and their offsets."""
        from .shard_io import write_shard

        if not self.open:  # not before the driver has opened (and recovered) the job folder
            _wait_open(self.gate)
            self.open = True
        shard = write_shard(self.fs, self.base, tensors, {"format": "anyres-shard-1", "images": str(len(tensors))})
        offset = 0
        for rec in shard_rows:
            rec["shard"], rec["offset"] = shard, offset
            offset += rec["num_tokens"]

    def _alone(self, rendered: Any) -> Any:
        from .local import encode_rendered

        try:
            return encode_rendered(self.pipe, [rendered])[0]
        except AnyresError as exc:
            return exc


class _Committer:
    """Turns the stream of records into committed parts, ``COMMIT_ROWS`` (or
    ``COMMIT_SECONDS``) at a time: the driver's memory is one window."""

    def __init__(self, store: Any, stats: Stats, progress: Any = None) -> None:
        self.store_or_raise, self.stats, self.progress = store, stats, progress  # the store once open
        self.rows: dict[tuple[str, str], dict] = {}  # (source, hash) -> record: a retried task's duplicate counts once
        self.since = time.perf_counter()
        self.actors: set[str] = set()
        self.nodes: set[str] = set()

    def add(self, table: Any) -> None:
        for rec in table.to_pylist():
            if rec["status"] == "skip":
                self.stats.skipped += 1
                continue
            if rec["status"] == "repeat":
                self.stats.repeated += 1
                continue
            self.actors.add(rec["actor"])
            self.nodes.add(rec["node"])
            if rec["status"] == "ok":
                now = time.perf_counter()
                self.stats.first = self.stats.first or now
                self.stats.last = now
            self.rows[(rec["source"], rec["content_hash"])] = rec
        if len(self.rows) >= COMMIT_ROWS or time.perf_counter() - self.since >= COMMIT_SECONDS:
            self.commit()

    def commit(self) -> None:
        import pyarrow as pa

        self.since = time.perf_counter()
        if not self.rows:
            return
        encoded = [r for r in self.rows.values() if r["status"] == "ok"]
        refused = [Refused(r["source"], r["content_hash"], r["error_type"], r["message"])
                   for r in self.rows.values() if r["status"] == "refused"]
        self.rows = {}
        self.store_or_raise().commit(pa.Table.from_pylist(encoded, schema=record_schema()), refused)
        # Arrow's allocator keeps what the window's tables freed (the driver's RSS crept up
        # by ~2 KB an image without this): hand it back
        pa.default_memory_pool().release_unused()
        self.stats.encoded += len(encoded)
        self.stats.refused += len(refused)
        self.stats.tokens += sum(r["num_tokens"] for r in encoded)
        if self.progress is not None:
            self.progress.update(len(encoded) + len(refused))

"""The output folder of a dataset job: safetensors shards, a manifest, an errors table.

Layout of ``DIR`` (a local or shared folder, or an object store: ``folder.JobFolder``)::

    shards/<sha256>.safetensors        one tensor per image: its token embeddings; a shard
                                       is named by its content (whoever writes it: the
                                       local engine's flush or a Ray worker)
    manifest/part-00000.parquet        one row per image committed by that part (its
                                       ``shard`` column names the shard holding it)
    errors/part-00000.parquet          one row per input refused in that part
    manifest.parquet, errors.parquet   all committed parts, consolidated at the end
    replaced.parquet                   rows left out of those two because a newer run
                                       saw the same source again (a changed file)
    job.json                           the job's settings (a rerun must match them)
    job.lock / job.lease               held by the running job (flock on a local disk,
                                       a renewed lease object on an object store)

Crash safety. A flush writes its shard, then its errors part, then its manifest part;
each file appears whole or not at all (a local file is written to a temporary name,
fsynced and renamed into place; an object store's object is one write, and nothing is
ever renamed there), and the manifest part is the commit point. When a job starts, every
errors part without its manifest part, and every shard that no committed manifest part
names, is an interrupted flush (or a Ray task whose result never reached a commit): it
is deleted and its images are done again. So the manifest only ever references complete
shards, and after any kill a rerun ends with every good image encoded exactly once and
every bad one listed once (inputs are recognised by their source key and content hash).

Damage. A committed part that cannot be read back (a manifest or errors part that is
not the Parquet it should be, a shard whose header is gone) is moved aside as
``*.corrupt`` with its siblings, and its images are done again; a ``job.json`` that
cannot be read is refused with what to do. A file that changed between runs is encoded
again; the consolidated tables keep each source's newest row only.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SpecError
from .folder import JobFolder

MANIFEST_COLUMNS = ("source", "content_hash", "width", "height", "preset", "grid", "num_tokens", "layout_length",
                    "shard", "offset", "tensor", "layout")
ERROR_COLUMNS = ("source", "content_hash", "error_type", "message")


@dataclass
class Encoded:
    """One image's result, ready to store."""

    source: str
    content_hash: str
    width: int
    height: int
    preset: str
    grid: str  # "rowsxcols" or ""
    num_tokens: int
    layout: str  # JSON of the layout's run-length segments
    layout_length: int
    embeddings: Any  # torch (num_tokens, width)


@dataclass
class Refused:
    source: str
    content_hash: str
    error_type: str
    message: str


@dataclass
class Store:
    root: Any  # the location as given (a Path for a local folder)
    folder: JobFolder = field(default=None, repr=False)  # type: ignore[assignment]
    done: set[tuple[str, str]] = field(default_factory=set)  # (source, content hash) committed
    next_part: int = 0
    dropped: list[str] = field(default_factory=list)  # damaged parts moved aside at open
    replaced: int = 0  # rows left out of the consolidated tables for a newer one
    took_over: str | None = None  # whose expired lease this job took over (object stores)
    load_done: bool = True  # whether ``done`` holds the committed inputs (the local engine's skip set)
    _lock: Any = field(default=None, repr=False)

    @classmethod
    def open(cls, root: Any, settings: dict[str, Any], *, load_done: bool = True) -> "Store":
        """Open (or create) a job folder (a path, a URI such as ``s3://bucket/job``, or a
        ``(pyarrow.fs.FileSystem, path)`` pair), drop interrupted flushes, load what is
        done (``load_done=False``: not into this process; the Ray engine anti-joins
        against the committed parts on its workers instead)."""
        folder = JobFolder.at(root)
        try:
            if folder.kind() == "file":
                raise SpecError(f"{folder} is a file, not a job folder: choose another --out")
            folder.makedirs("shards", "manifest", "errors")
            if folder.local and not os.access(folder.base, os.W_OK | os.X_OK):
                raise PermissionError(13, "Permission denied")
            lock = folder.lock()
        except OSError as exc:
            raise SpecError(f"{folder}: cannot use this folder for a job ({exc.strerror or exc}): "
                            "choose a folder you can write to") from None
        try:
            _check_settings(folder, settings)
            store = cls(Path(folder.base) if folder.local else root, folder=folder, load_done=load_done)
            store._lock = lock  # held (and the folder ours) for as long as the store lives
            store.took_over = lock.took_over
            store._recover(load_done)
        except BaseException:
            lock.close()
            raise
        return store

    def _recover(self, load_done: bool = True) -> None:
        f = self.folder
        for name in f.files("manifest"):
            if name.startswith("part-") and name.endswith(".parquet"):
                problem = _part_problem(f, name[:-8])
                if problem is not None:
                    self._set_aside(name[:-8], problem)
        manifest = f.files("manifest")
        committed = {n[:-8] for n in manifest if n.startswith("part-") and n.endswith(".parquet")}
        named = set()  # the shards committed parts name
        for stem in committed:
            named.update(_shards_named(f, stem))
        for name in f.files("shards"):  # (a folder in there is not ours to delete)
            if name.endswith(".corrupt"):  # set aside
                continue
            if name.startswith(".") or f"shards/{name}" not in named:
                f.delete(f"shards/{name}")  # an interrupted flush, a task's shard never committed, a temporary file
        for name in f.files("errors"):
            if name.endswith(".corrupt"):
                continue
            if name.startswith(".") or not name.endswith(".parquet") or name[:-8] not in committed:
                f.delete(f"errors/{name}")
        for name in manifest:
            if name.startswith("."):
                f.delete(f"manifest/{name}")
        numbers = [int(s.split("-")[1]) for s in committed]
        aside = [int(n.split("-")[1].split(".")[0]) for n in manifest if n.startswith("part-") and n.endswith(".corrupt")]
        self.next_part = max(numbers + aside, default=-1) + 1
        if load_done:
            for stem in sorted(committed):
                for t in _read_parts(f, stem):
                    self.done.update(zip(t.column("source").to_pylist(), t.column("content_hash").to_pylist()))

    def _set_aside(self, stem: str, problem: str) -> None:
        """Move a damaged part (and its shard and errors part) out of the job: its images
        are done again by this run."""
        shards = {f"shards/{stem.replace('part-', 'shard-')}.safetensors"}
        try:
            shards.update(_shards_named(self.folder, stem))
        except Exception:  # an unreadable manifest part: its shards become orphans, deleted as such
            pass
        for rel in (f"manifest/{stem}.parquet", f"errors/{stem}.parquet", *sorted(shards)):
            if self.folder.exists(rel):
                self.folder.set_aside(rel)
        self.dropped.append(f"{stem}: {problem}")

    def report(self) -> dict[str, Any]:
        """What opening and consolidating had to repair, for the job's summary."""
        out: dict[str, Any] = {"replaced_rows": self.replaced}
        if self.dropped:
            out["damaged_parts_set_aside"] = list(self.dropped)
        if self.took_over:  # an object store's expired lease (a job that died without releasing it)
            out["lease_taken_over_from"] = self.took_over
        return out

    def close(self) -> None:
        """Release the folder (the lock) for the next job."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def is_done(self, source: str, content_hash: str) -> bool:
        return (source, content_hash) in self.done

    def flush(self, encoded: list[Encoded], refused: list[Refused]) -> int:
        """Commit one shard of images and the refusals seen while filling it; returns the
        part number. Nothing is committed until the manifest part is in place."""
        import pyarrow as pa

        from .shard_io import write_shard

        if not encoded and not refused:
            return -1
        rows = {c: [] for c in MANIFEST_COLUMNS}
        tensors = {}
        offset = 0
        for k, e in enumerate(encoded):
            key = f"{k:06d}"
            tensors[key] = e.embeddings.detach().to("cpu").contiguous()
            for c in MANIFEST_COLUMNS:
                if c not in ("shard", "offset", "tensor"):
                    rows[c].append(getattr(e, c))
            rows["offset"].append(offset)  # the image's first row in the shard's concatenation
            rows["tensor"].append(key)
            offset += e.num_tokens
        if tensors:  # named by its content, as the Ray engine's workers name theirs
            shard = write_shard(self.folder.fs, self.folder.base, tensors,
                                {"format": "anyres-shard-1", "images": str(len(encoded))})
            rows["shard"] = [shard] * len(encoded)
        return self.commit(pa.table(rows, schema=manifest_schema()), refused)

    def commit(self, manifest: Any, refused: list[Refused]) -> int:
        """Commit manifest rows (an Arrow table of ``MANIFEST_COLUMNS`` whose shards are
        already in place under ``shards/``) and refusals as the next part: the errors part
        first, then the manifest part, the commit point (one file renamed into place, or
        one object written); returns the part number. On an object store, the job checks
        first that it still holds the folder's lease."""
        import pyarrow as pa

        if self._lock is not None:
            self._lock.check()
        part = self.next_part
        name = f"part-{part:05d}"
        errs = pa.table({c: [getattr(r, c) for r in refused] for c in ERROR_COLUMNS}, schema=errors_schema())
        self.folder.write_table(f"errors/{name}.parquet", errs)
        manifest = manifest.select(list(MANIFEST_COLUMNS)).cast(manifest_schema())
        self.folder.write_table(f"manifest/{name}.parquet", manifest)
        if self.load_done:
            self.done.update(zip(manifest.column("source").to_pylist(), manifest.column("content_hash").to_pylist()))
            self.done.update((r.source, r.content_hash) for r in refused)
        self.next_part += 1
        return part

    def consolidate(self, run: Any = None) -> tuple[int, int]:
        """Write manifest.parquet and errors.parquet from every committed part, each
        source's newest row only (a source seen again by a later run, because its file
        changed, keeps that run's row; the older rows go to replaced.parquet); returns
        (images, errors). ``run(consolidate, location)`` runs it elsewhere: the Ray engine
        runs it on a worker (it holds one row per image: O(images), which the driver
        must not be)."""
        if self._lock is not None:
            self._lock.check()
        images, errors, self.replaced = (run or _call)(consolidate, self.folder.location)
        return images, errors


def _call(fn: Any, *args: Any) -> Any:
    return fn(*args)


def consolidate(location: Any) -> tuple[int, int, int]:
    """``Store.consolidate`` for the job folder at ``location``, by whoever holds its
    lock; returns (images, errors, rows replaced). Which row of a source is its newest
    is decided in Arrow (a group-by over (source, rank) columns), not a Python dict."""
    import pyarrow as pa
    import pyarrow.compute as pc

    folder = JobFolder.at(location)
    schemas = {"manifest": manifest_schema(), "errors": errors_schema()}
    tables: dict[str, list] = {"manifest": [], "errors": []}
    sources, ranks = [], []
    for n, sub in enumerate(tables):
        for name in folder.files(sub):
            if not (name.startswith("part-") and name.endswith(".parquet")):
                continue
            t = folder.read_table(f"{sub}/{name}", schema=schemas[sub])
            part = int(name[:-8].split("-")[1])
            # a later part wins; within one part, its errors row, then its last row (a
            # retried Ray task whose result arrived twice in one commit window counts once)
            rank = pa.array(range(t.num_rows), pa.int64()) if t.num_rows else pa.array([], pa.int64())
            rank = pc.add(rank, (part << 33) | (n << 32))
            tables[sub].append((part, t, rank))
            sources.append(t.column("source"))
            ranks.append(rank)
    newest = pa.table({"source": pa.chunked_array(sources, pa.string()), "rank": pa.chunked_array(ranks, pa.int64())})
    newest = newest.group_by("source").aggregate([("rank", "max")]).column("rank_max").combine_chunks()
    # one pass over every row: is its rank its source's newest
    keep_all = pc.is_in(pa.concat_arrays(ranks), value_set=newest) if ranks else None
    counts, replaced, at = [], [], 0
    for sub, parts in tables.items():
        kept = []
        for part, t, rank in parts:
            keep, at = keep_all.slice(at, t.num_rows), at + t.num_rows
            if not pc.all(keep).as_py():
                old = t.filter(pc.invert(keep))
                replaced.append(pa.table({"source": old.column("source"), "content_hash": old.column("content_hash"),
                                          "table": pa.array([sub] * old.num_rows, pa.string()),
                                          "part": pa.array([part] * old.num_rows, pa.int64())}))
                t = t.filter(keep)
            kept.append(t)
        table = pa.concat_tables(kept) if kept else schemas[sub].empty_table()
        folder.write_table(f"{sub}.parquet", table)
        counts.append(table.num_rows)
    schema = pa.schema([("source", pa.string()), ("content_hash", pa.string()), ("table", pa.string()),
                        ("part", pa.int64())])
    rep = pa.concat_tables([r.cast(schema) for r in replaced]) if replaced else schema.empty_table()
    folder.write_table("replaced.parquet", rep)
    return counts[0], counts[1], rep.num_rows


def _check_settings(folder: JobFolder, settings: dict[str, Any]) -> None:
    """Compare with the folder's job.json, or write it for a new job."""
    job = f"{folder.path('job.json')}"
    if folder.exists("job.json"):
        try:
            old = json.loads(folder.read_bytes("job.json"))
            if not isinstance(old, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            raise SpecError(
                f"{job} cannot be read ({type(exc).__name__}: {' '.join(str(exc).split())[:120]}): if this folder's job "
                "ran with the same --preset, --encoder and --fast, delete job.json and rerun to resume; "
                "otherwise use another --out folder"
            ) from None
        if old != settings:
            changed = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
            raise SpecError(
                f"{folder} holds a job with other settings ({', '.join(changed)} differ): "
                "use another --out folder or the same settings to resume"
            )
    else:
        folder.write_bytes("job.json", json.dumps(settings, indent=2, sort_keys=True).encode())


def _read_parts(folder: JobFolder, stem: str) -> list:
    out = []
    for sub in ("manifest", "errors"):
        if folder.exists(f"{sub}/{stem}.parquet"):
            out.append(folder.read_table(f"{sub}/{stem}.parquet", columns=["source", "content_hash"]))
    return out


def _part_problem(folder: JobFolder, stem: str) -> str | None:
    """Why a committed part cannot be used (None when it can): its manifest and errors
    parts must be Parquet with the job's columns, and its shard must hold every tensor
    the manifest lists (only the shard's header is read)."""
    try:
        manifest = folder.read_table(f"manifest/{stem}.parquet", schema=manifest_schema())
        if folder.exists(f"errors/{stem}.parquet"):
            folder.read_table(f"errors/{stem}.parquet", schema=errors_schema())
        wanted: dict[str, set[str]] = {}
        for shard, tensor in zip(manifest.column("shard").to_pylist(), manifest.column("tensor").to_pylist()):
            wanted.setdefault(shard, set()).add(tensor)
        for shard, tensors in sorted(wanted.items()):
            if not _is_shard_name(shard):
                return f"its manifest names a shard outside shards/ ({shard!r})"
            missing = tensors - folder.shard_tensors(shard)
            if missing:
                return f"its shard {shard} lacks {len(missing)} of its tensors"
    except Exception as exc:  # pyarrow's and safetensors' errors for damaged files vary
        return f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}"
    return None


def _is_shard_name(shard: object) -> bool:
    """``shards/<one plain file name>.safetensors``: never a path out of the job folder."""
    if not isinstance(shard, str) or not shard.startswith("shards/") or not shard.endswith(".safetensors"):
        return False
    name = shard[len("shards/"):]
    return bool(name) and "/" not in name and "\\" not in name and not name.startswith(".")


def _shards_named(folder: JobFolder, stem: str) -> set[str]:
    """The shards a committed manifest part names (only its ``shard`` column is read)."""
    return {s for s in folder.read_table(f"manifest/{stem}.parquet", columns=["shard"]).column("shard").to_pylist()
            if _is_shard_name(s)}


def errors_schema():
    import pyarrow as pa

    return pa.schema([(c, pa.string()) for c in ERROR_COLUMNS])


def manifest_schema():
    import pyarrow as pa

    types = {"width": pa.int32(), "height": pa.int32(), "num_tokens": pa.int64(), "layout_length": pa.int64(),
             "offset": pa.int64()}
    return pa.schema([(c, types.get(c, pa.string())) for c in MANIFEST_COLUMNS])


def load_embeddings(root: Any, row: dict) -> Any:
    """The embeddings of one manifest row (a dict with ``shard`` and ``tensor``); ``root``
    is the job's location as ``Store.open`` takes it."""
    folder = JobFolder.at(root)
    if folder.local:
        from safetensors import safe_open

        with safe_open(folder.path(row["shard"]), framework="pt") as f:
            return f.get_tensor(row["tensor"])
    from safetensors.torch import load

    return load(folder.read_bytes(row["shard"]))[row["tensor"]]

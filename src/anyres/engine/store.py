"""The output folder of a dataset job: safetensors shards, a manifest, an errors table.

Layout of ``DIR``::

    shards/shard-00000.safetensors     one tensor per image: its token embeddings
    manifest/part-00000.parquet        one row per image encoded into that shard
    errors/part-00000.parquet          one row per input refused while filling it
    manifest.parquet, errors.parquet   all committed parts, consolidated at the end
    job.json                           the job's settings (a rerun must match them)

Crash safety. A flush writes its shard, then its errors part, then its manifest part;
each file goes to a temporary name, is flushed to disk (fsync) and renamed into place,
and the manifest part is the commit point. When a job starts, every shard or errors part
without its manifest part is an interrupted flush: it is deleted and its images are
done again. So the manifest only ever references complete shards, and after any kill a
rerun ends with every good image encoded exactly once and every bad one listed once
(inputs are recognised by their source key and content hash).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SpecError

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


def _fsync_write(path: Path, write) -> None:
    """Write through ``write(tmp_path)``, fsync, rename over ``path``."""
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@dataclass
class Store:
    root: Path
    done: set[tuple[str, str]] = field(default_factory=set)  # (source, content hash) committed
    next_part: int = 0
    _lock: Any = field(default=None, repr=False)

    @classmethod
    def open(cls, root: str | os.PathLike, settings: dict[str, Any]) -> "Store":
        """Open (or create) a job folder, drop interrupted flushes, load what is done."""
        root = Path(root)
        for sub in ("shards", "manifest", "errors"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        lock = _lock(root)
        job = root / "job.json"
        if job.exists():
            old = json.loads(job.read_text())
            if old != settings:
                changed = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
                raise SpecError(
                    f"{root} holds a job with other settings ({', '.join(changed)} differ): "
                    "use another --out folder or the same settings to resume"
                )
        else:
            _fsync_write(job, lambda p: p.write_text(json.dumps(settings, indent=2, sort_keys=True)))
        store = cls(root)
        store._lock = lock  # held (and the folder ours) for as long as the store lives
        store._recover()
        return store

    def _recover(self) -> None:
        import pyarrow.parquet as pq

        committed = {p.stem for p in (self.root / "manifest").glob("part-*.parquet")}
        for sub, suffix in (("shards", ".safetensors"), ("errors", ".parquet")):
            for f in (self.root / sub).iterdir():
                stem = f.name[: -len(suffix)].replace("shard-", "part-") if f.name.endswith(suffix) else None
                if f.name.startswith(".") or stem not in committed:
                    f.unlink()  # an interrupted flush (or its temporary file)
        for f in (self.root / "manifest").glob(".*"):
            f.unlink()
        numbers = [int(s.split("-")[1]) for s in committed]
        self.next_part = max(numbers, default=-1) + 1
        for sub in ("manifest", "errors"):
            for f in sorted((self.root / sub).glob("part-*.parquet")):
                t = pq.read_table(f, columns=["source", "content_hash"])
                self.done.update(zip(t.column("source").to_pylist(), t.column("content_hash").to_pylist()))

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
        import pyarrow.parquet as pq
        from safetensors.torch import save_file

        if not encoded and not refused:
            return -1
        part = self.next_part
        name = f"part-{part:05d}"
        shard = f"shard-{part:05d}.safetensors"
        rows = {c: [] for c in MANIFEST_COLUMNS}
        tensors = {}
        offset = 0
        for k, e in enumerate(encoded):
            key = f"{k:06d}"
            tensors[key] = e.embeddings.detach().to("cpu").contiguous()
            for c in MANIFEST_COLUMNS:
                if c not in ("shard", "offset", "tensor"):
                    rows[c].append(getattr(e, c))
            rows["shard"].append(f"shards/{shard}")
            rows["offset"].append(offset)  # the image's first row in the shard's concatenation
            rows["tensor"].append(key)
            offset += e.num_tokens
        if tensors:
            meta = {"format": "anyres-shard-1", "images": str(len(encoded))}
            _fsync_write(self.root / "shards" / shard, lambda p: save_file(tensors, str(p), metadata=meta))
        errs = pa.table({c: [getattr(r, c) for r in refused] for c in ERROR_COLUMNS},
                        schema=pa.schema([(c, pa.string()) for c in ERROR_COLUMNS]))
        _fsync_write(self.root / "errors" / f"{name}.parquet", lambda p: pq.write_table(errs, p))
        manifest = pa.table(rows, schema=manifest_schema())
        _fsync_write(self.root / "manifest" / f"{name}.parquet", lambda p: pq.write_table(manifest, p))
        self.done.update((e.source, e.content_hash) for e in encoded)
        self.done.update((r.source, r.content_hash) for r in refused)
        self.next_part += 1
        return part

    def consolidate(self) -> tuple[int, int]:
        """Write manifest.parquet and errors.parquet from every committed part; returns
        (images, errors)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        counts = []
        for sub, schema in (("manifest", manifest_schema()),
                            ("errors", pa.schema([(c, pa.string()) for c in ERROR_COLUMNS]))):
            parts = sorted((self.root / sub).glob("part-*.parquet"))
            table = pa.concat_tables([pq.read_table(p) for p in parts]) if parts else schema.empty_table()
            _fsync_write(self.root / f"{sub}.parquet", lambda p, t=table: pq.write_table(t, p))
            counts.append(table.num_rows)
        return counts[0], counts[1]


def _lock(root: Path):
    """An exclusive lock on the job folder: a second job on the same folder would delete
    the first one's in-flight files and reuse its part numbers."""
    import fcntl

    fh = open(root / "job.lock", "a")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise SpecError(f"{root} is in use by another running job (job.lock is held)") from None
    return fh


def manifest_schema():
    import pyarrow as pa

    types = {"width": pa.int32(), "height": pa.int32(), "num_tokens": pa.int64(), "layout_length": pa.int64(),
             "offset": pa.int64()}
    return pa.schema([(c, types.get(c, pa.string())) for c in MANIFEST_COLUMNS])


def load_embeddings(root: str | os.PathLike, row: dict) -> Any:
    """The embeddings of one manifest row (a dict with ``shard`` and ``tensor``)."""
    from safetensors import safe_open

    with safe_open(str(Path(root) / row["shard"]), framework="pt") as f:
        return f.get_tensor(row["tensor"])

"""A job's output location through ``pyarrow.fs``: a local or shared folder, or an
object store (``s3://bucket/job``, ``gs://...``, any file system pyarrow resolves from a
URI, or a ``(pyarrow.fs.FileSystem, path)`` pair).

Two kinds of location, told apart by the file system:

- **local** (``pyarrow.fs.LocalFileSystem``): a file is written to a temporary name,
  fsynced and renamed into place (then its folder fsynced); the job holds an exclusive
  ``flock`` on ``job.lock``.
- **object store** (anything else): there is no atomic rename and no lock, so nothing is
  ever renamed. Every file is one object written whole by one call (an object appears
  complete or not at all), written once under a name that says what it holds (shards are
  named by their content, parts by their number, which only the lease holder allocates).
  The job holds a *lease* (``Lease``): an object naming its owner and an expiry, renewed
  while the job runs; a second job refuses while a live lease exists and takes over an
  expired one. Setting a damaged part aside is a copy by read and write, then a delete.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from typing import Any

from ..errors import SpecError

LEASE_NAME = "job.lease"
LEASE_SECONDS = 60.0  # a lease not renewed for this long is expired (a job renews it every third of it)


def output_location(out: Any) -> tuple[Any, str]:
    """(file system, base path) of the job's output: a path, a URI, or a pair."""
    import pyarrow.fs as pafs

    if isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], pafs.FileSystem):
        return out[0], str(out[1]).rstrip("/")
    text = os.fspath(out)
    if "://" in text:
        try:
            fs, path = pafs.FileSystem.from_uri(text)
        except Exception as exc:  # pyarrow's errors for an unknown scheme or a missing client
            raise SpecError(f"--out {text}: not a location pyarrow can open ({' '.join(str(exc).split())[:160]})") \
                from None
        return fs, path.rstrip("/")
    return pafs.LocalFileSystem(), os.path.abspath(text)


def is_local(fs: Any) -> bool:
    import pyarrow.fs as pafs

    return isinstance(fs, pafs.LocalFileSystem)


class JobFolder:
    """Files of one job, by path relative to its base (``manifest/part-00000.parquet``)."""

    def __init__(self, fs: Any, base: str) -> None:
        self.fs, self.base = fs, base
        self.local = is_local(fs)

    @classmethod
    def at(cls, out: Any) -> "JobFolder":
        return cls(*output_location(out))

    @property
    def location(self) -> Any:
        """What ``output_location`` turns back into this folder (travels to Ray workers)."""
        return self.base if self.local else (self.fs, self.base)

    def path(self, rel: str = "") -> str:
        if not rel:
            return self.base
        return f"{self.base}/{rel}" if self.base else rel

    def __str__(self) -> str:
        return self.base if self.local else f"{type(self.fs).__name__}:{self.base}"

    # reading

    def kind(self, rel: str = "") -> str:
        """'file', 'dir' or 'none'."""
        import pyarrow.fs as pafs

        t = self.fs.get_file_info(self.path(rel)).type
        return "file" if t == pafs.FileType.File else "dir" if t == pafs.FileType.Directory else "none"

    def exists(self, rel: str) -> bool:
        return self.kind(rel) != "none"

    def names(self, sub: str) -> list[tuple[str, bool]]:
        """(name, is a folder) of what ``sub`` holds, sorted; empty when it does not exist."""
        import pyarrow.fs as pafs

        infos = self.fs.get_file_info(pafs.FileSelector(self.path(sub), allow_not_found=True))
        return sorted((i.base_name, i.type == pafs.FileType.Directory) for i in infos)

    def files(self, sub: str) -> list[str]:
        return [n for n, is_dir in self.names(sub) if not is_dir]

    def read_bytes(self, rel: str) -> bytes:
        with self.fs.open_input_stream(self.path(rel)) as fh:
            return fh.read()

    def read_table(self, rel: str, **kw: Any) -> Any:
        import pyarrow.parquet as pq

        return pq.read_table(self.path(rel), filesystem=self.fs, **kw)

    def shard_tensors(self, rel: str) -> set[str]:
        """The tensor names a safetensors shard holds (its header only is read); a
        ``ValueError`` when the header is damaged or the data it lists is not all there."""
        import struct

        if self.local:
            from safetensors import safe_open

            with safe_open(self.path(rel), framework="pt") as fh:
                return set(fh.keys())
        with self.fs.open_input_file(self.path(rel)) as fh:
            size = fh.size()
            head = fh.read(8)
            if len(head) < 8:
                raise ValueError("shorter than a safetensors header")
            (n,) = struct.unpack("<Q", head)
            if n > min(size - 8, 100 * 2**20):
                raise ValueError("header length past the end of the file")
            header = json.loads(fh.read(n))
        end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
        if 8 + n + end > size:
            raise ValueError("the data its header lists is cut short")
        return {k for k in header if k != "__metadata__"}

    # writing

    def makedirs(self, *subs: str) -> None:
        for sub in subs:
            self.fs.create_dir(self.path(sub), recursive=True)

    def write_bytes(self, rel: str, data: bytes) -> None:
        """``rel`` appears whole or not at all: on a local disk a temporary file fsynced
        and renamed; on an object store one object written by one call."""
        path = self.path(rel)
        if self.local:
            tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{uuid.uuid4().hex[:8]}.tmp")
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            dir_fd = os.open(os.path.dirname(path), os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        else:
            with self.fs.open_output_stream(path) as fh:
                fh.write(data)

    def write_table(self, rel: str, table: Any) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        self.write_bytes(rel, sink.getvalue().to_pybytes())

    def delete(self, rel: str) -> None:
        self.fs.delete_file(self.path(rel))

    def set_aside(self, rel: str) -> None:
        """``rel`` becomes ``rel.corrupt`` (object stores: copied by read and write, then deleted)."""
        if self.local:
            os.replace(self.path(rel), self.path(rel) + ".corrupt")
            return
        self.write_bytes(rel + ".corrupt", self.read_bytes(rel))
        self.delete(rel)

    def lock(self) -> Any:
        """Hold the job folder: an ``flock`` on a local disk, a ``Lease`` on an object store."""
        if self.local:
            return _flock(self.base)
        lease = Lease(self)
        lease.acquire()
        return lease


def _flock(root: str) -> Any:
    """An exclusive lock on the job folder: a second job on the same folder would delete
    the first one's in-flight files and reuse its part numbers."""
    import fcntl

    fh = open(os.path.join(root, "job.lock"), "a")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise SpecError(f"{root} is in use by another running job (job.lock is held)") from None
    fh.check = lambda: None  # an flock cannot be lost while its file is open
    fh.took_over = None
    return fh


class Lease:
    """The job's claim on an object-store folder: ``job.lease`` holds its owner and an
    expiry, renewed by a thread every third of ``LEASE_SECONDS``.

    A job that finds a live lease of another owner refuses (``SpecError``); one that finds
    an expired lease takes it over (``took_over`` says whose). Object stores have no
    compare-and-swap, so two jobs starting in the same instant could both write a lease:
    the lease is read back after a pause, and the job whose write did not survive
    refuses. A job checks that it still holds the lease before each commit (``check``):
    one that stalled past its expiry, and was taken over, stops instead of committing.
    """

    def __init__(self, folder: JobFolder, seconds: float | None = None) -> None:
        self.folder = folder
        self.seconds = float(seconds if seconds is not None else LEASE_SECONDS)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.took_over: str | None = None
        self.lost: str | None = None
        self._stop = threading.Event()
        self._io = threading.Lock()
        self._thread: threading.Thread | None = None

    def read(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.folder.read_bytes(LEASE_NAME))
            return data if isinstance(data, dict) else {}
        except FileNotFoundError:
            return None
        except (OSError, ValueError):  # a damaged lease object: treated as expired
            return {}

    def _write(self) -> None:
        self.folder.write_bytes(LEASE_NAME, json.dumps(
            {"owner": self.owner, "expires": time.time() + self.seconds, "seconds": self.seconds}).encode())

    def acquire(self) -> None:
        held = self.read()
        if held and held.get("owner") != self.owner and _num(held.get("expires")) > time.time():
            raise SpecError(_busy(self.folder, held))
        if held is not None:
            self.took_over = str(held.get("owner", "?")) if held else "a damaged lease"
        self._write()
        time.sleep(min(0.2, self.seconds / 50))  # a job that wrote at the same instant: the last write wins
        now = self.read()
        if not now or now.get("owner") != self.owner:
            raise SpecError(_busy(self.folder, now or {}))
        self._thread = threading.Thread(target=self._renew_loop, name="anyres-lease", daemon=True)
        self._thread.start()

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                self.renew()
            except Exception as exc:  # the store unreachable for a while: the next check says so
                self.lost = self.lost or f"renewing the lease failed ({type(exc).__name__}: {exc})"

    def renew(self) -> None:
        with self._io:
            if self.lost is not None:
                return
            now = self.read()
            if not now or now.get("owner") != self.owner:
                self.lost = f"the lease was taken over by {(now or {}).get('owner', 'another job')}"
                return
            self._write()

    def check(self) -> None:
        """Raise unless this job still holds the lease (called before each commit)."""
        with self._io:
            now = self.read()
            if self.lost is None and (not now or now.get("owner") != self.owner):
                self.lost = f"the lease was taken over by {(now or {}).get('owner', 'another job')}"
            if self.lost is None and _num(now.get("expires")) < time.time():
                self.lost = "the lease expired before it was renewed (the job stalled)"
        if self.lost is not None:
            raise SpecError(f"{self.folder}: this job no longer holds the folder ({self.lost}); nothing more is "
                            "committed: rerun to resume")

    def close(self) -> None:
        """Stop renewing, and delete the lease if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._io:
            now = self.read()
            if now and now.get("owner") == self.owner:
                self.folder.delete(LEASE_NAME)


def _num(x: Any) -> float:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else 0.0


def _busy(folder: JobFolder, held: dict[str, Any]) -> str:
    left = _num(held.get("expires")) - time.time()
    return (f"{folder} is in use by another running job (its lease, held by {held.get('owner', '?')}, expires in "
            f"{max(0.0, left):.0f} s unless renewed): wait for it, or use another --out")

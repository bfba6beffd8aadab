"""Shards written by the workers that encode them, straight to the job's output.

``output_location(out)`` resolves ``out`` through ``pyarrow.fs``: a local or shared
folder (a path), or an object store by URI (``s3://bucket/job``, ``gs://...``). A
shard is named by its content (``shards/<sha256 of its bytes>.safetensors``), so a task
that Ray retries writes the same name again instead of a second copy, and it appears
whole or not at all: on a local file system it is written to a temporary name, fsynced
and renamed; on an object store one upload is one atomic object. A shard counts only
once a manifest part naming it is committed (``store.Store.commit``); the shards of a
task whose result never reached a commit are deleted when the job resumes.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from typing import Any


def output_location(out: str) -> tuple[Any, str]:
    """(file system, base path) of the job's output."""
    import pyarrow.fs as pafs

    text = os.fspath(out)
    if "://" in text:
        return pafs.FileSystem.from_uri(text)
    return pafs.LocalFileSystem(), os.path.abspath(text)


def write_shard(fs: Any, base: str, tensors: dict[str, Any], metadata: dict[str, str]) -> str:
    """Write ``tensors`` (name -> CPU tensor) as one safetensors shard; returns its name
    relative to the job folder."""
    from safetensors.torch import save

    data = save(tensors, metadata=metadata)
    rel = f"shards/{hashlib.sha256(data).hexdigest()[:40]}.safetensors"
    path = f"{base.rstrip('/')}/{rel}"
    if type(fs).__name__ == "LocalFileSystem":
        tmp = os.path.join(os.path.dirname(path), f".{uuid.uuid4().hex}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)  # the same content under the same name: a retry replaces it with itself
    else:
        with fs.open_output_stream(path) as fh:
            fh.write(data)
    return rel

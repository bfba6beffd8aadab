"""Shards written by the workers that encode them, straight to the job's output.

The output is a ``folder.JobFolder`` (a local or shared folder, or an object store by URI:
``s3://bucket/job``, ``gs://...``). A shard is named by its content
(``shards/<sha256 of its bytes>.safetensors``), so a task that Ray retries writes the
same name again instead of a second copy, and it appears whole or not at all (a local
file is written to a temporary name, fsynced and renamed; an object is one upload). A
shard counts only once a manifest part naming it is committed (``store.Store.commit``);
the shards of a task whose result never reached a commit are deleted when the job
resumes.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .folder import JobFolder, output_location

__all__ = ["output_location", "write_shard"]


def write_shard(fs: Any, base: str, tensors: dict[str, Any], metadata: dict[str, str]) -> str:
    """Write ``tensors`` (name -> CPU tensor) as one safetensors shard; returns its name
    relative to the job folder."""
    from safetensors.torch import save

    data = save(tensors, metadata=metadata)
    rel = f"shards/{hashlib.sha256(data).hexdigest()[:40]}.safetensors"
    JobFolder(fs, base).write_bytes(rel, data)  # the same content under the same name: a retry rewrites it
    return rel

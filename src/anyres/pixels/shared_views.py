"""Views from worker processes through shared memory instead of the result pipe.

A worker's result travels back pickled: its uint8 views are copied into the pickle,
through the pipe (two more copies in the kernel) and out of it again in the calling
process, which is also the one process that normalises every image. For presets with
many views (InternVL's 13 tiles of 448^2, Idefics3's 17 of 364^2: ~8 MB a photo) that
traffic, not the rendering, is what kept ``num_workers=2`` at 1.1-1.3x one process.

Here the worker copies its views once into one POSIX shared-memory segment and sends
only its name and the views' shapes (``SharedViews``). The caller maps the segment,
unlinks its name at once (the mapping lives on, as long as the arrays over it) and
reads the views in place. Small results (under ``MIN_BYTES``) keep the pipe.
"""

from __future__ import annotations

from typing import Any, NamedTuple

MIN_BYTES = 1 << 20


class SharedViews(NamedTuple):
    """The views of one result, in the shared-memory segment ``name``: (shape, offset)
    of each, C-contiguous uint8."""

    name: str
    size: int
    layout: tuple


def share(views: list[Any]) -> list[Any] | SharedViews:
    """In a worker: ``views`` copied into a new shared-memory segment, or the views
    themselves when they are small or shared memory is unavailable."""
    import numpy as np

    total = sum(int(v.nbytes) for v in views)
    if total < MIN_BYTES:
        return views
    try:
        from multiprocessing import resource_tracker, shared_memory

        shm = shared_memory.SharedMemory(create=True, size=total)
    except (ImportError, OSError):
        return views
    try:
        layout, offset = [], 0
        for v in views:
            dst = np.ndarray(v.shape, dtype=np.uint8, buffer=shm.buf, offset=offset)
            dst[...] = v
            layout.append((tuple(v.shape), offset))
            offset += int(v.nbytes)
        del dst
        # the caller unlinks it: this process's tracker must not unlink it again at exit
        resource_tracker.unregister(shm._name, "shared_memory")  # type: ignore[attr-defined]
        return SharedViews(shm.name, total, tuple(layout))
    finally:
        shm.close()


def attach(shared: SharedViews) -> list[Any]:
    """In the caller: the views of ``shared`` as read-only arrays over the mapped segment,
    whose name is unlinked here (the memory is freed when the last array goes)."""
    import mmap
    import os

    import numpy as np
    from _posixshmem import shm_open, shm_unlink

    name = shared.name if shared.name.startswith("/") else "/" + shared.name
    fd = shm_open(name, os.O_RDONLY, 0)
    try:
        mapped = mmap.mmap(fd, shared.size, prot=mmap.PROT_READ)
    finally:
        os.close(fd)
        shm_unlink(name)
    flat = np.frombuffer(mapped, dtype=np.uint8)
    return [flat[offset : offset + int(np.prod(shape))].reshape(shape) for shape, offset in shared.layout]


def release(shared: SharedViews) -> None:
    """Unlink a segment whose views will not be read (the caller stopped early)."""
    try:
        from _posixshmem import shm_unlink

        shm_unlink(shared.name if shared.name.startswith("/") else "/" + shared.name)
    except (ImportError, OSError):
        pass

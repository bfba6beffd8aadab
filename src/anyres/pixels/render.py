"""Decode, plan and render one image (in this process or in a worker process).

Workers return each image's plan and its views as (3, H, W) uint8 arrays (a quarter
of the bytes of float32, already in the encoder's channel-first layout, so the
transpose is done in the workers), through shared memory when they are large
(``shared_views``); normalisation happens once, straight into the output layout, in
the calling process. Refused inputs come back as their ``AnyresError``.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Iterator, NamedTuple

from ..errors import AnyresError, ImageError, WorkerError
from ..image.decode import describe
from ..plan import Plan
from .shared_views import SharedViews, attach, share


class Job(NamedTuple):
    source: Any
    spec: str
    overrides: dict
    exact: bool
    max_pixels: int


def render_one(job: Job) -> tuple[Plan, list[Any]] | AnyresError:
    """The plan and uint8 views of one image, or the typed error that refused it. A
    decoder that fails in an unforeseen way on one image refuses that image only (as an
    ``ImageError`` naming the exception); the traceback is dropped so that the error
    does not keep the decoded image alive."""
    try:
        if job.exact:
            from ..image import load_image
            from ..plan import plan
            from ..image.memory import chw
            from .execute import render_views

            read = array_and_plan(job.source, job.spec, job.overrides, job.max_pixels)
            if read is None:
                image = load_image(job.source, max_pixels=job.max_pixels)
                read = image, plan(image, job.spec, **job.overrides)
            image, p = read
            return p, [chw(v) for v in render_views(image, p)]
        from .fast import load_for_plan, render_views_fast

        image, p = load_for_plan(job.source, job.spec, job.overrides, job.max_pixels)
        return p, render_views_fast(image, p)
    except AnyresError as exc:
        return exc.with_traceback(None)
    except MemoryError:
        return ImageError(f"{describe(job.source)}: out of memory while decoding or resizing")
    except Exception as exc:  # a decoder bug on this input: refuse the image, not the batch
        return ImageError(f"{describe(job.source)}: failed to decode or render ({type(exc).__name__}: {exc})")


def array_and_plan(source: Any, spec: str, overrides: dict, max_pixels: int) -> tuple[Any, Plan] | None:
    """An RGB uint8 array or tensor as an ``RGBArray`` read in place, and its plan; None
    for any other source (``load_image`` converts it) or a preset that plans from the
    image's content (its planner reads a PIL image)."""
    import numpy as np

    # not hasattr(source, "__array_interface__"): a PIL image has one, and computing it
    # copies the whole image (tobytes)
    if not (isinstance(source, np.ndarray) or hasattr(source, "detach")):
        return None
    from ..image.arrays import rgb_array
    from ..plan import plan, resolve
    from ..plan.strategies import STRATEGIES

    if STRATEGIES[resolve(spec, **overrides)[0].strategy].content is not None:
        return None
    array = rgb_array(source, describe(source), max_pixels)
    return None if array is None else (array, plan(array.size, spec, **overrides))


_POOLS: dict[int, Any] = {}
_POOLS_LOCK = threading.Lock()


def _init_worker() -> None:
    """One thread a worker: the workers are the parallelism."""
    from .resample import set_threads

    os.environ["OMP_NUM_THREADS"] = "1"
    set_threads(1)  # the serial kernels: no thread pool (GNU OpenMP's is not fork-safe)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


def pool(num_workers: int):
    """A process pool kept for the life of the program (starting one per call costs
    more than preprocessing a few images).

    Workers are forked, as PyTorch's DataLoader forks its workers, each then limited to
    one thread. (A fork server or spawn would re-import the caller's ``__main__`` in
    every worker, which breaks scripts without a ``__main__`` guard.)"""
    with _POOLS_LOCK:
        p = _POOLS.get(num_workers)
        if p is None:
            import atexit
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
            p = ProcessPoolExecutor(num_workers, mp_context=mp.get_context(method), initializer=_init_worker)
            _POOLS[num_workers] = p
            atexit.register(p.shutdown, wait=False, cancel_futures=True)
        return p


def evict(num_workers: int, broken: Any) -> None:
    """Forget a pool whose worker died (only if it is still the one kept), so that the
    next call starts a fresh one."""
    with _POOLS_LOCK:
        if _POOLS.get(num_workers) is broken:
            del _POOLS[num_workers]
    broken.shutdown(wait=False, cancel_futures=True)


def render_iter(jobs: list[Job], num_workers: int) -> Iterator[tuple[Plan, list[Any]] | AnyresError]:
    """``render_one`` of every job, in order, as the results arrive (in ``num_workers``
    processes when more than one)."""
    if num_workers > 1 and len(jobs) > 1:
        from concurrent.futures.process import BrokenProcessPool

        # one image a task balances best (a 12-megapixel photo costs 50 thumbnails);
        # past a few hundred images, chunks amortise the inter-process round trips
        chunk = 1 if len(jobs) < 256 else max(1, len(jobs) // (16 * num_workers))
        executor = pool(num_workers)
        results = executor.map(render_shared, jobs, chunksize=chunk)
        done = False
        try:
            for result in results:
                if isinstance(result, tuple) and isinstance(result[1], SharedViews):
                    result = (result[0], attach(result[1]))
                yield result
            done = True
        except BrokenProcessPool:
            evict(num_workers, executor)
            raise WorkerError(
                f"a preprocessing worker process died (killed or out of memory) while rendering {len(jobs)} "
                "images; the pool was reset, nothing of this call was kept"
            ) from None
        finally:
            if not done:  # the caller stopped early: the segments of the results still coming are freed
                _release_rest(results)
        return
    for j in jobs:
        yield render_one(j)


def _release_rest(results: Iterator[Any]) -> None:
    from .shared_views import release

    try:
        for result in results:
            if isinstance(result, tuple) and isinstance(result[1], SharedViews):
                release(result[1])
    except Exception:  # a broken pool: its results are gone with it
        pass


def render_shared(job: Job) -> tuple[Plan, Any] | AnyresError:
    """``render_one`` in a worker process: views of a megabyte or more travel back
    through shared memory (``shared_views``), not the result pipe."""
    result = render_one(job)
    if isinstance(result, tuple):
        return result[0], share(result[1])
    return result


def render_all(jobs: list[Job], num_workers: int) -> list[tuple[Plan, list[Any]] | AnyresError]:
    return list(render_iter(jobs, num_workers))


def plan_ahead(job: Job) -> Plan | None:
    """The plan ``render_one`` will make for ``job``, from the source's header
    (``anyres.image.probe``: a path, bytes, a seekable file, a PIL image, an array or a
    tensor); None when that cannot be known without decoding (a preset that looks at
    the content, an unreadable or refused header)."""
    from ..image.probe import probe
    from ..plan import plan, resolve
    from ..plan.strategies import STRATEGIES

    try:
        if STRATEGIES[resolve(job.spec, **job.overrides)[0].strategy].content is not None:
            return None
        return plan(probe(job.source, max_pixels=job.max_pixels).size, job.spec, **job.overrides)
    except Exception:  # the worker will decode it and say what is wrong
        return None


def plan_all_ahead(jobs: list[Job]) -> list[Plan] | None:
    """Every job's plan from headers, or None when any one needs decoding."""
    out = []
    for job in jobs:
        p = plan_ahead(job)
        if p is None:
            return None
        out.append(p)
    return out

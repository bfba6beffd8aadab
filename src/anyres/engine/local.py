"""The local engine: worker processes decode and render, the main process encodes.

Workers run ahead of the encoder by a bounded window of images, so decoding the next
images overlaps encoding the current batch. Results are taken in input order, so the
manifest lists images in the order the source gives them.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Iterable

from concurrent.futures.process import BrokenProcessPool

from ..errors import AnyresError, WorkerError
from ..pipeline import VisionPipeline
from ..pixels.render import Job, evict, pool, render_one
from .job import Pending, Shards, record_for
from .store import Refused


def run_local(pipe: VisionPipeline, work: Iterable[Pending | Refused], shards: Shards, *, workers: int,
              batch_size: int, max_image_pixels: int) -> None:
    """With workers, the encoder gets the cores they leave (at least one thread), so that
    decoding and encoding do not fight over the same cores."""
    import os

    import torch

    threads = torch.get_num_threads()
    if workers:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) - workers))
    try:
        _run(pipe, work, shards, workers, batch_size, max_image_pixels)
    finally:
        torch.set_num_threads(threads)


class _Renderer:
    """Submits render jobs to the worker pool (or renders in place without workers).

    A dead worker (killed, out of memory) breaks the whole pool: every future still in
    flight then fails, and so does every later ``submit``. Whatever the pool had
    finished is kept; the other images in flight are rendered again one at a time (in a
    healthy pool, rebuilt whenever one breaks), so that only an image that kills a
    worker by itself is refused (as a ``WorkerError``), never the job."""

    def __init__(self, pipe: VisionPipeline, workers: int, max_image_pixels: int) -> None:
        self.pipe, self.workers, self.max_image_pixels = pipe, workers, max_image_pixels
        self.executor = pool(workers) if workers >= 1 else None
        self.rebuilt = 0  # how many times a broken pool was replaced

    def job(self, p: Pending) -> Job:
        return Job(p.source, self.pipe.spec, {}, self.pipe.exact, self.max_image_pixels)

    def submit(self, p: Pending) -> Any:
        """A future, the result itself (no workers), or ``None`` when the pool is broken
        (the image is then rendered when its turn comes)."""
        if self.executor is None:
            return _guarded(p, render_one, self.job(p))
        try:
            return self.executor.submit(render_one, self.job(p))
        except BrokenProcessPool:
            return None

    def results(self, inflight: deque) -> list[tuple[Pending, Any]]:
        """The first in-flight result (or, after a worker died, all of them)."""
        p, fut = inflight[0]
        if self.executor is None:
            inflight.popleft()
            return [(p, fut)]
        try:
            if fut is None:
                raise BrokenProcessPool("the pool was already broken when this image was submitted")
            result = _guarded(p, fut.result)
        except BrokenProcessPool:
            lost = list(inflight)
            inflight.clear()
            self._drop(self.executor)
            out = [(q, f.result() if _finished(f) else self._alone(q)) for q, f in lost]
            self.executor = pool(self.workers)
            return out
        inflight.popleft()
        return [(p, result)]

    def _drop(self, executor: Any) -> None:
        evict(self.workers, executor)
        self.rebuilt += 1

    def _alone(self, p: Pending) -> Any:
        executor = pool(self.workers)
        try:
            return _guarded(p, executor.submit(render_one, self.job(p)).result)
        except BrokenProcessPool:
            self._drop(executor)
            return WorkerError(f"{p.item.key}: the worker process died while decoding or resizing it "
                               "(killed, or out of memory)")


def _guarded(p: Pending, call: Any, *args: Any) -> Any:
    """``call(*args)``, with an unexpected exception while rendering one image (a
    ``MemoryError``, a decoder's own failure) returned as that image's refusal."""
    try:
        return call(*args)
    except BrokenProcessPool:
        raise
    except AnyresError as exc:
        return exc
    except Exception as exc:
        return WorkerError(f"{p.item.key}: rendering failed ({type(exc).__name__}: {exc})")


def _finished(fut: Any) -> bool:
    """A future the broken pool had completed before it broke (its result is good)."""
    return fut is not None and fut.done() and not fut.cancelled() and fut.exception() is None


def _run(pipe: VisionPipeline, work: Iterable[Pending | Refused], shards: Shards, workers: int, batch_size: int,
         max_image_pixels: int) -> None:
    renderer = _Renderer(pipe, workers, max_image_pixels)
    window = max(2 * batch_size, 4 * max(1, workers))
    inflight: deque[tuple[Pending, Any]] = deque()
    ready: list[tuple[Pending, Any]] = []

    def take() -> None:
        for item in renderer.results(inflight):
            ready.append(item)
            if len(ready) >= batch_size:
                encode_batch(pipe, ready, shards)
                ready.clear()

    for x in work:
        if isinstance(x, Refused):
            shards.add(x)
            continue
        inflight.append((x, renderer.submit(x)))
        while len(inflight) >= window:
            take()
    while inflight:
        take()
    if ready:
        encode_batch(pipe, ready, shards)


def encode_batch(pipe: VisionPipeline, rendered: list[tuple[Pending, Any]], shards: Shards) -> None:
    """Normalise the rendered views of a batch into shape groups, encode, assemble, and
    hand each image's record (or refusal) to the shards, in order. When the batch is
    refused as a whole (an ``AnyresError``), its images are encoded one at a time, so
    that only the one at fault is refused."""
    ok = [(p, r) for p, r in rendered if not isinstance(r, Exception)]
    try:
        tokens = iter(encode_rendered(pipe, [r for _, r in ok]) if ok else [])
    except AnyresError as exc:
        tokens = iter([exc] if len(ok) == 1 else [_encode_alone(pipe, r) for _, r in ok])
    for p, r in rendered:
        shards.add(record_for(p, r if isinstance(r, Exception) else next(tokens)))


def _encode_alone(pipe: VisionPipeline, rendered: Any) -> Any:
    try:
        return encode_rendered(pipe, [rendered])[0]
    except AnyresError as exc:
        return exc


def encode_rendered(pipe: VisionPipeline, rendered: list[tuple[Any, list[Any]]]) -> list[Any]:
    """VisualTokens of images already rendered to (plan, uint8 views)."""
    from ..pixels.outputs import OUTPUTS

    plans = [p for p, _ in rendered]
    batch = OUTPUTS["anyres"](plans, "pt").fill_all([v for _, v in rendered]).result(list(range(len(plans))), [])
    return pipe.encode_batch(batch)

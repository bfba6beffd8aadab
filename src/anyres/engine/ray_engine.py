"""The Ray engine: the same stages on Ray Data, for more than one machine.

read (the driver hashes and skips committed inputs, as the local engine does)
  -> render: ``map_batches`` tasks on CPU workers (decode, plan, crop/resize/pad: uint8
     views, exactly ``anyres.pixels.render.render_one``)
  -> encode: ``map_batches`` on an actor pool, each actor holding one ``VisionPipeline``
     (a GPU per actor when the cluster has GPUs)
  -> write: the driver streams the results, in input order, into the same ``Store``
     commits as the local engine (shards, manifest, errors, crash safety, resume).

Rows travel between stages as pickled payloads (plans and uint8 views, then
embeddings), so any plan and any view shape pass through Ray's Arrow blocks unchanged.
"""

from __future__ import annotations

import pickle
from typing import Any, Iterable

import numpy as np

from .job import Pending, Shards, encoded_record, refused_record
from .store import Refused


def _render(batch: dict[str, np.ndarray], preset: str, exact: bool, max_image_pixels: int) -> dict[str, Any]:
    """A render task (tasks reuse the cluster's warm worker processes; actors would
    start new ones for every job)."""
    from ..pixels.render import Job, render_one

    out = []
    for path, data in zip(batch["path"], batch["data"]):
        source = bytes(data) if data is not None and len(data) else str(path)
        out.append(pickle.dumps(render_one(Job(source, preset, {}, exact, max_image_pixels))))
    return {"idx": batch["idx"], "rendered": np.array(out, dtype=object)}


class _Encode:
    """One pipeline per actor: the encoder is loaded once, not per batch."""

    def __init__(self, preset: str, encoder: str, exact: bool, threads: int) -> None:
        import torch

        from ..pipeline import VisionPipeline

        self.pipe = VisionPipeline.from_preset(preset, encoder, exact=exact)
        if torch.cuda.is_available():
            self.pipe.encoder.cuda()
            self.pipe.assembler.cuda()
        else:  # the cores the render workers leave (as the local engine does)
            torch.set_num_threads(threads)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        from .local import encode_rendered

        rendered = [pickle.loads(r) for r in batch["rendered"]]
        ok = [r for r in rendered if not isinstance(r, Exception)]
        tokens = iter(encode_rendered(self.pipe, ok) if ok else [])
        out = []
        for r in rendered:
            if isinstance(r, Exception):
                out.append(pickle.dumps(r))
            else:
                t = next(tokens)
                out.append(pickle.dumps((t.plan, t.embeddings.cpu().numpy(), t.positions.cpu().numpy(),
                                         t.kind.cpu().numpy())))
        return {"idx": batch["idx"], "result": np.array(out, dtype=object)}


def run_ray(preset: str, encoder: Any, exact: bool, work: Iterable[Pending | Refused], shards: Shards, *, workers: int,
            batch_size: int, max_image_pixels: int, address: str | None = None) -> None:
    import ray
    import ray.data

    pending: list[Pending] = []
    for x in work:
        if isinstance(x, Refused):
            shards.add(x)
        else:
            pending.append(x)
    if not pending:
        return
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = False
        rows = [{"idx": k, "path": p.item.path or "", "data": p.item.data or b""} for k, p in enumerate(pending)]
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        # Every actor must fit the cluster at once, or Ray leaves some unscheduled: the
        # encoder asks for a GPU (or a quarter CPU: its threads share the cores), the
        # render workers share the remaining CPUs, at most one each.
        cpus = ray.cluster_resources().get("CPU", 1)
        encode_cpus = 1 if gpus else 0.25
        render_cpus = min(1.0, (cpus - (0 if gpus else encode_cpus)) / max(1, workers))
        ds = ray.data.from_items(rows)
        ds = ds.map_batches(_render, fn_args=(preset, exact, max_image_pixels), batch_size=max(1, batch_size // 2),
                            concurrency=max(1, workers), num_cpus=render_cpus)
        threads = max(1, int(cpus) - max(1, workers))
        ds = ds.map_batches(_Encode, fn_constructor_args=(preset, str(encoder), exact, threads), batch_size=batch_size,
                            concurrency=1, num_cpus=encode_cpus, num_gpus=gpus)
        for batch in ds.iter_batches(batch_size=None):
            for idx, result in zip(batch["idx"], batch["result"]):
                shards.add(_record(pending[int(idx)], pickle.loads(result)))
    finally:
        if started:
            ray.shutdown()


def _record(p: Pending, result: Any):
    import torch

    if isinstance(result, Exception):
        return refused_record(p.item, p.digest, result)
    plan, emb, pos, kind = result
    from ..pipeline import VisualTokens

    tokens = VisualTokens(torch.from_numpy(emb), torch.from_numpy(pos), torch.from_numpy(kind), plan)
    return encoded_record(p.item, p.digest, tokens)

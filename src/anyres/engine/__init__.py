"""anyres.engine: batch jobs over many images.

``encode_dataset(src, out, preset, encoder)`` encodes a corpus to safetensors shards
with a Parquet manifest and an errors table (``store``), resumably: rerun the same
command after any interruption and it finishes the job, every good image encoded once.
``engine="local"`` (default) decodes in worker processes and encodes in the main one;
``engine="ray"`` runs on a Ray cluster (``ray_engine``): workers read, hash, render,
encode and write shards, the driver only commits manifest parts. ``budget.corpus_budget``
plans a corpus without an encoder.
"""

from __future__ import annotations

import math
import os
from typing import Any

from ..errors import SpecError
from ..image.limits import DEFAULT_MAX_PIXELS
from ..workers import check_workers
from .job import Shards, Stats, job_settings, pending_items
from .sources import iter_items
from .store import Store


def encode_dataset(
    src: str | os.PathLike,
    out: Any,
    preset: str,
    encoder: str | os.PathLike,
    *,
    engine: str = "local",
    workers: int = 0,
    batch_size: int = 16,
    shard_mb: float = 256.0,
    exact: bool = True,
    column: str | None = None,
    max_image_pixels: int = DEFAULT_MAX_PIXELS,
    progress: bool = False,
    ray_address: str | None = None,
    force_workers: bool = False,
    encoders: Any = None,
    gpus_per_encoder: float = 1.0,
) -> dict[str, Any]:
    """Encode every image of ``src`` into ``out``; returns the run's summary. ``out`` is a
    folder, an object store URI (``s3://bucket/job``, ``gs://...``: any ``pyarrow.fs``
    URI) or a ``(pyarrow.fs.FileSystem, path)`` pair (``store``, ``folder``).

    ``workers`` is at most the machine's cores unless ``force_workers`` (or the
    environment variable ``ANYRES_MAX_WORKERS``) allows more (``anyres.workers``); with
    the Ray engine it caps the render tasks in flight (0: as many as the cluster's CPUs
    take). Ray only: ``ray_address`` joins a running cluster (default: start one for
    this job, its start-up reported as ``ray_startup_s``); ``encoders`` is the encoder
    pool, N or (MIN, MAX) actors (default: one per ``gpus_per_encoder`` of the
    cluster's GPUs, or one CPU actor per node)."""
    if engine not in ("local", "ray"):
        raise SpecError(f"engine must be 'local' or 'ray', got {engine!r}")
    if engine == "ray":
        from .ray_engine import check_encoders

        encoders, gpus_per_encoder = check_encoders(encoders, gpus_per_encoder)
    workers = check_workers(workers, name="workers", force=force_workers)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise SpecError(f"batch_size must be an int >= 1, got {batch_size!r}")
    if (isinstance(shard_mb, bool) or not isinstance(shard_mb, (int, float)) or not math.isfinite(shard_mb)
            or shard_mb <= 0):
        raise SpecError(f"shard_mb must be a number > 0, got {shard_mb!r}")
    if engine != "local":  # the driver never loads the model (the first encoder actor checks it)
        return _encode_dataset_ray(src, out, preset, encoder, exact, column, progress, address=ray_address,
                                   workers=workers, batch_size=batch_size, shard_mb=shard_mb,
                                   max_image_pixels=max_image_pixels, encoders=encoders,
                                   gpus_per_encoder=gpus_per_encoder)
    from ..pipeline import VisionPipeline

    # the preset and the encoder are checked before the folder is touched: a typo must
    # not leave a job.json behind that the corrected command would refuse to resume
    pipe = VisionPipeline.from_preset(preset, encoder, exact=exact)
    items = iter_items(src, column=column)  # a source that cannot be opened stops here
    store = Store.open(out, job_settings(preset, encoder, exact))
    stats = Stats()
    bar = _bar(progress, engine)
    shards = Shards(store, stats, shard_mb, bar)
    work = pending_items(items, store, stats)
    try:
        from .local import run_local

        run_local(pipe, work, shards, workers=workers, batch_size=batch_size, max_image_pixels=max_image_pixels)
        shards.flush()
        images, errors = store.consolidate()
    finally:
        if bar is not None:
            bar.close()
        store.close()
    summary = stats.summary()
    summary.update(manifest_images=images, errors_listed=errors, out=str(out), engine=engine)
    summary.update(store.report())
    return summary


def _bar(progress: bool, engine: str) -> Any:
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(unit="img", desc=f"encoding ({engine})")


def _encode_dataset_ray(src, out, preset, encoder, exact, column, progress, **kw) -> dict[str, Any]:
    """The Ray engine's job: the source is cut into units (nothing read but its
    listing's top level or its Parquet footer); the folder is opened, without loading
    what is done (the workers anti-join against it), once the first encoder actor has
    loaded the pipeline (the check of ``preset`` and ``encoder``: a typo leaves no
    folder), while the render tasks already run."""
    from .folder import JobFolder
    from .ray_engine import connect, on_worker, run_ray
    from .ray_sources import source_units

    units = source_units(src, column)  # a source that cannot be opened stops here
    location = JobFolder.at(out).location  # (an unknown URI scheme stops here)
    stats = Stats()
    ours, startup = connect(kw.pop("address"))
    opened: list[Store] = []

    def open_store() -> Store:
        opened.append(Store.open(out, job_settings(preset, encoder, exact), load_done=False))
        return opened[-1]

    try:
        bar = _bar(progress, "ray")
        try:
            store, extra = run_ray(preset, encoder, exact, units, open_store, stats, out=location, progress=bar, **kw)
            images, errors = store.consolidate(on_worker)
        finally:
            if bar is not None:
                bar.close()
            for store in opened:
                store.close()
    finally:
        if ours:
            import ray

            ray.shutdown()
    extra.update(ray_startup_s=round(startup, 3), ray_started_here=ours)
    summary = stats.summary()
    summary.update(manifest_images=images, errors_listed=errors, out=str(out), engine="ray")
    summary.update(extra)
    summary.update(store.report())
    return summary


__all__ = ["encode_dataset"]

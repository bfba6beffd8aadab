"""anyres.engine: batch jobs over many images.

``encode_dataset(src, out, preset, encoder)`` encodes a corpus to safetensors shards
with a Parquet manifest and an errors table (``store``), resumably: rerun the same
command after any interruption and it finishes the job, every good image encoded once.
``engine="local"`` (default) decodes in worker processes and encodes in the main one;
``engine="ray"`` runs the same stages on Ray Data. ``budget.corpus_budget`` plans a
corpus without an encoder.
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
    out: str | os.PathLike,
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
) -> dict[str, Any]:
    """Encode every image of ``src`` into ``out``; returns the run's summary.

    ``workers`` is at most the machine's cores unless ``force_workers`` (or the
    environment variable ``ANYRES_MAX_WORKERS``) allows more (``anyres.workers``)."""
    from ..pipeline import VisionPipeline

    if engine not in ("local", "ray"):
        raise SpecError(f"engine must be 'local' or 'ray', got {engine!r}")
    workers = check_workers(workers, name="workers", force=force_workers)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise SpecError(f"batch_size must be an int >= 1, got {batch_size!r}")
    if (isinstance(shard_mb, bool) or not isinstance(shard_mb, (int, float)) or not math.isfinite(shard_mb)
            or shard_mb <= 0):
        raise SpecError(f"shard_mb must be a number > 0, got {shard_mb!r}")
    # the preset and the encoder are checked before the folder is touched: a typo must
    # not leave a job.json behind that the corrected command would refuse to resume
    pipe = VisionPipeline.from_preset(preset, encoder, exact=exact)
    if engine != "local":
        del pipe  # Ray's workers load their own
    items = iter_items(src, column=column)  # a source that cannot be opened stops here
    store = Store.open(out, job_settings(preset, encoder, exact))
    stats = Stats()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(unit="img", desc=f"encoding ({engine})")
    shards = Shards(store, stats, shard_mb, bar)
    work = pending_items(items, store, stats)
    try:
        if engine == "local":
            from .local import run_local

            run_local(pipe, work, shards, workers=workers, batch_size=batch_size, max_image_pixels=max_image_pixels)
        else:
            from .ray_engine import run_ray

            run_ray(preset, encoder, exact, work, shards, workers=workers, batch_size=batch_size,
                    max_image_pixels=max_image_pixels, address=ray_address)
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


__all__ = ["encode_dataset"]

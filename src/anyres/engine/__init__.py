"""anyres.engine: batch jobs over many images.

``encode_dataset(src, out, preset, encoder)`` encodes a corpus to safetensors shards
with a Parquet manifest and an errors table (``store``), resumably: rerun the same
command after any interruption and it finishes the job, every good image encoded once.
``engine="local"`` (default) decodes in worker processes and encodes in the main one;
``engine="ray"`` runs the same stages on Ray Data. ``budget.corpus_budget`` plans a
corpus without an encoder.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import SpecError
from ..image.limits import DEFAULT_MAX_PIXELS
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
) -> dict[str, Any]:
    """Encode every image of ``src`` into ``out``; returns the run's summary."""
    from ..pipeline import VisionPipeline

    if engine not in ("local", "ray"):
        raise SpecError(f"engine must be 'local' or 'ray', got {engine!r}")
    if batch_size < 1 or workers < 0 or shard_mb <= 0:
        raise SpecError(f"batch_size must be >= 1, workers >= 0 and shard_mb > 0; got {batch_size}, {workers}, {shard_mb}")
    store = Store.open(out, job_settings(preset, encoder, exact))
    stats = Stats()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(unit="img", desc=f"encoding ({engine})")
    shards = Shards(store, stats, shard_mb, bar)
    work = pending_items(iter_items(src, column=column), store, stats)
    try:
        if engine == "local":
            from .local import run_local

            pipe = VisionPipeline.from_preset(preset, encoder, exact=exact)
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
    return summary


__all__ = ["encode_dataset"]

"""``anyres eval legibility``: documents in, ``results.json`` / ``report.md`` / ``pareto.png`` out."""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any, Sequence

from .benchmark import DEFAULT_BUDGETS, DEFAULT_PRESETS, evaluate
from .cache import ViewReader
from .documents import CATEGORIES, generated, load_folder
from .report import write_results


def documents(images: int, seed: int = 0, splits: Sequence[str] = ("dev", "heldout"), data: str | None = None,
              categories: Sequence[str] = CATEGORIES):
    """The documents of a run: a user folder, or ``images`` generated ones per split
    (cycling through ``categories``)."""
    if data:
        docs = load_folder(data)
        return docs[:images] if images else docs
    return [d for split in splits for d in generated(images, split, seed, tuple(categories))]


def run_legibility(
    out: str | Path,
    presets: Sequence[str] = DEFAULT_PRESETS,
    budgets: Sequence[int] = DEFAULT_BUDGETS,
    images: int = len(CATEGORIES),
    seed: int = 0,
    splits: Sequence[str] = ("dev", "heldout"),
    data: str | None = None,
    categories: Sequence[str] = CATEGORIES,
    reader: str = "rapidocr",
    upscale: float = 1.0,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    start = time.perf_counter()
    docs = documents(images, seed, splits, data, categories)
    view_reader = ViewReader(reader, upscale, cache_dir)
    records = evaluate(docs, list(presets), [int(b) for b in budgets], view_reader, progress=progress)
    meta = {
        "documents": f"{len(docs)} ({'folder ' + str(data) if data else ', '.join(splits) + f' split, {images} each, seed {seed}'})"
        + ("" if data or tuple(categories) == CATEGORIES else f", categories {', '.join(categories)}"),
        "reader": f"{reader}, upscale {upscale:g}",
        "views read": f"{view_reader.misses} read, {view_reader.hits} from the cache ({view_reader.cache_dir})",
        "seconds": round(time.perf_counter() - start, 1),
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
    }
    paths = write_results(out, records, [int(b) for b in budgets], meta)
    return {"records": records, "meta": meta, "paths": paths}

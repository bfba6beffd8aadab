"""``anyres eval legibility``: documents in, ``results.json`` / ``report.md`` / ``pareto.png`` /
``cost.png`` out; ``anyres eval ranking``: every preset family at its defaults and fitted
to budgets, ``legibility_ranking.json`` / ``ranking.md`` / ``cost.png`` out."""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any, Sequence

from .benchmark import DEFAULT_BUDGETS, DEFAULT_FITTED, DEFAULT_PRESETS, Run, evaluate, fitted_runs
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
    fitted: Sequence[str] = DEFAULT_FITTED,
) -> dict[str, Any]:
    start = time.perf_counter()
    docs = documents(images, seed, splits, data, categories)
    view_reader = ViewReader(reader, upscale, cache_dir)
    records = evaluate(docs, list(presets), [int(b) for b in budgets], view_reader, progress=progress,
                       fitted=list(fitted))
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


# --- the ranking ---------------------------------------------------------------------

RANKING_CATEGORIES = ("receipt", "page", "table", "screenshot")
FIT_BUDGETS = (1024, 2048)  # fitted against naive, for every preset with a size knob
RECORD_FIELDS = ("image", "category", "split", "preset", "budget", "fit", "spec", "width", "height", "words", "tokens",
                 "prompt_tokens", "encoder_gflops", "tower", "matched_words", "recall", "cer", "views", "encoder_pixels",
                 "error")


def ranking_runs(presets: Sequence[str], budgets: Sequence[int], fitted: Sequence[str] = DEFAULT_FITTED,
                 fit_budgets: Sequence[int] = FIT_BUDGETS) -> list[Run]:
    """Every preset at its defaults and fitted to each budget; then ``fitted`` fitted and
    naively capped at each of ``fit_budgets`` (each label once; no naive run where the
    preset has no size knob or no value keeps every image within the budget)."""
    out = [Run(p, p) for p in presets] + fitted_runs(presets, budgets, naive=False) + fitted_runs(fitted, fit_budgets)
    seen: set[str] = set()
    return [r for r in out if not (r.label in seen or seen.add(r.label))]


def compact(record: dict) -> dict:
    """A record with the fields the ranking needs (no timings: the file is committed)."""
    out = {k: record[k] for k in RECORD_FIELDS if k in record}
    if "diagnostics" in record:
        out["diagnostics"] = {"min_effective_scale": record["diagnostics"]["min_effective_scale"]}
    return out


def run_ranking(
    out: str | Path,
    presets: Sequence[str] | None = None,
    budgets: Sequence[int] = (1024, 2048),
    images: int = len(RANKING_CATEGORIES),
    seed: int = 0,
    categories: Sequence[str] = RANKING_CATEGORIES,
    fitted: Sequence[str] | None = None,
    fit_budgets: Sequence[int] = FIT_BUDGETS,
    reader: str = "rapidocr",
    cache_dir: str | Path | None = None,
    progress: bool = True,
    view_reader: Any = None,
) -> dict[str, Any]:
    """Score every preset family (default: ``anyres.presets()``) at its defaults and
    fitted to ``budgets`` on ``images`` generated dev documents, plus fitted against naive
    for ``fitted`` (default: every preset of the run); write ``legibility_ranking.json``,
    ``ranking.md`` and ``cost.png``."""
    import json
    import os

    from ..plan import presets as all_presets
    from .ranking import fitted_markdown, ranking_markdown
    from .report import cost_plot

    from ..plan import resolve
    from ..plan.fit import budget_value

    start = time.perf_counter()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    names = list(presets or all_presets())
    fitted = list(names if fitted is None else fitted)
    for name in [*names, *fitted]:
        resolve(name)  # a typo is a SpecError before any OCR
    budgets = [budget_value(b) for b in budgets]
    fit_budgets = [budget_value(b) for b in fit_budgets]
    docs = documents(images, seed, ("dev",), None, categories)
    view_reader = view_reader or ViewReader(reader, 1.0, cache_dir)
    plan_runs = ranking_runs(names, [int(b) for b in budgets], fitted, [int(b) for b in fit_budgets])
    records = [compact(r) for r in evaluate(docs, plan_runs=plan_runs, reader=view_reader, progress=progress)]
    meta = {
        "documents": f"{len(docs)} generated, dev split, seed {seed}, categories {', '.join(categories[:images])}",
        "presets": names,
        "budgets": [int(b) for b in budgets],
        "fitted": list(fitted),
        "fit_budgets": [int(b) for b in fit_budgets],
        "reader": f"{view_reader.name}, upscale {view_reader.upscale:g}",
        "command": "anyres eval ranking --out docs/results",
    }
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"results": out / "legibility_ranking.json", "report": out / "ranking.md", "cost": out / "cost.png"}
    body = ",\n".join(json.dumps(r, sort_keys=True) for r in records)
    paths["results"].write_text('{"meta": ' + json.dumps(meta, indent=1) + ',\n"records": [\n' + body + "\n]}\n")
    report = ["# Legibility per token and per GFLOP", ""] + [f"- {k}: {v}" for k, v in meta.items()] + [""]
    report += [ranking_markdown(records, budgets), "## Fitted against naive", "", fitted_markdown(records),
               "![recall against GFLOPs and tokens](cost.png)", ""]
    paths["report"].write_text("\n".join(report))
    cost_plot(records, paths["cost"], title=f"Legibility against cost ({len(docs)} documents)")
    seconds = round(time.perf_counter() - start, 1)
    return {"records": records, "meta": meta, "paths": paths, "seconds": seconds, "load": load,
            "views": (view_reader.misses, view_reader.hits)}

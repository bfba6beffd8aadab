"""Run the legibility benchmark: plan, render, read and score every (document, plan).

A record per (document, plan); budget-planner rows carry their budget. Plans that a
preset refuses (``PlanError``) become records with an ``error`` and no scores.
"""

from __future__ import annotations

import time
from typing import Any, Iterable, Sequence

from ..errors import AnyresError
from .cache import ViewReader
from .documents import Document
from .metrics import char_errors, match_words

DEFAULT_PRESETS = (
    "fixed", "fixed-pad", "fixed-crop", "dynamic", "llava-next", "llava-onevision", "internvl", "qwen2-vl",
    "idefics3", "minicpm-v", "llava-uhd", "gpt4v", "s2",
)
DEFAULT_BUDGETS = (576, 1152, 2304, 4608)


def budget_spec(budget: int) -> str:
    return f"budget(max_tokens={int(budget)})"


def runs(specs: Sequence[str], budgets: Sequence[int]) -> list[tuple[str, int | None]]:
    """(spec, budget) pairs: the presets as given, then the budget planner per budget."""
    return [(s, None) for s in specs] + [(budget_spec(b), int(b)) for b in budgets]


def score_plan(doc: Document, spec: str, reader: ViewReader, budget: int | None = None) -> dict[str, Any]:
    """Plan ``doc`` with ``spec``, read every view and score the pooled lines."""
    from ..pixels import render_views
    from ..plan import plan

    record: dict[str, Any] = {
        "image": doc.name, "category": doc.category, "split": doc.split, "preset": spec, "budget": budget,
        "width": doc.size[0], "height": doc.size[1], "words": len(doc.words),
    }
    start = time.perf_counter()
    try:
        p = plan(doc.image, spec)
    except AnyresError as exc:
        record.update(error=str(exc), tokens=None, recall=None, cer=None)
        return record
    views = render_views(doc.image, p)
    lines = [line for v in views for line in reader.read(v)]
    matched, total = match_words(doc.words, lines)
    s, d, i, n = char_errors(doc.words, lines)
    diag = p.diagnostics
    record.update(
        tokens=p.num_tokens,
        recall=matched / total if total else 1.0,
        cer=(s + d + i) / n if n else 0.0,
        matched_words=matched,
        char_errors={"substituted": s, "deleted": d, "inserted": i, "chars": n},
        views=len(p.views),
        encoder_pixels=diag.encoder_pixels,
        diagnostics={
            "padding_fraction": round(diag.padding_fraction, 4),
            "distortion": round(diag.distortion, 4),
            "min_effective_scale": round(diag.min_effective_scale, 4),
            "coverage": round(diag.coverage, 4),
            "overlap": round(diag.overlap, 4),
            "cut_lines": len(diag.cut_lines),
        },
        seconds=round(time.perf_counter() - start, 3),
    )
    if budget is not None:
        record["choice"] = {k: v for k, v in p.info.items() if k in ("candidate", "reason", "family")}
    return record


def evaluate(
    documents: Iterable[Document],
    specs: Sequence[str] = DEFAULT_PRESETS,
    budgets: Sequence[int] = DEFAULT_BUDGETS,
    reader: ViewReader | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Score every document under every preset and every budget; one record each."""
    docs = list(documents)
    reader = reader or ViewReader()
    todo = [(doc, spec, budget) for doc in docs for spec, budget in runs(specs, budgets)]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="plan", desc="legibility", dynamic_ncols=True)
    records = []
    for doc, spec, budget in todo:
        if bar is not None:
            bar.set_postfix_str(f"{doc.name[-18:]} {spec[:24]}", refresh=False)
        records.append(score_plan(doc, spec, reader, budget))
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    return records

"""Run the legibility benchmark: plan, render, read and score every (document, plan).

A record per (document, run). A run is a preset as given, the budget planner at a
budget (its rows carry ``budget``), or a model's own preset kept within a budget
(``fit``: ``{"budget": B, "how": "fitted" | "naive", "base": preset}``; fitted is
``plan(image, preset, max_tokens=B)``, naive the knob capped once for every image,
``anyres.eval.fitted``). Plans that a preset refuses (``PlanError``) become records with
an ``error`` and no scores. Each record has the encoder GFLOPs of its plan when the
preset's tower size is known (``anyres.plan.sizes.preset_encoder``).
"""

from __future__ import annotations

import time
from typing import Any, Iterable, NamedTuple, Sequence

from ..errors import AnyresError
from .cache import ViewReader
from .documents import Document
from .metrics import char_errors, match_words

DEFAULT_PRESETS = (
    "fixed", "fixed-pad", "fixed-crop", "dynamic", "llava-next", "llava-onevision", "internvl", "qwen2-vl",
    "idefics3", "minicpm-v", "llava-uhd", "gpt4v", "s2",
)
DEFAULT_BUDGETS = (576, 1152, 2304, 4608)
# the model presets run fitted and naively capped at every budget (issue 17)
DEFAULT_FITTED = ("qwen2.5-vl", "internvl")


class Run(NamedTuple):
    """One column of the benchmark: ``label`` names it in records and reports; the plan
    is ``plan(image, spec)`` or, with ``max_tokens``, ``plan(image, spec, max_tokens=...)``."""

    label: str
    spec: str
    budget: int | None = None  # the budget planner's budget
    max_tokens: int | None = None
    fit: dict | None = None  # {"budget", "how", "base"} of a fitted or naive run


def budget_spec(budget: int) -> str:
    return f"budget(max_tokens={int(budget)})"


def fitted_label(spec: str, budget: int) -> str:
    return f"{spec}, max_tokens={int(budget)}"


def naive_label(capped: str, budget: int) -> str:
    """A naive run's label: its capped spec and the budget it was capped for (two budgets
    may share a cap; their rows stay apart)."""
    return f"{capped}, naive for {int(budget)}"


def fitted_runs(specs: Sequence[str], budgets: Sequence[int], naive: bool = True) -> list[Run]:
    """Each spec fitted to each budget and, with ``naive``, capped the naive way."""
    from .fitted import naive_spec

    out = []
    for spec in specs:
        for b in budgets:
            out.append(Run(fitted_label(spec, b), spec, max_tokens=int(b),
                           fit={"budget": int(b), "how": "fitted", "base": spec}))
            if naive:
                try:
                    capped = naive_spec(spec, b)
                except AnyresError:
                    continue  # no knob or no value fits every image: no naive run to compare
                out.append(Run(naive_label(capped, b), capped, fit={"budget": int(b), "how": "naive", "base": spec}))
    return out


def runs(specs: Sequence[str], budgets: Sequence[int], fitted: Sequence[str] = ()) -> list[Run]:
    """The presets as given, the budget planner per budget, then each of ``fitted``
    fitted and naively capped per budget."""
    return ([Run(s, s) for s in specs] + [Run(budget_spec(b), budget_spec(b), budget=int(b)) for b in budgets]
            + fitted_runs(fitted, budgets))


def encoder_gflops(plan: Any) -> float | None:
    """Encoder GFLOPs of ``plan`` through its preset's own tower (None: tower unknown)."""
    from ..plan.sizes import preset_encoder

    tower = preset_encoder(plan.preset)
    return None if tower is None else round(plan.cost(encoder=tower).encoder_flops.total / 1e9, 2)


def score_plan(doc: Document, spec: str, reader: ViewReader, budget: int | None = None,
               max_tokens: int | None = None, label: str | None = None, fit: dict | None = None) -> dict[str, Any]:
    """Plan ``doc`` with ``spec`` (fitted to ``max_tokens`` when given), read every view
    and score the pooled lines."""
    from ..pixels import render_views
    from ..plan import plan
    from ..plan.sizes import preset_encoder

    record: dict[str, Any] = {
        "image": doc.name, "category": doc.category, "split": doc.split, "preset": label or spec, "budget": budget,
        "width": doc.size[0], "height": doc.size[1], "words": len(doc.words),
    }
    if fit is not None:
        record["fit"] = dict(fit)
    start = time.perf_counter()
    try:
        p = plan(doc.image, spec) if max_tokens is None else plan(doc.image, spec, max_tokens=max_tokens)
    except AnyresError as exc:
        record.update(error=str(exc), tokens=None, recall=None, cer=None)
        return record
    views = render_views(doc.image, p)
    lines = [line for v in views for line in reader.read(v)]
    matched, total = match_words(doc.words, lines)
    s, d, i, n = char_errors(doc.words, lines)
    diag = p.diagnostics
    record.update(
        spec=p.spec,
        tokens=p.num_tokens,
        prompt_tokens=len(p.layout),
        encoder_gflops=encoder_gflops(p),
        tower=preset_encoder(p.preset),
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
    fitted: Sequence[str] = (),
    plan_runs: Sequence[Run] | None = None,
) -> list[dict[str, Any]]:
    """Score every document under every run (``runs(specs, budgets, fitted)``, or
    ``plan_runs`` as given); one record each."""
    docs = list(documents)
    reader = reader or ViewReader()
    columns = list(plan_runs) if plan_runs is not None else runs(specs, budgets, fitted)
    todo = [(doc, run) for doc in docs for run in columns]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="plan", desc="legibility", dynamic_ncols=True)
    records = []
    for doc, run in todo:
        if bar is not None:
            bar.set_postfix_str(f"{doc.name[-18:]} {run.label[:24]}", refresh=False)
        records.append(score_plan(doc, run.spec, reader, run.budget, run.max_tokens, run.label, run.fit))
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    return records

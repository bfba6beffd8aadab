"""Aggregate benchmark records: per preset, per category, and the budget comparison.

The comparison at a budget B, per split: the planner's mean recall against the best
preset (default parameters) whose plan fits B tokens on *every* document of the split,
and, for information, against a per-document oracle (the best recall any preset fitting
B reaches on that document).
"""

from __future__ import annotations

from collections import defaultdict
from statistics import mean
from typing import Any, Iterable


def _ok(records: Iterable[dict]) -> list[dict]:
    return [r for r in records if r.get("recall") is not None]


def splits(records: list[dict]) -> list[str]:
    order = {"dev": 0, "heldout": 1}
    return sorted({r["split"] for r in records}, key=lambda s: (order.get(s, 2), s))


def by_preset(records: list[dict], split: str) -> list[dict[str, Any]]:
    """One row per (preset, budget): mean tokens, recall, CER and diagnostics."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    order: list[tuple] = []
    for r in records:
        if r["split"] != split:
            continue
        key = (r["preset"], r["budget"])
        if key not in groups:
            order.append(key)
        groups[key].append(r)
    rows = []
    for key in order:
        rs = groups[key]
        ok = _ok(rs)
        row = {"preset": key[0], "budget": key[1], "images": len(rs), "errors": len(rs) - len(ok)}
        if ok:
            row.update(
                tokens=mean(r["tokens"] for r in ok),
                max_tokens=max(r["tokens"] for r in ok),
                recall=mean(r["recall"] for r in ok),
                cer=mean(r["cer"] for r in ok),
                min_scale=mean(r["diagnostics"]["min_effective_scale"] for r in ok),
                views=mean(r["views"] for r in ok),
            )
        rows.append(row)
    return rows


def comparison(records: list[dict], split: str, budget: int) -> dict[str, Any]:
    """The planner at ``budget`` against the presets that fit it, on one split."""
    recs = [r for r in records if r["split"] == split]
    images = sorted({r["image"] for r in recs})
    planner = {r["image"]: r for r in _ok(recs) if r["budget"] == budget}
    presets: dict[str, dict[str, dict]] = defaultdict(dict)
    for r in recs:
        if r["budget"] is None and not r.get("fit"):  # presets at their own settings only
            presets[r["preset"]][r["image"]] = r
    fitting = {}
    for name, rows in presets.items():
        if all(i in rows and rows[i].get("recall") is not None and rows[i]["tokens"] <= budget for i in images):
            fitting[name] = mean(rows[i]["recall"] for i in images)
    out: dict[str, Any] = {"split": split, "budget": budget, "images": len(images), "fitting": fitting}
    if len(planner) == len(images) and images:
        out["planner"] = mean(planner[i]["recall"] for i in images)
        out["planner_tokens"] = mean(planner[i]["tokens"] for i in images)
    if fitting:
        best = max(fitting, key=lambda n: (fitting[n], n))
        out["best_preset"], out["best_recall"] = best, fitting[best]
    oracle = []
    for i in images:
        fits = [rows[i]["recall"] for rows in presets.values()
                if i in rows and rows[i].get("recall") is not None and rows[i]["tokens"] <= budget]
        oracle.append(max(fits) if fits else 0.0)
    if oracle:
        out["oracle"] = mean(oracle)
    if "planner" in out:
        best = out.get("best_recall", 0.0)
        out["verdict"] = "higher" if out["planner"] > best else "equal" if out["planner"] == best else "lower"
    return out


def by_category(records: list[dict], split: str, specs: list[tuple[str, Any]]) -> tuple[list[str], list[list]]:
    """Mean recall per category (columns) for the given (preset, budget) rows."""
    recs = [r for r in _ok(records) if r["split"] == split]
    cats = sorted({r["category"] for r in recs})
    table = []
    for preset, budget in specs:
        row: list = [preset]
        for c in cats:
            vals = [r["recall"] for r in recs if r["category"] == c and r["preset"] == preset and r["budget"] == budget]
            row.append(mean(vals) if vals else None)
        table.append(row)
    return cats, table

"""The token economy of legibility: words read per 1,000 visual tokens and per encoder
GFLOP, for every preset family, and fitted presets against naive caps.

Pure functions over benchmark records (``anyres.eval.benchmark``), so the README's tables
are regenerated from a committed results file without running OCR.

- **Words read**: ground-truth word occurrences matched over all documents of a setting
  (``matched_words`` summed). Per 1,000 tokens: ``1000 * words read / tokens spent``,
  both summed over the documents (a ratio of sums, so a large document weighs by its
  size, as it does in a context window); per GFLOP likewise with encoder GFLOPs.
- A **setting** is a preset at its defaults or fitted to a budget
  (``plan(image, preset, max_tokens=B)``). A setting ranks only when it planned every
  document; otherwise it says on how many it cannot reach the budget and the fewest
  tokens it needs there.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any, Iterable, Sequence

RANKING_BUDGETS = (1024, 2048)
_FEWEST = re.compile(r"(?:smallest reachable count is|fewest reachable is) (\d+)")


def setting_of(record: dict) -> tuple[str, int | None] | None:
    """(preset, budget) of a default (budget None) or fitted record; None for others."""
    fit = record.get("fit")
    if fit is not None:
        return (fit["base"], fit["budget"]) if fit.get("how") == "fitted" else None
    if record.get("budget") is not None:
        return None  # the budget planner's own rows
    return record["preset"], None


def fewest_needed(error: str) -> int | None:
    """The fewest tokens a refusal names (``anyres.plan.fit``'s messages), if any."""
    m = _FEWEST.search(error or "")
    return int(m.group(1)) if m else None


def summarise(records: Iterable[dict]) -> dict[tuple[str, int | None], dict[str, Any]]:
    """Per (preset, budget) setting: documents, errors, words read, tokens, GFLOPs."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        key = setting_of(r)
        if key is not None:
            groups[key].append(r)
    out = {}
    for key, rs in groups.items():
        ok = [r for r in rs if r.get("recall") is not None]
        failed = [r for r in rs if r.get("recall") is None]
        row: dict[str, Any] = {
            "preset": key[0], "budget": key[1], "documents": len(rs), "failed": len(failed),
            "words": sum(r["words"] for r in rs),
        }
        if failed:
            needs = [fewest_needed(r.get("error", "")) for r in failed]
            row["needs"] = max((n for n in needs if n is not None), default=None)
            row["error"] = failed[0].get("error", "")
        if ok and not failed:
            read = sum(r["matched_words"] for r in ok)
            tokens = sum(r["tokens"] for r in ok)
            gflops = [r.get("encoder_gflops") for r in ok]
            row.update(read=read, tokens=tokens, recall=read / row["words"] if row["words"] else 1.0,
                       per_1k_tokens=1000 * read / tokens if tokens else None)
            if all(g is not None for g in gflops):
                row["gflops"] = sum(gflops)
                row["per_gflop"] = read / row["gflops"] if row["gflops"] else None
            row["specs"] = sorted({r.get("spec", r["preset"]) for r in ok})
            row["tower"] = next((r["tower"] for r in ok if r.get("tower")), None)
        out[key] = row
    return out


def ranking(records: Iterable[dict], budgets: Sequence[int] = RANKING_BUDGETS,
            metric: str = "per_1k_tokens") -> list[dict[str, Any]]:
    """One row per preset: its settings (defaults, then each budget) and their rank by
    ``metric`` (``per_1k_tokens`` or ``per_gflop``; 1 is best; unranked: cannot reach
    the budget or no value). Rows in order of the default setting's rank, then name."""
    table = summarise(records)
    presets = sorted({p for p, _ in table})
    keys = [None, *budgets]
    ranks: dict[tuple, int] = {}
    for b in keys:
        scored = sorted(((table[(p, b)][metric], p) for p in presets
                         if (p, b) in table and table[(p, b)].get(metric) is not None), key=lambda t: (-t[0], t[1]))
        for i, (_, p) in enumerate(scored):
            ranks[(p, b)] = i + 1
    rows = []
    for p in presets:
        rows.append({"preset": p, "settings": {b: {**table.get((p, b), {}), "rank": ranks.get((p, b))} for b in keys}})
    big = len(presets) + 1
    rows.sort(key=lambda r: (r["settings"][None]["rank"] or big, r["preset"]))
    return rows


def fitted_vs_naive(records: Iterable[dict]) -> list[dict[str, Any]]:
    """Per (preset, budget) with both runs: fitted and naive words read, recall, tokens,
    and the difference (fitted minus naive). Only documents both planned count."""
    pairs: dict[tuple, dict[str, dict[str, dict]]] = defaultdict(lambda: {"fitted": {}, "naive": {}})
    specs: dict[tuple, str] = {}
    for r in records:
        fit = r.get("fit")
        if fit is None or fit.get("how") not in ("fitted", "naive"):
            continue
        key = (fit["base"], fit["budget"])
        pairs[key][fit["how"]][(r["split"], r["image"])] = r
        if fit["how"] == "naive":
            specs[key] = r.get("spec") or r["preset"]
    rows = []
    for (base, budget), runs in sorted(pairs.items()):
        both = [k for k in runs["fitted"] if k in runs["naive"]
                and runs["fitted"][k].get("recall") is not None and runs["naive"][k].get("recall") is not None]
        if not both:
            continue
        row: dict[str, Any] = {"preset": base, "budget": budget, "naive_spec": specs.get((base, budget), ""),
                               "documents": len(both), "words": sum(runs["fitted"][k]["words"] for k in both)}
        for how in ("fitted", "naive"):
            rs = [runs[how][k] for k in both]
            row[how] = {"read": sum(r["matched_words"] for r in rs), "tokens": sum(r["tokens"] for r in rs),
                        "min_scale": sum(r["diagnostics"]["min_effective_scale"] for r in rs) / len(rs)}
            row[how]["recall"] = row[how]["read"] / row["words"] if row["words"] else 1.0
        row["more_words"] = row["fitted"]["read"] - row["naive"]["read"]
        row["recall_points"] = 100 * (row["fitted"]["recall"] - row["naive"]["recall"])
        row["verdict"] = "more" if row["more_words"] > 0 else "equal" if row["more_words"] == 0 else "fewer"
        rows.append(row)
    return rows


# --- Markdown ------------------------------------------------------------------------

def _setting_name(budget: int | None) -> str:
    return "defaults" if budget is None else f"fitted to {budget:,}"


def _cell(s: dict[str, Any], metric: str) -> str:
    if not s.get("documents"):
        return "-"
    if s.get("failed"):
        need = f"; fewest {s['needs']:,}" if s.get("needs") else ""
        return f"cannot reach on {s['failed']}/{s['documents']} docs{need}"
    value = s.get(metric)
    if value is None:
        return "no tower size"
    fmt = f"{value:.1f}" if metric == "per_1k_tokens" else f"{value:.3f}"
    spent = f"{s['tokens']:,} tok" if metric == "per_1k_tokens" else f"{s['gflops']:,.0f} GFLOPs"
    return f"**{fmt}** #{s['rank']} ({100 * s['recall']:.0f}%, {spent})"


def ranking_markdown(records: list[dict], budgets: Sequence[int] = RANKING_BUDGETS) -> str:
    lines = []
    for metric, title in (("per_1k_tokens", "words read per 1,000 visual tokens"),
                          ("per_gflop", "words read per encoder GFLOP")):
        rows = ranking(records, budgets, metric)
        head = ["preset"] + (["tower"] if metric == "per_gflop" else []) + [_setting_name(b) for b in (None, *budgets)]
        lines += [f"Ranked by {title} (#: rank within the column; in brackets: word recall, and the "
                  f"{'visual tokens' if metric == 'per_1k_tokens' else 'encoder GFLOPs'} of all the documents "
                  "together):", "",
                  "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in rows:
            tower = next((s["tower"] for s in r["settings"].values() if s.get("tower")), None)
            cells = [f"`{r['preset']}`"] + ([tower or "unknown"] if metric == "per_gflop" else [])
            cells += [_cell(r["settings"][b], metric) for b in (None, *budgets)]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def fitted_markdown(records: list[dict], always: Sequence[str] | None = None) -> str:
    """The fitted-against-naive table; with ``always``, only those presets' rows and the
    rows where the words read differ, then a line naming the presets read equally."""
    rows = fitted_vs_naive(records)
    equal: list[str] = []
    if always is not None:
        keep = [r for r in rows if r["preset"] in always or r["more_words"] != 0]
        equal = sorted({f"`{r['preset']}` ({r['budget']:,})" for r in rows if r not in keep})
        rows = keep
    lines = ["| preset | budget | naive cap (every image) | naive: words read, recall, tokens | "
             "fitted: words read, recall, tokens | fitted - naive |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        f, n = r["fitted"], r["naive"]
        lines.append(
            f"| `{r['preset']}` | {r['budget']:,} | `{r['naive_spec']}` | {n['read']:,} / {r['words']:,}, "
            f"{100 * n['recall']:.1f}%, {n['tokens']:,} | {f['read']:,} / {r['words']:,}, {100 * f['recall']:.1f}%, "
            f"{f['tokens']:,} | {r['more_words']:+,} words ({r['recall_points']:+.1f} points) |")
    if equal:
        lines += ["", "The same words read fitted and naive: " + ", ".join(equal) + "."]
    return "\n".join(lines) + "\n"

"""Write a benchmark's results: ``results.json``, ``report.md`` and ``pareto.png``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .summary import by_category, by_preset, comparison, splits


def pareto_plot(records: list[dict], path: str | Path, title: str = "Legibility against tokens") -> None:
    """Mean tokens against mean word recall: one point per preset, a line per split
    through the budget planner's points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = splits(records)
    fig, axes = plt.subplots(1, len(names), figsize=(7.5 * len(names), 5.5), squeeze=False)
    for ax, split in zip(axes[0], names):
        rows = [r for r in by_preset(records, split) if "recall" in r]
        presets = [r for r in rows if r["budget"] is None]
        budget = sorted((r for r in rows if r["budget"] is not None), key=lambda r: r["budget"])
        for r in presets:
            ax.scatter(r["tokens"], r["recall"], s=36, color="tab:blue", zorder=3)
            ax.annotate(r["preset"], (r["tokens"], r["recall"]), fontsize=7, xytext=(4, -3), textcoords="offset points")
        if budget:
            ax.plot([r["tokens"] for r in budget], [r["recall"] for r in budget], "-o", color="tab:red",
                    zorder=4, label="budget planner")
            for r in budget:
                ax.annotate(f"≤{r['budget']}", (r["tokens"], r["recall"]), fontsize=7, color="tab:red",
                            xytext=(4, 5), textcoords="offset points")
            ax.legend(loc="lower right", fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel("visual tokens (mean over documents)")
        ax.set_ylabel("word recall (mean)")
        ax.set_title(f"{title}: {split} ({presets[0]['images'] if presets else 0} documents)")
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _pct(v: Any) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def markdown(records: list[dict], budgets: list[int], meta: dict[str, Any]) -> str:
    lines = ["# Legibility benchmark", ""]
    lines += [f"- {k}: {v}" for k, v in meta.items()]
    lines += ["", "Word recall (%) of the text drawn on each document, read by OCR from the views exactly "
              "as the encoder receives them, pooled over an image's views. CER: character error rate "
              "(substitutions + deletions + insertions over ground-truth characters; see "
              "`anyres.eval.metrics`).", ""]
    if budgets:
        lines += ["## Budget planner against the presets", "",
                  "Best preset: the highest mean recall among presets (default parameters) whose token "
                  "count fits the budget on every document of the split. Oracle: per document, the best "
                  "recall of any preset that fits there (information only).", "",
                  "| split | budget | best preset | its recall | planner recall | planner tokens | oracle | verdict |",
                  "|---|---|---|---|---|---|---|---|"]
        for split in splits(records):
            for b in budgets:
                c = comparison(records, split, b)
                lines.append(
                    f"| {split} | {b} | {c.get('best_preset', '(none fits)')} | {_pct(c.get('best_recall'))} | "
                    f"{_pct(c.get('planner'))} | {c.get('planner_tokens', 0):.0f} | {_pct(c.get('oracle'))} | "
                    f"{c.get('verdict', '-')} |"
                )
        lines.append("")
    for split in splits(records):
        lines += [f"## All plans, {split} split", "",
                  "| preset | budget | tokens (mean) | tokens (max) | views | min scale | recall | CER | errors |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in by_preset(records, split):
            if "recall" not in r:
                lines.append(f"| {r['preset']} | {r['budget'] or ''} | - | - | - | - | - | - | {r['errors']} |")
                continue
            lines.append(
                f"| {r['preset']} | {r['budget'] or ''} | {r['tokens']:.0f} | {r['max_tokens']} | {r['views']:.1f} | "
                f"{r['min_scale']:.2f} | {_pct(r['recall'])} | {_pct(r['cer'])} | {r['errors']} |"
            )
        specs = [(r["preset"], r["budget"]) for r in by_preset(records, split)]
        cats, table = by_category(records, split, specs)
        lines += ["", f"Recall (%) per category, {split} split:", "",
                  "| preset | " + " | ".join(cats) + " |", "|---|" + "---|" * len(cats)]
        for row in table:
            lines.append(f"| {row[0]} | " + " | ".join(_pct(v) for v in row[1:]) + " |")
        lines.append("")
    lines += ["![tokens against recall](pareto.png)", ""]
    return "\n".join(lines)


def write_results(out: str | Path, records: list[dict], budgets: list[int], meta: dict[str, Any]) -> dict[str, Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    comparisons = [comparison(records, s, b) for s in splits(records) for b in budgets]
    paths = {"results": out / "results.json", "report": out / "report.md", "pareto": out / "pareto.png"}
    paths["results"].write_text(json.dumps({"meta": meta, "comparisons": comparisons, "records": records}, indent=1))
    paths["report"].write_text(markdown(records, budgets, meta))
    pareto_plot(records, paths["pareto"])
    return paths

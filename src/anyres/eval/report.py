"""Write a benchmark's results: ``results.json``, ``report.md``, ``pareto.png`` and
``cost.png`` (recall against encoder GFLOPs and against tokens)."""

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


KIND_STYLE = {"preset": ("tab:blue", "o"), "fitted": ("tab:green", "s"), "naive": ("tab:orange", "v"),
              "planner": ("tab:red", "D")}


def kind_of(record: dict) -> str:
    if record.get("fit"):
        return record["fit"].get("how", "fitted")
    return "planner" if record.get("budget") is not None else "preset"


def cost_points(records: list[dict]) -> list[dict[str, Any]]:
    """One point per run label that planned every document: mean tokens, mean encoder
    GFLOPs (None when the tower is unknown), word recall over all words (read / drawn),
    its kind. A run refused on some document (a budget it cannot reach) has no point:
    its mean over the others would not be comparable."""
    groups: dict[str, list[dict]] = {}
    for r in records:
        groups.setdefault(r["preset"], []).append(r)
    points = []
    for label, rs in groups.items():
        if any(r.get("recall") is None for r in rs):
            continue
        gflops = [r.get("encoder_gflops") for r in rs]
        words = sum(r["words"] for r in rs)
        points.append({
            "label": label, "kind": kind_of(rs[0]), "base": (rs[0].get("fit") or {}).get("base", label), "budget": (rs[0].get("fit") or {}).get("budget") or rs[0]["budget"],
            "tokens": sum(r["tokens"] for r in rs) / len(rs),
            "gflops": None if any(g is None for g in gflops) else sum(gflops) / len(rs),
            "recall": sum(r.get("matched_words", r["recall"] * r["words"]) for r in rs) / words if words else 1.0,
        })
    return points


def cost_plot(records: list[dict], path: str | Path, title: str = "Legibility against cost") -> None:
    """Word recall against mean encoder GFLOPs (left) and mean visual tokens (right):
    presets at their defaults (blue, labelled), fitted to a budget (green; drawn only
    where the fit changed the plan, joined to its defaults by a grey line), capped
    naively (orange), the budget planner (red)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = cost_points(records)
    default = {p["label"]: p for p in points if p["kind"] == "preset"}
    shown = [p for p in points if not (p["kind"] == "fitted" and p["base"] in default
                                       and (p["tokens"], p["recall"]) == (default[p["base"]]["tokens"],
                                                                         default[p["base"]]["recall"]))]
    names = {"preset": "defaults", "fitted": "fitted (max_tokens=B)", "naive": "naive cap", "planner": "budget planner"}
    fig, axes = plt.subplots(1, 2, figsize=(15, 7))
    for ax, key, xlabel in ((axes[0], "gflops", "encoder GFLOPs per image (mean; the preset's own tower)"),
                            (axes[1], "tokens", "visual tokens per image (mean)")):
        for base in default:
            chain = sorted((p for p in shown if p["base"] == base and p["kind"] in ("preset", "fitted") and p[key]),
                           key=lambda p: p[key])
            if len(chain) > 1:
                ax.plot([p[key] for p in chain], [p["recall"] for p in chain], color="0.75", lw=0.8, zorder=1)
        for kind in ("naive", "fitted", "planner", "preset"):
            color, marker = KIND_STYLE[kind]
            pts = [p for p in shown if p["kind"] == kind and p[key]]
            if not pts:
                continue
            ax.scatter([p[key] for p in pts], [p["recall"] for p in pts], s=28, color=color, marker=marker,
                       label=names[kind], zorder=3, alpha=0.85)
            for p in pts:
                if kind == "naive":
                    continue
                text = p["label"] if kind == "preset" else f"≤{p['budget']}"
                ax.annotate(text, (p[key], p["recall"]), fontsize=6 if kind == "preset" else 5, color=color,
                            xytext=(3, -3 if kind == "preset" else 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("word recall (words read / words drawn, all documents)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    missing = sorted(p["label"] for p in default.values() if p["gflops"] is None)
    axes[0].set_title("Recall against encoder GFLOPs" + (f"\n(tower unknown, not drawn: {', '.join(missing)})"
                                                         if missing else ""), fontsize=9)
    axes[1].set_title("Recall against visual tokens", fontsize=9)
    fig.suptitle(title)
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
    if any(r.get("fit") for r in records):
        from .ranking import fitted_markdown

        lines += ["## Fitted against naive", "",
                  "The model's own preset kept within each budget two ways: fitted per image "
                  "(`plan(image, preset, max_tokens=B)`) and capped once for every image (the largest knob value "
                  "whose worst case fits B; `anyres.eval.fitted`). Words read summed over the documents both "
                  "planned.", "", fitted_markdown(records)]
    lines += ["![tokens against recall](pareto.png)", "", "![recall against GFLOPs and tokens](cost.png)", ""]
    return "\n".join(lines)


def write_results(out: str | Path, records: list[dict], budgets: list[int], meta: dict[str, Any]) -> dict[str, Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    comparisons = [comparison(records, s, b) for s in splits(records) for b in budgets]
    paths = {"results": out / "results.json", "report": out / "report.md", "pareto": out / "pareto.png",
             "cost": out / "cost.png"}
    paths["results"].write_text(json.dumps({"meta": meta, "comparisons": comparisons, "records": records}, indent=1))
    paths["report"].write_text(markdown(records, budgets, meta))
    pareto_plot(records, paths["pareto"])
    cost_plot(records, paths["cost"])
    return paths

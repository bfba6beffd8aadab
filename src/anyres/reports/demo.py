"""``anyres demo``: the main job on the built-in samples."""

from __future__ import annotations

import json
import time
from pathlib import Path

SHOW_PRESETS = ("llava-next", "llava-onevision", "internvl", "qwen2-vl", "idefics3", "minicpm-v", "gpt4v")
# the legibility part: three generated documents (a receipt, a page, a table), a few
# presets and the budget planner at two budgets; 2-4 minutes on 2 cores without the cache
LEGIBILITY_DOCS = 3
LEGIBILITY_PRESETS = ("fixed", "llava-next", "internvl", "qwen2-vl", "minicpm-v")
LEGIBILITY_BUDGETS = (576, 2304)


def run_legibility_demo(out: Path) -> dict | None:
    """OCR word recall of what the encoder sees, per preset and budget; None (with a
    message) when the OCR reader is not installed."""
    from ..eval.documents import generated
    from ..eval.legibility import run_legibility
    from ..eval.readers import ReaderError, _rapidocr

    try:
        _rapidocr()
    except ReaderError as exc:
        print(f"legibility report skipped: {exc}")
        return None
    docs = list(generated(LEGIBILITY_DOCS, "dev"))
    print(f"\nlegibility: {len(docs)} generated documents x {len(LEGIBILITY_PRESETS) + len(LEGIBILITY_BUDGETS)} plans, "
          "read by OCR (cached in ~/.cache/anyres/ocr)")
    # no fitted/naive runs here (they would double the OCR); the cost plot comes free
    return run_legibility(out, LEGIBILITY_PRESETS, LEGIBILITY_BUDGETS, images=LEGIBILITY_DOCS, splits=("dev",),
                          fitted=())


def run_demo(out: Path, legibility: bool = True) -> dict:
    from .compare import compare, format_table
    from ..plan import plan, presets
    from .plots import plot_tokens_vs_size
    from .samples import SAMPLES, render_sample
    from .viz import render_plan

    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    report = ["# anyres demo: every preset on the built-in samples", ""]
    summary: dict = {}
    for sample in SAMPLES:
        image, words = render_sample(sample)
        image.save(out / f"{sample.name}.png")
        rows = compare(image, presets())
        summary[sample.name] = {r["preset"]: r.get("tokens") for r in rows}
        report += [f"## {sample.name} ({sample.width}x{sample.height}, {len(words)} words)", ""]
        report += [format_table(rows, markdown=True), ""]
        print(f"\n{sample.name} {sample.width}x{sample.height}")
        print(format_table(rows))
        for spec in SHOW_PRESETS:
            p = plan(image, spec)
            render_plan(image, p, max_side=900).save(out / f"show_{sample.name}_{spec}.png")
        report.append(" ".join(f"![{s}](show_{sample.name}_{s}.png)" for s in SHOW_PRESETS))
        report.append("")
    page = SAMPLES[1]
    from ..plan import Size

    plot_tokens_vs_size(None, Size(page.width, page.height), str(out / "tokens_vs_size.png"))
    report += ["## Tokens against image size (A4 aspect ratio)", "", "![tokens](tokens_vs_size.png)", ""]
    if legibility:
        result = run_legibility_demo(out / "legibility")
        if result is not None:
            report += ["## Legibility: how much text survives in the views", "",
                       "Word recall of OCR reading each plan's views as the encoder receives them, on three "
                       "generated documents ([full report](legibility/report.md)); the red line is the budget "
                       "planner.", "", "![legibility](legibility/pareto.png)", "",
                       "Recall against encoder GFLOPs (each preset's own tower) and against tokens:", "",
                       "![cost](legibility/cost.png)", ""]
            summary["legibility"] = result["meta"]
    (out / "report.md").write_text("\n".join(report))
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"\nwrote {out}/report.md, {len(list(out.glob('show_*.png')))} show pictures and "
          f"tokens_vs_size.png in {time.perf_counter() - start:.1f} s")
    return summary

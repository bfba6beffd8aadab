"""``anyres demo``: the main job on the built-in samples."""

from __future__ import annotations

import json
import time
from pathlib import Path

SHOW_PRESETS = ("llava-next", "llava-onevision", "internvl", "qwen2-vl", "idefics3", "minicpm-v", "gpt4v")


def run_demo(out: Path) -> dict:
    from .compare import compare, format_table
    from .plan import plan, presets
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
    from .plan import Size

    plot_tokens_vs_size(None, Size(page.width, page.height), str(out / "tokens_vs_size.png"))
    report += ["## Tokens against image size (A4 aspect ratio)", "", "![tokens](tokens_vs_size.png)", ""]
    (out / "report.md").write_text("\n".join(report))
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"\nwrote {out}/report.md, {len(list(out.glob('show_*.png')))} show pictures and "
          f"tokens_vs_size.png in {time.perf_counter() - start:.1f} s")
    return summary

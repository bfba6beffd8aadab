"""Generated sections of the README (kept true by a test): the preset table, compare and cost tables,
the family coverage table, and the legibility ranking and fitted-against-naive tables (from the
committed ``docs/results/legibility_ranking.json``)."""

from __future__ import annotations

import re
from pathlib import Path

from .compare import compare, format_table
from ..plan import get_preset, plan, presets

SIZES = ((1000, 600), (1240, 1754))


def _defaults(name: str) -> str:
    preset = get_preset(name)
    parts = []
    for key, value in preset.resolved().items():
        if key.endswith("_token") or key == "image_id":
            continue
        if isinstance(value, tuple) and value and isinstance(value[0], tuple):
            value = f"{len(value)} pairs"
        elif isinstance(value, tuple):
            value = ",".join(str(v) for v in value)
        parts.append(f"{key}={value}")
    return ", ".join(parts)


def preset_table() -> str:
    head = "| preset | strategy | reference | defaults | tokens 1000x600 | tokens 1240x1754 |"
    lines = [head, "|---|---|---|---|---|---|"]
    for name in presets():
        p = get_preset(name)
        counts = []
        for size in SIZES:
            pl = plan(size, name)
            extra = f" ({len(pl.layout)} in prompt)" if len(pl.layout) != pl.num_tokens else ""
            counts.append(f"{pl.num_tokens}{extra}")
        lines.append(f"| `{name}` | {p.description} | {p.reference} | {_defaults(name)} | {counts[0]} | {counts[1]} |")
    return "\n".join(lines)


def compare_table() -> str:
    return "```\n$ anyres compare --size 1240x1754\n" + format_table(compare((1240, 1754))) + "\n```"


COST_SIZE = (1344, 1344)  # the seed's example: one 1344 px view against tiles
COST_SPECS = ("llava-next", "llava-next+pool(2)", "internvl", "internvl+visionzip(keep=64)", "qwen2.5-vl")
FITTED_SPECS = ("qwen2.5-vl", "internvl", "minicpm-v", "idefics3", "llava-next+pool(2)", "internvl+visionzip(keep=64)")


def _cost_command(specs, extra: str = "") -> str:
    from .compare import COLUMNS, COST_COLUMNS

    w, h = COST_SIZE
    fit = {"max_tokens": int(extra.split()[-1])} if extra else {}
    rows = compare(COST_SIZE, specs, encoder="auto", llm="auto", context=8192, **fit)
    command = (f"$ anyres compare --size {w}x{h} --presets {','.join(specs)} --encoder-size auto --llm-size auto "
               f"--context 8192{extra}")
    return "```\n" + command + "\n" + format_table(rows, COLUMNS[:4] + COLUMNS[7:8] + COST_COLUMNS) + "\n```"


def cost_table() -> str:
    return _cost_command(COST_SPECS)


def fitted_table() -> str:
    return _cost_command(FITTED_SPECS, " --max-tokens 1024")


RANKING_FILE = Path(__file__).resolve().parents[3] / "docs" / "results" / "legibility_ranking.json"


def _ranking_results() -> tuple[dict, list[dict]] | None:
    import json

    if not RANKING_FILE.is_file():
        return None
    data = json.loads(RANKING_FILE.read_text())
    return data["meta"], data["records"]


def ranking_table() -> str:
    """Every preset ranked by words read per 1,000 tokens and per GFLOP, from the
    committed results of ``anyres eval ranking`` (no OCR here)."""
    from ..eval.ranking import ranking_markdown

    results = _ranking_results()
    if results is None:
        return "(no results: run `anyres eval ranking --out docs/results`)"
    meta, records = results
    missing = [p for p in presets() if p not in meta["presets"]]
    note = (f"\nNot measured yet (added after the run; rerun the command): {', '.join(f'`{p}`' for p in missing)}.\n"
            if missing else "")
    return (f"Documents: {meta['documents']}; reader: {meta['reader']}.\n\n"
            + ranking_markdown(records, meta["budgets"]) + note)


def fitnaive_table() -> str:
    from ..eval.ranking import fitted_markdown

    results = _ranking_results()
    if results is None:
        return "(no results: run `anyres eval ranking --out docs/results`)"
    return fitted_markdown(results[1], always=("qwen2.5-vl", "internvl"))


def coverage_table() -> str:
    from .coverage import coverage_table as table

    return table()


def hf_upstream_table() -> str:
    from .hf_upstream import readme_table

    return readme_table()


SECTIONS = {"presets": preset_table, "compare": compare_table, "coverage": coverage_table, "cost": cost_table,
            "fitted": fitted_table, "ranking": ranking_table, "fitnaive": fitnaive_table,
            "hf_upstream": hf_upstream_table}


def render(text: str) -> str:
    for key, fn in SECTIONS.items():
        pattern = re.compile(rf"(<!-- {key}:start -->\n).*?(<!-- {key}:end -->)", re.S)
        text = pattern.sub(lambda m: m.group(1) + fn() + "\n" + m.group(2), text)
    return text


def update(path: str | Path = "README.md") -> bool:
    path = Path(path)
    old = path.read_text()
    new = render(old)
    if new != old:
        path.write_text(new)
    return new != old


if __name__ == "__main__":
    print("README updated" if update() else "README up to date")

"""Side-by-side cost and fidelity of presets for one image (pure Python)."""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from ..errors import AnyresError
from ..plan import Plan, image_size, plan, presets

COLUMNS = (
    ("preset", "preset"),
    ("views", "views"),
    ("grid", "grid"),
    ("tokens", "tokens"),
    ("layout", "layout"),
    ("padding", "pad %"),
    ("distortion", "distortion"),
    ("min_scale", "min scale"),
    ("coverage", "coverage %"),
    ("overlap", "overlap %"),
)


def compare_row(p: Plan) -> dict[str, Any]:
    d = p.diagnostics
    return {
        "preset": p.spec,
        "views": len(p.views),
        "grid": f"{p.grid[0]}x{p.grid[1]}" if p.grid else "-",
        "tokens": p.num_tokens,
        "layout": len(p.layout),
        "padding": round(100 * d.padding_fraction, 1),
        "distortion": round(d.distortion, 3),
        "min_scale": round(d.min_effective_scale, 3),
        "coverage": round(100 * d.coverage, 1),
        "overlap": round(100 * d.overlap, 1),
    }


def compare(image_or_size: Any, specs: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """One row per preset; a preset that cannot serve the size gets its error instead."""
    size = image_size(image_or_size)
    rows = []
    for spec in specs or presets():
        try:
            rows.append(compare_row(plan(size, spec)))
        except AnyresError as exc:
            rows.append({"preset": spec, "error": str(exc)})
    return rows


def format_table(rows: Sequence[dict[str, Any]], columns=COLUMNS, markdown: bool = False) -> str:
    """A fixed-width (or Markdown) table; rows with an ``error`` show it across."""
    header = [title for _, title in columns]
    body = []
    for r in rows:
        if "error" in r:
            body.append([str(r["preset"]), "error: " + r["error"]] + [""] * (len(columns) - 2))
        else:
            body.append([str(r.get(key, "")) for key, _ in columns])
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines)
    widths = [max([len(h)] + [len(row[i]) for row in body if "error:" not in row[1] or i == 0]) for i, h in enumerate(header)]
    fmt = lambda row: "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))  # noqa: E731
    lines = [fmt(header), "  ".join("-" * w for w in widths)]
    for row in body:
        lines.append(f"{row[0].ljust(widths[0])}  {row[1]}" if row[1].startswith("error:") else fmt(row))
    return "\n".join(lines)

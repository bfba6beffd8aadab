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
# added when the caller names an encoder size, a language-model size or a context
COST_COLUMNS = (
    ("encoder_gflops", "enc GFLOPs"),
    ("gflops", "GFLOPs"),
    ("kv_mb", "KV MB"),
    ("context", "context %"),
)


def compare_row(p: Plan, encoder: Any = None, llm: Any = None, context: int | None = None,
                dtype: str = "bfloat16") -> dict[str, Any]:
    d = p.diagnostics
    row = {
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
    if encoder is not None or llm is not None or context is not None:
        c = p.cost(encoder, llm, context, dtype)
        row["encoder_gflops"] = round(c.encoder_flops.total / 1e9, 1) if encoder is not None else "-"
        row["gflops"] = round(c.total_flops / 1e9, 1) if encoder is not None or llm is not None else "-"
        row["kv_mb"] = round(c.kv_cache_bytes / 2**20, 1) if llm is not None else "-"
        row["context"] = round(100 * c.context_share, 1) if context is not None else "-"
    return row


def compare(image_or_size: Any, specs: Iterable[str] | None = None, *, encoder: Any = None, llm: Any = None,
            context: int | None = None, dtype: str = "bfloat16", max_tokens: int | None = None) -> list[dict[str, Any]]:
    """One row per preset; a preset that cannot serve the size gets its error instead.
    With an ``encoder`` / ``llm`` size (a name of ``anyres.plan.sizes``, a config or a
    folder) or a ``context`` length, each row also has its cost (``COST_COLUMNS``:
    encoder GFLOPs, encoder + connector + prefill GFLOPs, KV-cache MB at ``dtype``, the
    share of ``context``). ``max_tokens``: each preset's own size knob fitted to that
    budget (``anyres.plan.fit``; the row's spec names the value chosen)."""
    size = image_size(image_or_size)
    rows = []
    fit = {} if max_tokens is None else {"max_tokens": max_tokens}
    for spec in specs or presets():
        try:
            rows.append(compare_row(plan(size, spec, **fit), encoder, llm, context, dtype))
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

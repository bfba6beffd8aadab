"""The README's table of transformers' own image-processor tests run with
``AnyresImageProcessor`` swapped in (``tests/hf_upstream/harness.py`` writes the results)."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[3] / "tests" / "hf_upstream" / "results.json"


def table(results: dict[str, dict]) -> str:
    """Per test file: tests, passed by the reference, passed by anyres, skipped on both sides,
    failed on both, failed only with anyres."""
    rows = ["| transformers test file | preset | tests | pass (reference) | pass (anyres) | skipped (both) "
            "| fail (both) | fail only with anyres |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    total = [0] * 6
    for folder, r in sorted(results.items()):
        counts = [r["tests"], r["passed_reference"], r["passed_anyres"], r["skipped_both"], r["failed_both"],
                  len(r["failed_only_anyres"])]
        total = [a + b for a, b in zip(total, counts)]
        rows.append(f"| `{folder}/test_image_processing_{folder}.py` | `{r.get('preset', '?')}` | "
                    + " | ".join(str(c) for c in counts) + " |")
    rows.append("| all | | " + " | ".join(f"**{c}**" for c in total) + " |")
    return "\n".join(rows)


def readme_table(path: Path = RESULTS) -> str:
    if not path.is_file():
        return "(no results: run `tests/hf_upstream/harness.py`)"
    return table(json.loads(path.read_text()))

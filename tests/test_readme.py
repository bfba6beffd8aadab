"""The README's first lines are the two set-up commands and its tables are current."""

from __future__ import annotations

from pathlib import Path

from anyres.reports import readme

ROOT = Path(__file__).resolve().parents[1]


def test_readme_opens_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    block = text.split("```bash\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert [line.split("#")[0].strip() for line in block] == ["bash scripts/demo.sh", "bash scripts/test.sh"]
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_readme_tables_are_generated_and_current():
    text = (ROOT / "README.md").read_text()
    assert readme.render(text) == text, "README tables are stale: run python -m anyres.reports.readme"
    assert "| `llava-next` |" in text and "$ anyres compare" in text


def test_the_ranking_tables_are_generated_from_the_committed_results():
    import json

    from anyres.plan import presets

    data = json.loads(readme.RANKING_FILE.read_text())
    meta, records = data["meta"], data["records"]
    assert readme.RANKING_FILE == ROOT / "docs" / "results" / "legibility_ranking.json"
    known = set(presets())
    assert meta["presets"] and set(meta["presets"]) <= known
    # each preset of the run has its defaults and each budget's fit on every document
    documents = {r["image"] for r in records}
    for name in meta["presets"]:
        for label in [name] + [f"{name}, max_tokens={b}" for b in meta["budgets"]]:
            assert {r["image"] for r in records if r["preset"] == label} == documents, label
    text = (ROOT / "README.md").read_text()
    table = readme.ranking_table()
    assert table in text and readme.fitnaive_table() in text
    for name in meta["presets"]:
        assert table.count(f"| `{name}` |") == 2  # ranked by tokens and by GFLOPs
    # a preset added after the run is named as not measured, never silently missing
    assert all(f"`{p}`" in table for p in known)

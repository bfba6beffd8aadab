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

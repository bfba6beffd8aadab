"""``python -m anyres`` is the ``anyres`` command: same output, same exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anyres

SRC = str(Path(__file__).resolve().parents[1] / "src")


def python_m_anyres(*argv: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "anyres", *argv], capture_output=True, text=True, env=env, timeout=120)


def test_python_m_anyres_plans_like_the_script():
    done = python_m_anyres("plan", "--size", "1000x600", "--preset", "llava-next", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["num_tokens"] == anyres.plan((1000, 600), "llava-next").num_tokens


def test_python_m_anyres_reports_errors_with_the_scripts_exit_code():
    done = python_m_anyres("plan", "--size", "10x10", "--preset", "nope")
    assert done.returncode == 2 and "unknown preset" in done.stderr and "Traceback" not in done.stderr

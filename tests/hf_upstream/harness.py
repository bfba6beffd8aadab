"""Runs transformers' own image-processor test files twice, as they are and with
``AnyresImageProcessor`` swapped in, and tabulates the outcomes (``python -m`` or ``run_all``).

The files are not in this repository (README.md says where they come from and how to lay them
out); ``ANYRES_HF_UPSTREAM_DIR`` names their root, by default ``tests/hf_upstream/vendor``.
Each run is one pytest subprocess (``anyres_hf_upstream_plugin`` does the swap), its outcomes
read back from a JUnit XML report.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
RESULTS = pathlib.Path(os.environ.get("ANYRES_HF_UPSTREAM_RESULTS", HERE / "results.json"))

# transformers test folder -> the anyres preset whose drop-in stands in for its PIL class
FAMILIES: dict[str, str] = {
    "llava_next": "llava-next",
    "llava_onevision": "llava-onevision",
    "qwen2_vl": "qwen2-vl",
    "got_ocr2": "internvl",
    "idefics3": "idefics3",
    "smolvlm": "smolvlm",
    "idefics2": "idefics2",
    "siglip2": "siglip2",
    "aria": "aria",
    "gemma3": "gemma3",
    "pixtral": "pixtral",
    "mllama": "mllama",
    "glm4v": "glm4v",
    "gemma4": "gemma4",
    "ovis2": "ovis2",
    "minicpmv4_6": "minicpm-v-4.6",
    "hunyuan_vl": "hunyuan-vl",
    "deepseek_ocr2": "deepseek-ocr2",
    "deepseek_vl": "deepseek-vl",
    "janus": "janus",
    "paddleocr_vl": "paddleocr-vl",
}


def recorded() -> dict[str, dict]:
    """The committed results (``results.json``): per family, each test's outcome on both sides."""
    return json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}


# Why a test that passes with the reference fails with anyres: the refusal (SpecError) and what
# supporting it would take.
REASONS: dict[str, dict[str, str]] = {}


def vendor_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("ANYRES_HF_UPSTREAM_DIR", HERE / "vendor")).resolve()


def test_file(folder: str, root: pathlib.Path | None = None) -> pathlib.Path:
    return (root or vendor_dir()) / "tests" / "models" / folder / f"test_image_processing_{folder}.py"


def available() -> list[str]:
    """The families whose test file is laid out under the vendor root."""
    root = vendor_dir()
    if not (root / "tests" / "test_image_processing_common.py").is_file():
        return []
    return [f for f in FAMILIES if test_file(f, root).is_file()]


# anyres' max_views limit (256) bounds the views of a spec's worst case; the files' toy LLaVA sizes
# (18-20 px tiles of pinpoints up to 2304 px) imply up to 13,457 views of 20 px (a 400 px test image
# gets 1,522), which the reference makes without a limit. Raised for both sides (the environment
# variable anyres documents for it), to the next power of two above that worst case.
TEST_MAX_VIEWS = 16384


def run(folder: str, mode: str, timeout: float = 900, messages: dict | None = None) -> dict[str, str]:
    """{test id: passed | failed | skipped} for one file in one mode (``messages``: filled with
    each failure's message)."""
    root = vendor_dir()
    for package in (root / "tests" / "models" / folder, root / "tests" / "models", root / "tests"):
        (package / "__init__.py").touch()
    env = {**os.environ, "ANYRES_HF_UPSTREAM_MODE": mode, "ANYRES_HF_UPSTREAM_PRESET": FAMILIES[folder],
           "PYTHONPATH": os.pathsep.join([str(HERE), str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
           "TRANSFORMERS_VERBOSITY": "error", "HF_HUB_OFFLINE": "1",
           "ANYRES_MAX_VIEWS": os.environ.get("ANYRES_MAX_VIEWS", str(TEST_MAX_VIEWS))}
    with tempfile.TemporaryDirectory() as tmp:
        report = pathlib.Path(tmp) / "report.xml"
        ini = pathlib.Path(tmp) / "pytest.ini"
        ini.write_text("[pytest]\n")
        cmd = [sys.executable, "-m", "pytest", str(test_file(folder, root)), "-c", str(ini), "--rootdir", str(root),
               "--confcutdir", str(root), "-p", "anyres_hf_upstream_plugin", "-p", "no:cacheprovider", "-q",
               "-W", "ignore", f"--junitxml={report}"]
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
        if not report.is_file():
            raise RuntimeError(f"pytest produced no report for {folder} ({mode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return _outcomes(report, messages)


def _outcomes(report: pathlib.Path, messages: dict | None = None) -> dict[str, str]:
    out = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        tags = {child.tag for child in case}
        out[name] = "failed" if tags & {"failure", "error"} else "skipped" if "skipped" in tags else "passed"
        for child in case:
            if messages is not None and child.tag in ("failure", "error"):
                messages[name] = (child.get("message") or "").splitlines()[0][:300] if child.get("message") else ""
    return out


def compare(reference: dict[str, str], anyres: dict[str, str]) -> dict:
    """Counts and the tests that pass with the reference but not with anyres."""
    names = sorted(set(reference) | set(anyres))
    only_ref = [n for n in names if reference.get(n) == "passed" and anyres.get(n) != "passed"]
    return {
        "tests": len(names),
        "passed_reference": sum(v == "passed" for v in reference.values()),
        "passed_anyres": sum(v == "passed" for v in anyres.values()),
        "skipped_both": sum(reference.get(n) == "skipped" and anyres.get(n) == "skipped" for n in names),
        "failed_both": sum(reference.get(n) == "failed" and anyres.get(n) == "failed" for n in names),
        "failed_only_anyres": only_ref,
        "passed_only_anyres": [n for n in names if anyres.get(n) == "passed" and reference.get(n) != "passed"],
        "reference": reference,
        "anyres": anyres,
    }


def run_all(folders: list[str] | None = None) -> dict[str, dict]:
    out = {}
    for folder in folders or available():
        messages: dict[str, str] = {}
        result = compare(run(folder, "reference"), run(folder, "anyres", messages=messages))
        result["anyres_messages"] = {n: messages.get(n, "") for n in result["failed_only_anyres"]}
        out[folder] = {"preset": FAMILIES[folder], **result}
    return out


def table(results: dict[str, dict]) -> str:
    from anyres.reports.hf_upstream import table as render

    return render(results)


def main(argv: list[str]) -> int:
    folders = argv or available()
    if not folders:
        print(f"no vendored transformers test files under {vendor_dir()} (see {HERE / 'README.md'})")
        return 2
    results = run_all(folders)
    merged = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    merged.update({f: {k: v for k, v in r.items()} for f, r in results.items()})
    RESULTS.write_text(json.dumps(dict(sorted(merged.items())), indent=1, sort_keys=True) + "\n")
    print(table(results))
    for folder, r in results.items():
        for name in r["failed_only_anyres"]:
            print(f"FAIL only with anyres: {folder} {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

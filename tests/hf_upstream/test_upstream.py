"""transformers' own image-processor test files, run as they are and with AnyresImageProcessor
swapped in (harness.py): anyres must pass every test the reference passes, apart from those
results.json records as failing only with anyres (each with its reason in README.md).

Needs the files laid out (README.md) and ``ANYRES_HF_UPSTREAM=1``: the whole run takes about
10 minutes on 2 busy cores, so it is out of the default suite. The checks that need neither
run always."""

from __future__ import annotations

import json
import os

import pytest

from . import harness

RUN = os.environ.get("ANYRES_HF_UPSTREAM") == "1"
FOLDERS = harness.available() if RUN else []


@pytest.mark.slow
@pytest.mark.skipif(not FOLDERS, reason="set ANYRES_HF_UPSTREAM=1 with transformers' test files laid out "
                                        "(tests/hf_upstream/README.md)")
@pytest.mark.parametrize("folder", FOLDERS or ["-"])
def test_anyres_passes_what_the_reference_passes(folder):
    recorded = harness.recorded().get(folder, {}).get("failed_only_anyres", [])
    result = harness.compare(harness.run(folder, "reference"), harness.run(folder, "anyres"))
    new = sorted(set(result["failed_only_anyres"]) - set(recorded))
    assert not new, f"{folder}: passes with the reference, fails with AnyresImageProcessor: {new}"


def test_results_cover_every_family_and_add_up():
    results = harness.recorded()
    assert set(results) <= set(harness.FAMILIES)
    assert len(results) >= 10
    for folder, r in results.items():
        names = set(r["reference"]) | set(r["anyres"])
        assert r["tests"] == len(names), folder
        assert r["passed_reference"] == sum(v == "passed" for v in r["reference"].values()), folder
        only = [n for n in sorted(names) if r["reference"].get(n) == "passed" and r["anyres"].get(n) != "passed"]
        assert r["failed_only_anyres"] == only, folder
        assert set(r["failed_only_anyres"]) <= set(harness.REASONS.get(folder, {})), (
            f"{folder}: a test failing only with anyres has no recorded reason: "
            f"{sorted(set(r['failed_only_anyres']) - set(harness.REASONS.get(folder, {})))}")


def test_sources_record_a_checksum_for_every_file():
    sources = json.loads((harness.HERE / "sources.json").read_text())
    files = {k: v for k, v in sources.items() if not k.startswith("_")}
    for folder in harness.recorded():
        key = f"tests/models/{folder}/test_image_processing_{folder}.py"
        assert key in files and len(files[key]["sha256"]) == 64, key

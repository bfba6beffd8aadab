"""Differential test: random sizes, modes (RGB, RGBA, L, P, I;16), EXIF orientation tags,
flat and nested batches of mixed sizes, constructor and call keyword arguments, for every
family; AnyresImageProcessor and the reference class (loaded from the drop-in's own
config) give the same outcome: the same keys, shapes, dtypes and values, or both refuse.

The one tolerated difference is anyres' documented refusal of images the reference keeps
with other than 3 channels where anyres cannot (``anyres.hf_channels``: a patch-flattened
output, or one call mixing channel counts, which the reference returns as a ragged object
array): a SpecError saying so, in at most a quarter of a family's cases.
``ANYRES_HF_DIFF_CASES`` sets the cases a family (default 12, under a minute on a busy
2-core machine; the README's 200 a family, 6,400 cases, is ``ANYRES_HF_DIFF_CASES=200``).
"""

from __future__ import annotations

import os
import random

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from anyres.hf import AnyresImageProcessor  # noqa: E402

from .cases import FAMILIES, random_case  # noqa: E402
from .compare import is_rgb_refusal, outcome, reference_for, same_output  # noqa: E402

CASES = int(os.environ.get("ANYRES_HF_DIFF_CASES", "12"))


@pytest.mark.parametrize("preset", sorted(FAMILIES))
def test_same_outcome_as_the_reference(preset):
    rng = random.Random(f"differential {preset}")
    refused = 0
    for k in range(CASES):
        case = random_case(rng, preset)
        if k % 4 == 3 and len(case["images"]) > 1:  # nested: one sample of one image, one of the rest
            case["images"] = [case["images"][:1], case["images"][1:]]
        made = outcome(lambda: AnyresImageProcessor(preset, **case["ctor"]))
        assert made[0] == "ok", (preset, case["ctor"], made)
        ours_ip = made[1]
        ref_ip = reference_for(ours_ip)
        ours = outcome(lambda: ours_ip(case["images"], return_tensors="np", **case["call"]))
        ref = outcome(lambda: ref_ip(case["images"], return_tensors="np", **case["call"]))
        what = f"{preset} case {k}: ctor={case['ctor']} call={case['call']}"
        if is_rgb_refusal(ours) and ref[0] == "ok":
            refused += 1
            continue
        assert ours[0] == ref[0], (what, ours, ref)
        if ours[0] == "ok":
            same_output(ours[1], ref[1], what)
    assert refused <= CASES // 4, f"{preset}: {refused} of {CASES} cases refused"

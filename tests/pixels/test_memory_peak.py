"""Preprocessing a 12-megapixel image peaks under 3x the decoded image's size.

Measured in a fresh subprocess (anyres's own memory is Pillow's, numpy's and torch's
malloc, which tracemalloc does not see): the growth of the resident set's high-water
mark (``VmHWM``, reset after a warm-up on a small image has paid for imports, JIT
compilation and thread pools) over the resident set before the calls. That growth
bounds the peak of each call from above; a 64 MB allocation at the end checks that the
meter moves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SRC = Path(__file__).resolve().parents[2] / "src"
W, H = 4000, 3000
DECODED = W * H * 3  # the decoded RGB image, in bytes

CHILD = r"""
import json, resource, sys
import numpy as np
from PIL import Image

path, kind = sys.argv[1], sys.argv[2]
source = path
if kind == "pil":  # the caller's image, decoded by its own code before anyres: several Pillow blocks
    source = Image.open(path).convert("RGB")
import anyres

small = Image.fromarray(np.zeros((64, 96, 3), np.uint8))
for exact in (True, False):
    anyres.preprocess([small], "llava-next", exact=exact)
    anyres.preprocess([small], "idefics3", exact=exact)

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()

def high_water():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

def growth_of(fn):
    # the high-water mark's rise over the resident set while fn runs (the mark is reset
    # first: the warm-up, where a cold numba cache compiles, must not count)
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    before = rss()
    keep = fn()
    return high_water() - before


def run():
    for preset in ("llava-next", "idefics3"):
        for exact in (False, True):
            anyres.preprocess([source], preset, exact=exact)


growth = growth_of(run)
probe = growth_of(lambda: np.ones(64 * 2**20, np.uint8))  # the meter's own check: 64 MB touched must show
print(json.dumps({"growth": growth, "probe": probe}))
"""


def _growth(path: Path, kind: str) -> int:
    env = dict(os.environ, PYTHONPATH=str(SRC), ANYRES_NUM_THREADS="1")
    env.pop("ANYRES_PILLOW_ONE_BLOCK", None)
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), kind], env=env, capture_output=True, text=True,
                         timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    # without this, a high-water mark that did not reset (or could not be read) would pass as "no growth"
    assert result["probe"] >= 60 * 2**20, f"the high-water mark did not see a 64 MB allocation: {result}"
    return result["growth"]


def test_12mp_image_peaks_under_three_times_its_decoded_size(tmp_path):
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, size=(H // 50, W // 50, 3), dtype=np.uint8)
    path = tmp_path / "photo.jpg"
    Image.fromarray(small).resize((W, H), Image.BICUBIC).save(path, quality=90)
    for kind in ("file", "pil"):
        growth = _growth(path, kind)
        print(kind, f"{growth / DECODED:.2f}x the decoded size")
        # 0 is possible: the calls fit in memory the process already held (the caller's own decoded image)
        assert 0 <= growth < 3 * DECODED, (kind, growth / DECODED)

"""The channels-last patch-row normaliser (SigLIP2 NaFlex, Gemma 4, ...) from one run:
the general 5-D strided gather (``lookup_channels_last``, the peer) against the
three-channel kernel that reads the (3, H, W) view row by row
(``lookup_patch_rows_rgb``, the project).

    .venv/bin/python benchmarks/bench_normalize_kernels.py [--repeat 15]

Views of the sizes those presets give the bench_preprocess mix (a page, a photo, a
screenshot, a tall infographic), each as torch's resize returns it (planar RGBX) and as
an unresized image's memory (channels-last RGBX). Both kernels write the same bits
(checked before timing). Single-threaded; best of --repeat, rounds alternating.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402

from timing import best_times  # noqa: E402

# (preset, patch, view height, view width)
VIEWS = [("gemma4", 16, 912, 672), ("gemma4", 16, 576, 1056), ("gemma4", 16, 2160, 288),
         ("siglip2", 16, 304, 208), ("siglip2", 16, 224, 288), ("siglip2", 16, 672, 96)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    from anyres.pixels import _normalize_kernels as k
    from anyres.pixels.normalize import normalise_table

    table = normalise_table((0.5, 0.5, 0.5), (0.5, 0.5, 0.5), 1 / 255)
    rng = np.random.default_rng(0)
    print(f"{'preset':<8} {'view':>10} {'source':<14} {'peer ms':>8} {'ours ms':>8} {'ratio':>6}")
    ratios = []
    for preset, p, h, w in VIEWS:
        planar = rng.integers(0, 256, (4, h, w), dtype=np.uint8)
        sources = {"planar RGBX": planar[:3],
                   "channels-last": np.ascontiguousarray(planar.transpose(1, 2, 0)).transpose(2, 0, 1)[:3]}
        for name, src in sources.items():
            gh, gw = h // p, w // p
            strided = src[:, : gh * p, : gw * p].reshape(3, gh, p, gw, p).transpose(1, 3, 2, 4, 0)
            peer, ours = (np.empty((gh, gw, p, p, 3), np.float32) for _ in range(2))
            k.lookup_channels_last(strided, table, peer)
            k.lookup_patch_rows_rgb(src, table, ours)
            assert np.array_equal(peer, ours)
            a, b = best_times([lambda: k.lookup_channels_last(strided, table, peer),
                               lambda: k.lookup_patch_rows_rgb(src, table, ours)], args.repeat)
            ratios.append(a / b)
            print(f"{preset:<8} {f'{w}x{h}':>10} {name:<14} {1e3 * a:>8.3f} {1e3 * b:>8.3f} {a / b:>5.2f}x")
    print(f"ratio range {min(ratios):.2f}-{max(ratios):.2f}x")


if __name__ == "__main__":
    main()

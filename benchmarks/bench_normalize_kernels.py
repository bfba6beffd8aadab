"""Two normalisers from one run, each against its peer:

- the channels-last patch-row normaliser (SigLIP2 NaFlex, Gemma 4, ...): the general 5-D
  strided gather (``lookup_channels_last``, the peer) against the three-channel kernel
  that reads the (3, H, W) view row by row (``lookup_patch_rows_rgb``, the project);
- the Qwen2-VL-family patch matrix (``lookup_patches``): the previous kernel (every
  frame looked up, signed indices; restated here as the peer) against the current one
  (the first frame looked up, the others copied; unsigned indices).

    .venv/bin/python benchmarks/bench_normalize_kernels.py [--repeat 15]

Views of the sizes those presets give the bench_preprocess mix (a page, a photo, a
screenshot, a tall infographic), planar and channels-last (RGBX: the fast path's resize
output and an unresized image's memory; RGB: a user's numpy array). Both kernels write the same bits
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

from numba import njit  # noqa: E402

from timing import best_times  # noqa: E402


@njit(cache=True)
def lookup_patches_before(src, table, out, patch, merge, frames):
    """The peer: ``lookup_patches`` as it was before the frame copies (every frame looked
    up, signed indices)."""
    channels, height, width = src.shape
    blocks_h = height // patch // merge
    blocks_w = width // patch // merge
    k = 0
    for a in range(blocks_h):
        for b in range(blocks_w):
            for i in range(merge):
                y0 = (a * merge + i) * patch
                for j in range(merge):
                    x0 = (b * merge + j) * patch
                    for c in range(channels):
                        for t in range(frames):
                            for y in range(patch):
                                for x in range(patch):
                                    out[k] = table[c, src[c, y0 + y, x0 + x]]
                                    k += 1

# (preset, patch, view height, view width)
# (preset, view height, view width): the Qwen2-VL-family views of the mix (patch 14 or 16, merge 2, 2 frames)
PATCH_VIEWS = [("glm4v", 14, 2100, 2800), ("qwen2.5-vl", 14, 1764, 1232), ("qwen3-vl", 16, 1088, 1920),
               ("glm4v", 14, 5992, 812)]
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

    print(f"\n{'preset':<10} {'view':>10} {'source':<16} {'peer ms':>8} {'ours ms':>8} {'ratio':>6}   (lookup_patches)")
    ratios = []
    for preset, p, h, w in PATCH_VIEWS:
        planar = rng.integers(0, 256, (4, h, w), dtype=np.uint8)
        sources = {"planar": planar[:3],
                   "channels-last 4": np.ascontiguousarray(planar.transpose(1, 2, 0)).transpose(2, 0, 1)[:3],
                   "channels-last 3": np.ascontiguousarray(planar[:3].transpose(1, 2, 0)).transpose(2, 0, 1)}
        n = 3 * 2 * (h // p * p) * (w // p * p)
        for name, src in sources.items():
            peer, ours = np.empty(n, np.float32), np.empty(n, np.float32)
            lookup_patches_before(src, table, peer, p, 2, 2)
            k.lookup_patches(src, table, ours, p, 2, 2)
            assert np.array_equal(peer, ours)
            a, b = best_times([lambda: lookup_patches_before(src, table, peer, p, 2, 2),
                               lambda: k.lookup_patches(src, table, ours, p, 2, 2)], max(3, args.repeat // 3))
            ratios.append(a / b)
            print(f"{preset:<10} {f'{w}x{h}':>10} {name:<16} {1e3 * a:>8.2f} {1e3 * b:>8.2f} {a / b:>5.2f}x")
    print(f"ratio range {min(ratios):.2f}-{max(ratios):.2f}x")


if __name__ == "__main__":
    main()

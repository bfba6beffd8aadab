"""The pixel path's design choices, each against the alternative it replaced, from one run.

    .venv/bin/python benchmarks/bench_pixel_choices.py [--repeat 5]

One thread, CPU time of this process (``time.thread_time``: what a busy VM's other
processes take is not counted), best of --repeat, rounds alternating:

1. Qwen2-VL's patch matrix (``patches.normalised_patches``): the look-up kernel writing
   the output in order with one flat index (anyres) against the same look-ups through
   an 8-D strided view of the output (the kernel it replaced, restated here), for the
   views of the benchmark mix's sizes.
2. A 12 MP photo that Pillow holds in several blocks, made one array
   (``memory.pixels``): joined from its runs into numpy memory (anyres) against a copy
   into a new Pillow block (``one_block``, the previous way).
3. The fast path's first resize of such a photo: joining it and resizing with torch
   (anyres, for canvases resized width first) against the exact resampler over the
   blocks in place; and the reverse for a tall image's canvas resized height first.
4. torch's resize of a tall canvas (800x6000 to 3072x384): height first, as Pillow
   orders it (anyres), against torch's own width-first order.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from timing import best_times  # noqa: E402


def _strided_patches(src, table, frames):
    """The replaced kernel: out (gh/m, gw/m, m, m, C, T, p, p) indexed as 8-D arrays."""
    from numba import njit

    @njit(cache=False)
    def kernel(src, table, out):
        nbh, nbw, m1, m2, channels, nframes, p1, p2 = out.shape
        for a in range(nbh):
            for b in range(nbw):
                for i in range(m1):
                    for j in range(m2):
                        for c in range(channels):
                            for y in range(p1):
                                for x in range(p2):
                                    v = table[c, src[a, b, i, j, c, y, x]]
                                    for t in range(nframes):
                                        out[a, b, i, j, c, t, y, x] = v

    kernel(src, table, frames)
    return kernel


def _several_blocks(image: Image.Image) -> Image.Image:
    """A copy of ``image`` in Pillow's default 16 MB blocks, as a user's decoded photo is."""
    old = Image.core.get_block_size()
    Image.core.set_block_size(16 * 2**20)
    try:
        return image.copy()
    finally:
        Image.core.set_block_size(old)


def row(name: str, peer: float, ours: float) -> None:
    print(f"{name:58s} {1000 * peer:9.2f} {1000 * ours:9.2f} {peer / ours:7.2f}x")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from anyres.image.memory import exportable, one_block, pixels, row_runs
    from anyres.pixels import fast
    from anyres.pixels.normalize import normalise_table
    from anyres.pixels.patches import normalised_patches, patch_grid
    from anyres.pixels.resample import resize_runs

    def times(*fns):
        return best_times(list(fns), args.repeat, warm_up=True, clock=time.thread_time)

    rng = np.random.default_rng(0)
    print(f"{'choice (ms, CPU time, one thread)':58s} {'peer':>9s} {'anyres':>9s} {'ratio':>8s}")
    mean, std = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
    table = normalise_table(mean, std, 1 / 255)
    for h, w in [(840, 1148), (1176, 840), (2716, 364)]:
        hwc4 = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
        src = hwc4[:, :, :3].transpose(2, 0, 1)  # a (3, H, W) view of RGBX pixels, as the resizers give
        out = np.empty(((h // 14) * (w // 14), 3 * 2 * 14 * 14), dtype=np.float32)
        grid = patch_grid(src, 14, 2)
        frames = np.empty_like(out).reshape(grid.shape[:5] + (2, 14, 14))
        old = _strided_patches(grid, table, frames)
        normalised_patches(src, 14, 2, 2, mean, std, out=out)
        assert np.array_equal(frames.reshape(out.shape), out)
        peer, ours = times(lambda: old(grid, table, frames), lambda: normalised_patches(src, 14, 2, 2, mean, std, out=out))
        row(f"1. Qwen2-VL patch matrix, {w}x{h} view", peer, ours)

    small = rng.integers(0, 256, (3024 // 64, 4032 // 64, 3), dtype=np.uint8)
    photo = _several_blocks(Image.fromarray(small).resize((4032, 3024), Image.BICUBIC))
    assert not exportable(photo) and len(row_runs(photo)) > 1
    peer, ours = times(lambda: one_block(photo), lambda: pixels(photo, 4))
    row("2. 4032x3024 photo in blocks to one array", peer, ours)

    def joined_torch(image, size):
        t = torch.from_numpy(pixels(image, 4)).permute(2, 0, 1)[None]
        return fast._resize(t, size[0], size[1], "bicubic")

    def in_place(image, size):
        return resize_runs(row_runs(image), image.width, image.height, size, Image.BICUBIC)

    def blockwise_torch(image, size):
        x = fast._width_from_runs(row_runs(image), 0, image.height, size[0], "bicubic")
        return fast._resize(x, size[0], size[1], "bicubic")

    for size in [(1148, 840), (448, 448), (288, 224)]:
        assert np.array_equal(joined_torch(photo, size).numpy(), blockwise_torch(photo, size).numpy())
        peer, ours = times(lambda: joined_torch(photo, size), lambda: blockwise_torch(photo, size))
        row(f"3. photo to {size[0]}x{size[1]}: joined vs block by block, torch", peer, ours)
    peer, ours = times(lambda: in_place(photo, (448, 448)), lambda: blockwise_torch(photo, (448, 448)))
    row("3. photo to 448x448: in place exact vs block by block, torch", peer, ours)
    tall = _several_blocks(Image.fromarray(rng.integers(0, 256, (100, 14, 3), dtype=np.uint8)).resize((800, 6000)))
    for size in [(298, 2240), (448, 3584), (168, 1232), (135, 1008), (896, 896), (384, 384), (3072, 384)]:
        if tall.height >= fast.IN_PLACE_MIN_SHRINK * size[1]:  # the fast path reads the blocks in place
            peer, ours = times(lambda: joined_torch(tall, size), lambda: in_place(tall, size))
            row(f"3. 800x6000 in blocks to {size[0]}x{size[1]}: joined + torch vs in place", peer, ours)
        else:  # a milder shrink: joined, then torch
            peer, ours = times(lambda: in_place(tall, size), lambda: joined_torch(tall, size))
            row(f"3. 800x6000 in blocks to {size[0]}x{size[1]}: in place vs joined + torch", peer, ours)

    t = torch.from_numpy(rng.integers(0, 256, (6000, 800, 4), dtype=np.uint8)).permute(2, 0, 1)[None]
    interpolate = torch.nn.functional.interpolate
    peer, ours = times(lambda: interpolate(t, size=(384, 3072), mode="bicubic", antialias=True),
                       lambda: fast._resize(t, 3072, 384, "bicubic"))
    row("4. torch 800x6000 to 3072x384: width first vs height first", peer, ours)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Why Idefics3's fast path stays on Pillow: every Lanczos alternative available here.

    .venv/bin/python benchmarks/bench_lanczos.py [--repeat 2]

Idefics3 resamples with Lanczos (support 3). Pillow's kernel is scalar C; PyTorch has
no Lanczos mode. This prints, from one run, for the 4032x3024 photo's first Idefics3
resize (to 1456x1092, single-threaded):

- Pillow Lanczos (the peer: what the exact and fast paths run);
- a separable Lanczos written in torch (one gather and multiply-add a tap, float32);
- Pillow with ``reducing_gap`` (an integer box reduction first) and PyTorch's SIMD
  antialiased bicubic in place of Lanczos: their speed, and their deviation from the
  exact Idefics3 views over the benchmark mix (``bench_preprocess.image_mix``).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import anyres  # noqa: E402
from anyres.image.memory import pixels, planar  # noqa: E402
from anyres.pixels.execute import render_views  # noqa: E402
from bench_preprocess import image_mix, photo  # noqa: E402
from timing import best_time  # noqa: E402


def lanczos_taps(n_in: int, n_out: int, support: float = 3.0):
    """Source indices and normalised weights (n_out, taps) of a Lanczos resample."""
    import torch

    scale = n_in / n_out
    stretch = max(scale, 1.0)
    reach = support * stretch
    taps = 2 * math.ceil(reach) + 1
    centre = (torch.arange(n_out, dtype=torch.float64) + 0.5) * scale
    first = torch.clamp(torch.floor(centre - reach + 0.5), min=0).long()
    idx = first[:, None] + torch.arange(taps)[None]
    x = (idx.double() + 0.5 - centre[:, None]) / stretch
    w = torch.sinc(x) * torch.sinc(x / support) * (x.abs() < support)
    w = w * (idx < n_in)
    return idx.clamp(max=n_in - 1), (w / w.sum(1, keepdim=True)).float()


def torch_lanczos(chw, w_out: int, h_out: int):
    import torch

    _, h, w = chw.shape
    ix, wx = lanczos_taps(w, w_out)
    iy, wy = lanczos_taps(h, h_out)
    x = chw.float()
    rows = torch.zeros(x.shape[0], h, w_out)
    for k in range(ix.shape[1]):
        rows.addcmul_(x[:, :, ix[:, k]], wx[:, k])
    out = torch.zeros(x.shape[0], h_out, w_out)
    for k in range(iy.shape[1]):
        out.addcmul_(rows[:, iy[:, k], :], wy[:, k, None])
    return out.round_().clamp_(0, 255).to(torch.uint8)


def deviation(images, render) -> str:
    worst, share, total, count = 0, 0.0, 0.0, 0
    for im in images:
        p = anyres.plan(im, "idefics3")
        for a, b in zip(render_views(im, p), render(im, p)):
            d = np.abs(planar(a).astype(int) - planar(b).astype(int))
            worst, share = max(worst, int(d.max())), max(share, float((d > 1).mean()))
            total, count = total + float(d.sum()), count + d.size
    return f"max {worst:>3} levels, >1 level on {100 * share:5.1f}% of values, mean {total / count:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    im = photo(4032, 3024)
    size = (1456, 1092)
    chw = torch.from_numpy(planar(im))
    rgbx = torch.from_numpy(pixels(im, 4)).permute(2, 0, 1)[None]
    t_pil = best_time(lambda: im.resize(size, Image.LANCZOS), args.repeat)
    print(f"4032x3024 -> {size[0]}x{size[1]}: Pillow Lanczos {1000 * t_pil:.0f} ms (the peer)")
    rows = [
        ("torch separable Lanczos (gather + FMA a tap)", lambda: torch_lanczos(chw, *size)),
        ("torch SIMD antialiased bicubic (not Lanczos)",
         lambda: torch.nn.functional.interpolate(rgbx, size=size[::-1], mode="bicubic", antialias=True)),
    ] + [(f"Pillow Lanczos, reducing_gap={g}", lambda g=g: im.resize(size, Image.LANCZOS, reducing_gap=g))
         for g in (2.0, 1.5, 1.0)]
    ours = torch_lanczos(chw, *size).numpy().astype(int)
    ref = planar(im.resize(size, Image.LANCZOS)).astype(int)
    print(f"  (the torch Lanczos is a Lanczos: max {np.abs(ours - ref).max()} levels from Pillow's, "
          f"mean {np.abs(ours - ref).mean():.3f})")
    for name, fn in rows:
        t = best_time(fn, args.repeat)
        print(f"  {name:<46} {1000 * t:7.0f} ms  speed vs Pillow {t_pil / t:5.2f}x")
    with tempfile.TemporaryDirectory() as tmp:
        images = [anyres.load_image(p) for p in image_mix(Path(tmp))]
        print("\ndeviation from the exact Idefics3 views over the benchmark mix")
        print(f"  {'bicubic in place of Lanczos':<30} {deviation(images, lambda i, p: render_views(i, p, 'bicubic'))}")
        for g in (3.0, 2.0, 1.5, 1.0):
            dev = deviation(images, lambda i, p, g=g: render_views(i, p, reducing_gap=g))
            print(f"  {f'reducing_gap={g}':<30} {dev}")


if __name__ == "__main__":
    main()

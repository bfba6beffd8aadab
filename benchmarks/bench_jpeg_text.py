"""The fast path's deviation from the exact path on JPEG text pages, per DCT margin.

DCT-scaled decoding smooths text edges more than photo texture; this measures, for a
rendered text page saved as JPEG (quality 90), the largest uint8 difference between
``exact=False`` and ``exact=True`` views and the share of values more than one level
off, at the margins ``anyres.pixels.fast.DCT_MARGIN`` could take.

    PYTHONPATH=src python benchmarks/bench_jpeg_text.py [--size 6000x4000]

Measured (2 shared cores, Pillow 11): 3000x2000 llava-next margin 2: DCT 1/2, 16 levels,
9.7% of values > 2 off; 6000x4000 margin 4: 4 levels; 12000x8000 margin 6: DCT 1/2,
2 levels, 0.009% > 1 level (the documented bound), margin 12: no reduction.
"""

from __future__ import annotations

import argparse
import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

import anyres.pixels.fast as fast
from anyres.pixels.render import Job, render_one

WORDS = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor".split()


def page(w: int, h: int, seed: int = 0) -> Image.Image:
    im = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(im)
    rng = np.random.default_rng(seed)
    font = ImageFont.load_default(size=14)
    for y in range(20, h - 20, 22):
        d.text((30, y), " ".join(rng.choice(WORDS, 40)), fill="black", font=font)
    return im


def measure(data: bytes, spec: str, margin: float) -> tuple[float, int, float]:
    fast.DCT_MARGIN = margin
    exact, quick = render_one(Job(data, spec, {}, True, 10**9)), render_one(Job(data, spec, {}, False, 10**9))
    d = np.concatenate(
        [np.abs(a.astype(np.int16) - np.asarray(b).astype(np.int16)).ravel() for a, b in zip(exact[1], quick[1])]
    )
    return fast.dct_scale(exact[0]), int(d.max()), float((d > 1).mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="6000x4000")
    ap.add_argument("--presets", default="llava-next,fixed,internvl")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    buf = io.BytesIO()
    page(w, h).save(buf, "JPEG", quality=90)
    for spec in args.presets.split(","):
        for margin in (2.0, 4.0, 6.0, 8.0):
            scale, worst, share = measure(buf.getvalue(), spec, margin)
            print(f"{w}x{h} {spec:12s} margin {margin:g}: DCT scale {scale:g}, max {worst} levels, "
                  f"> 1 level {share:.5%}")


if __name__ == "__main__":
    main()

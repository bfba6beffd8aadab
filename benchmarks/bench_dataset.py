"""encode-dataset throughput: the local engine with 1 and 2 workers, and the Ray engine,
on the same corpus, from one run.

    .venv/bin/python benchmarks/bench_dataset.py [--images 200] [--side 2048] [--preset llava-next]

The corpus is JPEG photos (``--side`` pixels on the long side) and the encoder a
one-layer random CLIP tower: decoding and resizing dominate, as they do when a GPU
encodes, so the numbers measure the engine's CPU stages, not the model (on this CPU a
real ViT would dominate instead, and more decode workers could not help). Each run
writes a fresh output folder. Ray's start-up (``ray.init``: the cluster's processes) is
timed apart, as a user with a running cluster (``--address``) does not pay it; the
first Ray job on the fresh cluster ("cold": its encoder actors start, import torch and
load the model) and a second one ("warm") are both end to end. Goals: 2 workers at
least 1.6x one worker; the Ray engine, cold, within 30% of the local engine with the
same number of render workers on the first 200 images. Each run also reports its time
to the first result and its steady rate.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
# Ray's worker processes import anyres too: from this checkout, not an installed copy
os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402


def corpus(folder: Path, n: int, side: int) -> None:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for k in range(n):
        w, h = (side, side * 3 // 4) if k % 2 else (side * 3 // 4, side)
        small = rng.integers(0, 255, size=(h // 32 + 2, w // 32 + 2, 3)).astype(np.uint8)
        img = Image.fromarray(small).resize((w, h), Image.BICUBIC)
        img.save(folder / f"{k:04d}.jpg", quality=90)


def encoder(folder: Path) -> Path:
    from transformers import CLIPVisionConfig, CLIPVisionModel

    cfg = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=336, patch_size=14)
    CLIPVisionModel(cfg).save_pretrained(folder)
    return folder


def timed(label: str, src: Path, out: Path, enc: Path, preset: str, **kw) -> float:
    from anyres.engine import encode_dataset

    start = time.perf_counter()
    summary = encode_dataset(src, out, preset, enc, **kw)
    dt = time.perf_counter() - start
    rate = summary["encoded"] / dt
    print(f"{label:<28} {summary['encoded']:>4} images in {dt:6.2f} s = {rate:6.2f} images/s "
          f"({summary['tokens'] / dt:,.0f} tokens/s); first result after {summary.get('first_result_s', 0):.1f} s, "
          f"then {summary.get('steady_images_per_s', 0):.2f} images/s")
    return rate, summary.get("steady_images_per_s", 0.0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--side", type=int, default=2048)
    ap.add_argument("--preset", default="llava-next")
    ap.add_argument("--batch-size", type=int, default=8)
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        corpus(tmp / "src", args.images, args.side)
        enc = encoder(tmp / "encoder")
        common = dict(batch_size=args.batch_size, shard_mb=64)
        for n in (1, 2):  # start each worker pool (kept for the process) before timing
            timed(f"warm-up ({n} workers)", tmp / "src", tmp / f"warm{n}", enc, args.preset, workers=n, **common)
        one, _ = timed("local, 1 worker", tmp / "src", tmp / "w1", enc, args.preset, workers=1, **common)
        two, two_steady = timed("local, 2 workers", tmp / "src", tmp / "w2", enc, args.preset, workers=2, **common)
        print(f"2 workers / 1 worker: {two / one:.2f}x (goal >= 1.6)")
        try:
            import ray
        except ImportError:
            print("ray not installed: pip install 'anyres[ray]'")
            return
        start = time.perf_counter()
        ray.init(include_dashboard=False, log_to_driver=False)
        print(f"Ray start-up (ray.init, a local cluster): {time.perf_counter() - start:.1f} s (not counted below)")
        cold, _ = timed("ray, cold, 2 render tasks", tmp / "src", tmp / "rcold", enc, args.preset, engine="ray",
                        workers=2, **common)
        warm, warm_steady = timed("ray, warm, 2 render tasks", tmp / "src", tmp / "rwarm", enc, args.preset,
                                  engine="ray", workers=2, **common)
        ray.shutdown()
        print(f"Ray against local with 2 workers, end to end: cold {100 * (cold / two - 1):+.0f}% "
              f"(goal > -30%), warm {100 * (warm / two - 1):+.0f}%; steady state {100 * (warm_steady / two_steady - 1):+.0f}%")
        print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

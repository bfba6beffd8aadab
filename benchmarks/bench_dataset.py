"""encode-dataset throughput: the local engine with 1 and 2 workers, and the Ray engine,
on the same corpus, from one run.

    .venv/bin/python benchmarks/bench_dataset.py [--images 48] [--side 1600] [--preset llava-next]

The corpus is JPEG photos (decoding and resizing dominate, as they do when a GPU
encodes); the encoder is a small random CLIP tower, so the numbers measure the engine,
not the model. Each run writes a fresh output folder. Ray's cluster is started before
timing (a user of Ray has one running); its start-up time is printed apart. Goals: 2
workers at least 1.6x one worker; Ray's overhead against the local engine with the same
number of render workers under 30%.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

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

    cfg = CLIPVisionConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
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
          f"({summary['tokens'] / dt:,.0f} tokens/s)")
    return rate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=48)
    ap.add_argument("--side", type=int, default=1600)
    ap.add_argument("--preset", default="llava-next")
    ap.add_argument("--batch-size", type=int, default=8)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        corpus(tmp / "src", args.images, args.side)
        enc = encoder(tmp / "encoder")
        common = dict(batch_size=args.batch_size, shard_mb=64)
        for n in (1, 2):  # start each worker pool (kept for the process) before timing
            timed(f"warm-up ({n} workers)", tmp / "src", tmp / f"warm{n}", enc, args.preset, workers=n, **common)
        one = timed("local, 1 worker", tmp / "src", tmp / "w1", enc, args.preset, workers=1, **common)
        two = timed("local, 2 workers", tmp / "src", tmp / "w2", enc, args.preset, workers=2, **common)
        print(f"2 workers / 1 worker: {two / one:.2f}x (goal >= 1.6)")
        try:
            import ray
        except ImportError:
            print("ray not installed: pip install 'anyres[ray]'")
            return
        start = time.perf_counter()
        ray.init(include_dashboard=False, log_to_driver=False)
        print(f"ray.init: {time.perf_counter() - start:.1f} s (not counted)")
        timed("ray warm-up", tmp / "src", tmp / "rwarm", enc, args.preset, engine="ray", workers=2, **common)
        r = timed("ray, 2 render workers", tmp / "src", tmp / "ray", enc, args.preset, engine="ray", workers=2, **common)
        ray.shutdown()
        print(f"ray overhead against local with 2 workers: {100 * (two / r - 1):.0f}% (goal < 30%)")


if __name__ == "__main__":
    main()

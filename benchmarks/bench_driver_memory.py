"""The Ray engine's driver memory against the corpus size: Parquet corpora of 1x, 10x and
100x the images (image bytes in the Parquet file), each encoded by a fresh driver process
that joins one running Ray cluster; the driver's peak RSS (``VmHWM``) is printed per
size, with the corpus' image bytes and the job's rate.

    .venv/bin/python benchmarks/bench_driver_memory.py [--images 40] [--scales 1,10,100] [--side 160]

The images are random-noise PNGs (``--side`` pixels square, ~77 KB at 160), so that the
image bytes are large and decoding cheap; the encoder is a one-layer random CLIP tower.
Goal (issue 18): the peak flat (within 20%) from 10x to 100x, and under 1 GB with several
hundred MB of image bytes. What the driver holds that grows with the corpus: the
consolidation at the end (one row per image of the manifest, no embeddings).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
# Ray's worker processes import anyres too: from this checkout, not an installed copy
os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])

DRIVER = """
import json, sys, threading, time, tracemalloc
sys.path.insert(0, {src!r})
from anyres.engine import encode_dataset
if {trace!r}:
    tracemalloc.start(1)
rss = []  # VmRSS (MB) every 0.25 s: a climb through the job, or a step at start-up / at the end
def sample():
    while True:
        rss.append(int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) / 1024)
        time.sleep(0.25)
threading.Thread(target=sample, daemon=True).start()
start = time.perf_counter()
summary = encode_dataset({corpus!r}, {out!r}, "llava-next", {encoder!r}, engine="ray", ray_address={address!r},
                         batch_size=16, shard_mb=64)
summary["wall_s"] = time.perf_counter() - start
summary["rss_quartiles_mb"] = [round(rss[min(len(rss) - 1, len(rss) * q // 4)]) for q in range(5)]
if {trace!r}:
    summary["python_heap_mb"] = [round(x / 2**20, 1) for x in tracemalloc.get_traced_memory()]  # now, peak
    top = tracemalloc.take_snapshot().statistics("filename")[:6]
    summary["python_top"] = [f"{{s.size / 2**20:.1f}} MB {{s.traceback[0].filename.split('site-packages/')[-1]}}"
                             for s in top]
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork and exec, so a child of a big
# parent would report the parent's size; VmHWM is this program's own high-water mark
status = open("/proc/self/status").read()
summary["peak_rss_mb"] = int(status.split("VmHWM:")[1].split()[0]) / 1024
summary["torch_imported"] = "torch" in sys.modules
print("RESULT " + json.dumps(summary))
"""


def write_corpus(path: Path, n: int, side: int) -> int:
    """A Parquet file of ``n`` PNGs in row groups of 64; returns the image bytes."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import Image

    rng = np.random.default_rng(0)
    pool = []
    for _ in range(min(n, 64)):  # 64 distinct images, repeated (the keys are the rows)
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, size=(side, side, 3), dtype=np.uint8)).save(buf, "PNG")
        pool.append(buf.getvalue())
    total = 0
    schema = pa.schema([("bytes", pa.binary())])
    with pq.ParquetWriter(path, schema) as w:
        for start in range(0, n, 64):
            rows = [pool[k % len(pool)] for k in range(start, min(n, start + 64))]
            total += sum(map(len, rows))
            w.write_table(pa.table({"bytes": rows}, schema=schema), row_group_size=64)
    return total


def encoder(folder: Path) -> Path:
    from transformers import CLIPVisionConfig, CLIPVisionModel

    cfg = CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                           image_size=336, patch_size=14)
    CLIPVisionModel(cfg).save_pretrained(folder)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=40, help="images at scale 1")
    ap.add_argument("--scales", default="1,10,100")
    ap.add_argument("--side", type=int, default=160)
    ap.add_argument("--trace", action="store_true", help="also the driver's Python heap (tracemalloc: slower)")
    args = ap.parse_args()
    import ray

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        enc = encoder(tmp / "encoder")
        start = time.perf_counter()
        ctx = ray.init(include_dashboard=False, log_to_driver=False)
        print(f"cluster started in {time.perf_counter() - start:.1f} s (not counted); load {os.getloadavg()[0]:.1f}")
        try:
            for scale in [int(s) for s in args.scales.split(",")]:
                corpus = tmp / f"corpus{scale}.parquet"
                size = write_corpus(corpus, args.images * scale, args.side)
                code = DRIVER.format(src=str(ROOT / "src"), corpus=str(corpus), out=str(tmp / f"out{scale}"),
                                     encoder=str(enc), address=ctx.address_info["address"], trace=args.trace)
                proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=3600)
                line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
                if not line:
                    print(proc.stderr[-3000:])
                    raise SystemExit(f"scale {scale}: the driver failed")
                s = json.loads(line[0][7:])
                print(f"{scale:>4}x: {s['encoded']:>6} images, {size / 2**20:7.1f} MB of image bytes, "
                      f"driver peak RSS {s['peak_rss_mb']:6.0f} MB (torch imported: {s['torch_imported']}), {s['wall_s']:6.1f} s "
                      f"({s['encoded'] / s['wall_s']:.1f} images/s), load {os.getloadavg()[0]:.1f}; "
                      f"RSS over the job (0/25/50/75/100%): {s['rss_quartiles_mb']} MB")
                if args.trace:
                    print(f"      Python heap now/peak {s['python_heap_mb']} MB; top: {s['python_top']}")
        finally:
            ray.shutdown()


if __name__ == "__main__":
    main()

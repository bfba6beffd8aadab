"""Per-stage rates of a dataset job, for the cost model in docs/cost_model.md.

    .venv/bin/python benchmarks/bench_cost_model.py [--photo 1024x768] [--repeats 2]

1. Render: images/s on one core (decode a JPEG photo from bytes, plan, crop/resize/pad to
   uint8 views: ``render_one``, exact path and fast path), per preset.
2. Encode: images/s of each preset's real vision tower on this CPU (all threads), one
   photo's views a call, random weights at the published tower's width, heads and patch.
   Building and timing a 24-32 layer tower is too slow here, so each tower is timed at
   two depths and its full depth is extrapolated linearly (a block's cost does not depend
   on its place; the embeddings, merger and connector are in both timings). FLOPs per
   image are counted from the plan (tokens per view) for the GPU estimate in the docs.

Ratios matter, not absolutes: the VM is shared (its load average is printed).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

# (preset, tower kind, config of the published tower, its depth, the depths timed)
TOWERS = [
    ("llava-next", "clip", dict(hidden_size=1024, intermediate_size=4096, num_attention_heads=16, image_size=336,
                                patch_size=14), 24, (2, 4)),
    ("llava-onevision", "siglip", dict(hidden_size=1152, intermediate_size=4304, num_attention_heads=16,
                                       image_size=384, patch_size=14), 27, (2, 4)),
    ("qwen2-vl", "qwen2", dict(embed_dim=1280, hidden_size=1536, num_heads=16, mlp_ratio=4, patch_size=14,
                               spatial_merge_size=2), 32, (1, 3)),
]
RENDER_PRESETS = ["llava-next", "llava-onevision", "internvl", "qwen2-vl", "qwen2.5-vl", "idefics3", "gemma3"]


def photo(w: int, h: int) -> bytes:
    rng = np.random.default_rng(0)
    small = rng.integers(0, 255, size=(h // 16 + 2, w // 16 + 2, 3)).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(small).resize((w, h), Image.BICUBIC).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def render_rates(data: bytes, repeats: int) -> None:
    import torch

    from anyres.pixels.render import Job, render_one
    from anyres.pixels.resample import set_threads

    torch.set_num_threads(1)
    set_threads(1)
    print("1. render, one core (images/s): preset, exact, fast")
    for preset in RENDER_PRESETS:
        rates = []
        for exact in (True, False):
            render_one(Job(data, preset, {}, exact, 10**9))  # warm-up (numba, caches)
            best = min(_time(lambda: render_one(Job(data, preset, {}, exact, 10**9))) for _ in range(repeats * 3))
            rates.append(1 / best)
        print(f"   {preset:<16} {rates[0]:7.1f} {rates[1]:7.1f}")
    torch.set_num_threads(os.cpu_count() or 1)


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def build(kind: str, config: dict, depth: int, folder: Path) -> Path:
    import torch

    torch.manual_seed(0)
    if kind == "clip":
        from transformers import CLIPVisionConfig, CLIPVisionModel

        model = CLIPVisionModel(CLIPVisionConfig(**config, num_hidden_layers=depth))
    elif kind == "siglip":
        from transformers import SiglipVisionConfig, SiglipVisionModel

        model = SiglipVisionModel(SiglipVisionConfig(**config, num_hidden_layers=depth))
    else:
        from transformers import Qwen2VLVisionConfig
        from transformers.models.qwen2_vl.modeling_qwen2_vl import Qwen2VisionTransformerPretrainedModel

        model = Qwen2VisionTransformerPretrainedModel(Qwen2VLVisionConfig(**config, depth=depth))
    model.save_pretrained(folder)
    return folder


def encode_rates(data: bytes, repeats: int) -> None:
    import torch

    from anyres.engine.local import encode_rendered
    from anyres.pipeline import VisionPipeline
    from anyres.pixels.render import Job, render_one

    print(f"2. encode, this CPU ({torch.get_num_threads()} threads), one photo a call: preset, tokens, "
          "s at the two depths, s extrapolated to the full depth, images/s, GFLOP an image (blocks)")
    with tempfile.TemporaryDirectory() as tmp:
        for preset, kind, config, full, depths in TOWERS:
            times = []
            for depth in depths:
                folder = build(kind, config, depth, Path(tmp) / f"{preset}-{depth}")
                pipe = VisionPipeline.from_preset(preset, folder)
                rendered = render_one(Job(data, preset, {}, True, 10**9))
                with torch.inference_mode():
                    encode_rendered(pipe, [rendered])  # warm-up
                    times.append(min(_time(lambda: encode_rendered(pipe, [rendered])) for _ in range(repeats)))
            per_block = (times[1] - times[0]) / (depths[1] - depths[0])
            total = times[0] + per_block * (full - depths[0])
            plan, views = rendered
            width = config.get("hidden_size") if kind != "qwen2" else config["embed_dim"]
            seqs = [v.shape[-1] * v.shape[-2] // config["patch_size"] ** 2 for v in views]  # patches a view
            mlp = config.get("intermediate_size", width * config.get("mlp_ratio", 4))
            flops = sum(full * (2 * n * (4 * width * width + 2 * width * mlp) + 4 * n * n * width) for n in seqs)
            print(f"   {preset:<16} {plan.num_tokens:6d} {times[0]:6.2f} {times[1]:6.2f} {total:7.2f} "
                  f"{1 / total:7.3f} {flops / 1e9:8.0f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photo", default="1024x768")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    w, h = (int(x) for x in args.photo.split("x"))
    data = photo(w, h)
    print(f"a {w}x{h} JPEG ({len(data) // 1024} KB); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    render_rates(data, args.repeats)
    encode_rates(data, args.repeats)
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

"""Idefics3 / SmolVLM and SigLIP2 NaFlex towers against transformers, in the same run.

    .venv/bin/python benchmarks/bench_navit.py [--quick] [--repeats 3] [--cpu-time]

1. Idefics3's vision tower (``Idefics3VisionTransformer``) on a batch of 364 x 364 tiles
   (26 x 26 patches of 14 px, the Idefics3 tile): ours ``forward_features`` vs transformers'
   ``vision_model(pixel_values).last_hidden_state``.
2. SigLIP2 NaFlex (``Siglip2VisionModel``) on the NaFlex processor's outputs for 4 images
   of different aspect ratios at ``max_num_patches=256``: transformers' padded batch vs
   ours padded (``forward_naflex``) and ours packed (``forward_naflex(..., packed=True)``:
   the valid patches only, each image attending to itself).

Random weights at SigLIP-B's shape (width 768, 12 layers, 12 heads; ``--quick``: width
384, 6 layers, 6 heads), float32. Times are the best of ``--repeats`` (the VM is noisy);
``torch.set_num_threads`` is left at its default, or with ``--cpu-time`` set to 1 and the
process's CPU time measured (steadier than wall time on a loaded shared VM).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import torch  # noqa: E402

from anyres.encode import load_encoder  # noqa: E402
from timing import best_times as _best_times  # noqa: E402

CLOCK = {"clock": time.perf_counter}


def best_times(fns, repeats, warm_up=False):
    return _best_times(fns, repeats, warm_up=warm_up, **CLOCK)

BASE = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12)
QUICK = dict(hidden_size=384, intermediate_size=1536, num_hidden_layers=6, num_attention_heads=6)
IMAGES = [(480, 640), (900, 300), (256, 256), (200, 1000)]  # (h, w)


def row(label: str, t_peer: float, t_ours: float, diff: float) -> None:
    print(f"   {label:<22} {t_peer * 1e3:>16.1f} {t_ours * 1e3:>9.1f} {t_peer / t_ours:>7.2f}x {diff:>11.1e}")


def idefics3_section(shape: dict, views: int, repeats: int) -> None:
    from transformers import Idefics3VisionConfig
    from transformers.models.idefics3.modeling_idefics3 import Idefics3VisionTransformer

    torch.manual_seed(0)
    peer = Idefics3VisionTransformer(Idefics3VisionConfig(**shape, image_size=364, patch_size=14)).eval()
    with tempfile.TemporaryDirectory() as tmp:
        peer.save_pretrained(tmp)
        ours = load_encoder(tmp)
    pixels = torch.randn(views, 3, 364, 364)
    diff = (ours.forward_features(pixels) - peer(pixels).last_hidden_state).abs().max().item()
    t_peer, t_ours = best_times([lambda: peer(pixels).last_hidden_state, lambda: ours.forward_features(pixels)],
                                repeats, warm_up=True)
    print(f"\n1. Idefics3 tower, {views} tiles of 364x364 (676 patches each)")
    print(f"   {'':<22} {'transformers ms':>16} {'ours ms':>9} {'speedup':>8} {'max |diff|':>11}")
    row("tiles", t_peer, t_ours, diff)


def siglip2_section(shape: dict, repeats: int) -> None:
    import numpy as np
    from PIL import Image
    from transformers import Siglip2VisionConfig, Siglip2VisionModel
    from transformers.models.siglip2.image_processing_pil_siglip2 import Siglip2ImageProcessorPil

    torch.manual_seed(0)
    config = Siglip2VisionConfig(**shape, num_patches=256, patch_size=16, vision_use_head=False)
    peer = Siglip2VisionModel(config).eval()
    with tempfile.TemporaryDirectory() as tmp:
        peer.save_pretrained(tmp)
        ours = load_encoder(tmp)
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in IMAGES]
    batch = Siglip2ImageProcessorPil()(images, return_tensors="pt", max_num_patches=256)
    pixels, mask, shapes = batch["pixel_values"], batch["pixel_attention_mask"], batch["spatial_shapes"]
    ref = peer(pixels, mask, shapes).last_hidden_state
    padded_diff = (ours.forward_naflex(pixels, mask, shapes) - ref).abs().max().item()
    packed_diff = (ours.forward_naflex(pixels, mask, shapes, packed=True) - ref[mask.bool()]).abs().max().item()
    t_peer, t_padded, t_packed = best_times(
        [lambda: peer(pixels, mask, shapes).last_hidden_state, lambda: ours.forward_naflex(pixels, mask, shapes),
         lambda: ours.forward_naflex(pixels, mask, shapes, packed=True)], repeats, warm_up=True)  # fmt: skip
    grids = " + ".join(f"{h}x{w}" for h, w in shapes.tolist())
    print(f"\n2. SigLIP2 NaFlex, {len(IMAGES)} images padded to 256 patches ({grids} valid, {int(mask.sum())} in all)")
    print(f"   {'':<22} {'transformers ms':>16} {'ours ms':>9} {'speedup':>8} {'max |diff|':>11}")
    row("ours padded", t_peer, t_padded, padded_diff)
    row("ours packed (valid)", t_peer, t_packed, packed_diff)
    print(f"   packed/padded throughput (ours): {t_padded / t_packed:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="width 384, 6 layers, 2 tiles")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cpu-time", action="store_true", help="one thread, process CPU time instead of wall time")
    args = parser.parse_args()
    if args.cpu_time:
        torch.set_num_threads(1)
        CLOCK["clock"] = time.process_time
    shape = QUICK if args.quick else BASE
    clock = "CPU time" if args.cpu_time else "wall time"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, best of {args.repeats} ({clock}), "
          f"width {shape['hidden_size']}, {shape['num_hidden_layers']} layers")
    with torch.inference_mode():
        idefics3_section(shape, 2 if args.quick else 4, args.repeats)
        siglip2_section(shape, args.repeats)


if __name__ == "__main__":
    main()

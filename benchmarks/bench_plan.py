"""Plans per second for every preset, against the 20,000 plans/s target, with the
transformers reference as the peer where it has a counting path.

    .venv/bin/python benchmarks/bench_plan.py [--n 5000] [--presets a,b,...]

Rates are process CPU time (the VM is shared: wall time counts other processes' turns),
the best of several passes over the same random sizes; each plan is dropped after it is
made, as a serving engine does (``--keep`` holds every plan of a pass, which adds the
garbage collector's work on a growing heap). The target applies to every preset but
``budget`` (a search over merge levels, scales and regions: tens of plans a plan). The
peer is transformers' own function that a serving engine calls to reserve placeholders
(token count only, less than a plan), on the same sizes in the same run.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import anyres  # noqa: E402
from timing import best_times  # noqa: E402


def sizes(n: int, seed: int = 0) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        long = int(10 ** rng.uniform(2, 3.8))
        ar = 10 ** rng.uniform(-0.6, 0.6)
        out.append((long, max(1, round(long / ar))) if ar >= 1 else (max(1, round(long * ar)), long))
    return out


TARGET = 20_000
NO_TARGET = {"budget": "a search planner"}


def rate(fn, items, repeats: int = 5, keep: bool = False) -> float:
    """Items per second of process CPU time, from the best of ``repeats`` passes."""
    if keep:
        return len(items) / best_times([lambda: [fn(it) for it in items]], repeats, clock=time.process_time)[0]

    def one_pass():
        for it in items:
            fn(it)

    return len(items) / best_times([one_pass], repeats, clock=time.process_time)[0]


def peers():
    """transformers' counting functions, where available."""
    try:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.plan import oracles
    except Exception:
        return {}
    out = {}
    nxt = oracles.llava_next_processor()
    out["llava-next"] = lambda s: nxt._get_number_of_features(s[1], s[0], 336, 336)
    ov = oracles.onevision_processor()
    out["llava-onevision"] = lambda s: ov._get_number_of_features(s[1], s[0], 384, 384)
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    q = Qwen2VLImageProcessorPil()
    out["qwen2-vl"] = lambda s: q.get_number_of_image_patches(s[1], s[0])
    ip = oracles.internvl_image_processor()
    out["internvl"] = lambda s: ip.get_number_of_image_patches(s[1], s[0])
    idf = oracles.idefics3_image_processor()
    out["idefics3"] = lambda s: idf.get_number_of_image_patches(s[1], s[0])
    from transformers.models.gemma4.image_processing_pil_gemma4 import get_aspect_ratio_preserving_size
    from transformers.models.pixtral.image_processing_pil_pixtral import get_resize_output_image_size

    def pixtral_count(longest, unit):  # PixtralProcessor._get_num_multimodal_tokens for one size
        def count(s):
            h, w = get_resize_output_image_size(oracles.fake_image(s[0], s[1]), (longest, longest), (unit, unit),
                                                input_data_format="channels_first")
            return (w // unit + 1) * (h // unit)
        return count

    out["pixtral"] = pixtral_count(1024, 16)
    out["mistral3"] = pixtral_count(1540, 28)
    out["gemma4"] = lambda s: get_aspect_ratio_preserving_size(s[1], s[0], 16, 2520, 3)
    from transformers.models.siglip2.image_processing_pil_siglip2 import get_image_size_for_max_num_patches
    from transformers.models.smolvlm.image_processing_pil_smolvlm import SmolVLMImageProcessorPil

    smol = SmolVLMImageProcessorPil()
    out["smolvlm"] = lambda s: smol.get_number_of_image_patches(s[1], s[0])
    out["siglip2"] = lambda s: get_image_size_for_max_num_patches(s[1], s[0], 16, 256)
    out["internvl3.5"] = out["internvl"]
    from transformers.models.aria.image_processing_pil_aria import AriaImageProcessorPil

    aria = AriaImageProcessorPil()
    out["aria"] = lambda s: aria.get_number_of_image_patches(s[1], s[0])
    # the families helper's presets: their references' pure counting helpers
    from transformers.models.deepseek_ocr2.image_processing_pil_deepseek_ocr2 import DeepseekOcr2ImageProcessorPil
    from transformers.models.hunyuan_vl.image_processing_pil_hunyuan_vl import HunYuanVLImageProcessorPil
    from transformers.models.minicpmv4_6.image_processing_pil_minicpmv4_6 import MiniCPMV4_6ImageProcessorPil
    from transformers.models.ovis2.image_processing_pil_ovis2 import get_min_tile_covering_grid

    hy = HunYuanVLImageProcessorPil()
    out["hunyuan-vl"] = lambda s: hy.get_number_of_image_patches(s[1], s[0])
    ds = DeepseekOcr2ImageProcessorPil()
    out["deepseek-ocr2"] = lambda s: ds.get_number_of_image_patches(s[1], s[0])
    mc = MiniCPMV4_6ImageProcessorPil()

    def minicpm_count(s):  # the grid and the source and slice sizes its _preprocess computes
        grid = mc.get_sliced_grid((s[1], s[0]), 9, 448)
        src = mc.find_best_resize((s[1], s[0]), 448, 14, "16x", allow_upscale=grid is None)
        return src if grid is None else (src, mc.get_refine_size((s[1], s[0]), grid, 448, 14, "16x", True))

    out["minicpm-v-4.6"] = minicpm_count
    # ovis2's class default does not tile: the peer is the covering grid of crop_to_patches=True
    # (get_min_tile_covering_grid's lru_cache is cleared so each size is computed)
    out["ovis2(crop_to_patches=True)"] = lambda s: get_min_tile_covering_grid.__wrapped__((s[1], s[0]), 384, 12)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--presets", default="", help="comma-separated specs (default: every preset)")
    ap.add_argument("--keep", action="store_true", help="hold every plan of a pass (adds GC work)")
    args = ap.parse_args()
    items = sizes(args.n)
    ref = peers()
    chosen = args.presets.split(",") if args.presets else [*anyres.presets(), "ovis2(crop_to_patches=True)"]
    print(f"# {len(items)} sizes, process CPU time, load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'preset':<28} {'plans/s':>10} {'target':>7} {'+layout+diag/s':>15} {'transformers count/s':>21} {'ratio':>6}")
    failed = []
    for preset in chosen:
        anyres.plan(items[0], preset)  # warm the spec cache
        r = rate(lambda s: anyres.plan(s, preset), items, keep=args.keep)
        few = items[: max(200, args.n // 20)]
        full = rate(lambda s: (lambda p: (p.layout, p.diagnostics))(anyres.plan(s, preset)), few, keep=args.keep)
        base = preset.partition("(")[0]
        verdict = "-" if base in NO_TARGET else ("pass" if r >= TARGET else "FAIL")
        if verdict == "FAIL":
            failed.append(preset)
        if preset in ref:
            peer = rate(ref[preset], items)
            print(f"{preset:<28} {r:>10.0f} {verdict:>7} {full:>15.0f} {peer:>21.0f} {r / peer:>6.2f}")
        else:
            print(f"{preset:<28} {r:>10.0f} {verdict:>7} {full:>15.0f} {'-':>21} {'-':>6}")
    print(f"# target {TARGET:,} plans/s: {len(failed)} below ({', '.join(failed) or 'none'}); "
          f"not held to it: {', '.join(f'{k} ({v})' for k, v in NO_TARGET.items())}")


if __name__ == "__main__":
    main()

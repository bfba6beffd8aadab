"""Assembly speed of the anyres presets against transformers' pack_image_features.

    .venv/bin/python benchmarks/bench_tokens.py [--n 40] [--width 1024]

The same random projected features (one image at a time, as a server packs them) go
through ``Assembler`` and through the reference model's ``pack_image_features`` (tiny
random LlavaNext / LlavaOnevision models; packing does not depend on their size). Best
of five passes, one torch thread.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import anyres  # noqa: E402
from anyres.tokens import Assembler  # noqa: E402

from bench_plan import sizes  # noqa: E402
from timing import best_pass  # noqa: E402


def reference_model(preset: str, width: int):
    import transformers

    p = anyres.plan((100, 100), preset).params
    text = dict(hidden_size=width, intermediate_size=8, num_hidden_layers=1, num_attention_heads=1, num_key_value_heads=1, vocab_size=8)
    vision = dict(hidden_size=8, intermediate_size=8, num_hidden_layers=1, num_attention_heads=1, image_size=p["base_size"], patch_size=p["patch_size"])
    pins = [list(x) for x in p["image_grid_pinpoints"]]
    if preset == "llava-next":
        cfg = transformers.LlavaNextConfig(vision_config=dict(model_type="clip_vision_model", **vision), text_config=dict(model_type="llama", **text), image_grid_pinpoints=pins)
        return transformers.LlavaNextModel(cfg).eval()
    cfg = transformers.LlavaOnevisionConfig(vision_config=dict(model_type="siglip_vision_model", **vision), text_config=dict(model_type="qwen2", **text), image_grid_pinpoints=pins)
    return transformers.LlavaOnevisionModel(cfg).eval()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--width", type=int, default=1024)
    args = ap.parse_args()
    torch.set_num_threads(1)
    for preset in ("llava-next", "llava-onevision"):
        model = reference_model(preset, args.width)
        asm = Assembler.for_plan(preset, args.width).load_reference(model.state_dict())
        items = []
        for size in sizes(args.n, seed=1):
            plan = anyres.plan(size, preset)
            side = plan.params["base_size"] // plan.params["patch_size"]
            feats = torch.randn(len(plan.views), side * side, args.width)
            items.append((plan, feats))
        kw = {"vision_feature_select_strategy": "default"} if preset == "llava-next" else {}

        def ours(item):
            plan, feats = item
            return asm(plan, list(feats))

        def peer(item):
            plan, feats = item
            sizes_hw = torch.tensor([[plan.image.height, plan.image.width]])
            return model.pack_image_features([feats], sizes_hw, image_newline=model.image_newline, **kw)

        with torch.no_grad():
            t_ours, t_peer = best_pass(ours, items), best_pass(peer, items)
        tokens = sum(p.num_tokens for p, _ in items)
        print(
            f"{preset:16s} {args.n} images, {tokens / args.n:.0f} tokens each, width {args.width}: "
            f"anyres {1e3 * t_ours / args.n:.2f} ms/image, transformers {1e3 * t_peer / args.n:.2f} ms/image, "
            f"ratio {t_peer / t_ours:.2f}x"
        )


if __name__ == "__main__":
    main()

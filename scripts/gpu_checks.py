"""The checks that need a GPU, as one script for a lent device machine (CI has none).

    .venv/bin/python scripts/gpu_checks.py [--quick]

Prints one line per check and exits non-zero when one fails:

1. packed attention: the varlen kernels (FlashAttention for float16/bfloat16, the
   memory-efficient kernel for float32) against the batched per-segment loop on the same
   CUDA tensors, and whether ``"auto"`` adopted them; time of each.
2. towers on the GPU: tiny random CLIP, SigLIP, Qwen2.5-VL and Pixtral towers built by
   transformers, loaded by anyres, run on CUDA in float32 (against transformers on CUDA,
   1e-4 of the scale) and bfloat16 (against float32, within twice transformers' own
   bfloat16 error plus 1% of the scale, the CPU tests' rule).
3. the pipeline end to end on CUDA (``VisionPipeline.to('cuda')``) for llava-next on a
   tiny LLaVA-NeXT folder: rows equal to the CPU pipeline's within 1e-4 of the scale.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

import torch


def _timed(fn, repeats=5):
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return out, best


def check_attention(failures: list[str]) -> None:
    from anyres.encode import attention

    lengths = (577, 577, 1025, 256, 2304, 64)
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        gen = torch.Generator(device="cuda").manual_seed(0)
        q, k, v = (torch.randn(1, 16, sum(lengths), 64, device="cuda", dtype=dtype, generator=gen) for _ in range(3))
        attention._VARLEN_CHECKED.clear()
        ref, t_loop = _timed(lambda: attention._batched_runs(q, k, v, lengths))
        try:
            out, t_var = _timed(lambda: attention._varlen(q, k, v, lengths))
            err = ((out.float() - ref.float()).abs().max() / ref.float().abs().max()).item()
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            print(f"attention {dtype}: varlen kernel unavailable ({exc!r:.120})")
            continue
        adopted = attention.varlen_usable(q, k, v, lengths)
        ok = err <= attention.VARLEN_TOLERANCE[dtype]
        print(f"attention {dtype}: rel err {err:.1e}, loop {t_loop * 1e3:.2f} ms, varlen {t_var * 1e3:.2f} ms "
              f"({t_loop / t_var:.2f}x), adopted by auto: {adopted}")
        if not ok or adopted != ok:
            failures.append(f"attention {dtype}")


def _tower_models():
    from transformers import (CLIPVisionConfig, CLIPVisionModel, PixtralVisionConfig, PixtralVisionModel,
                              SiglipVisionConfig, SiglipVisionModel)

    small = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4)
    return [
        ("clip", CLIPVisionModel(CLIPVisionConfig(**small, image_size=56, patch_size=14)), (1, 3, 56, 56)),
        ("siglip", SiglipVisionModel(SiglipVisionConfig(**small, image_size=64, patch_size=16)), (1, 3, 64, 64)),
        ("pixtral", PixtralVisionModel(PixtralVisionConfig(**small, image_size=128, patch_size=16, head_dim=16)),
         (1, 3, 96, 128)),
    ]


def check_towers(failures: list[str]) -> None:
    from anyres.encode import load_encoder

    for name, model, shape in _tower_models():
        model = model.eval()
        x = torch.randn(*shape)
        with tempfile.TemporaryDirectory() as tmp:
            model.save_pretrained(tmp)
            ours32 = load_encoder(tmp, feature_layer=-1).to("cuda")
            ours16 = load_encoder(tmp, feature_layer=-1, dtype=torch.bfloat16).to("cuda")
        with torch.no_grad():
            view = x[0].cuda()
            kwargs = {"image_sizes": torch.tensor([shape[2:]])} if name == "pixtral" else {}
            ref = model.cuda()(x.cuda(), output_hidden_states=True, **kwargs).hidden_states[-1][0]
            ref16 = model.to(torch.bfloat16)(x.cuda().bfloat16(), output_hidden_states=True,
                                             **kwargs).hidden_states[-1][0].float()
            a = ours32.forward_views([view])[0]
            b = ours16.forward_views([view.bfloat16()])[0].float()
        a = a[-ref.shape[0]:] if a.shape[0] != ref.shape[0] else a
        b = b[-ref.shape[0]:] if b.shape[0] != ref.shape[0] else b
        scale = ref.abs().max().item()
        e32 = (a - ref).abs().max().item() / scale
        e16, theirs16 = (b - ref).abs().max().item() / scale, (ref16 - ref).abs().max().item() / scale
        ok = e32 <= 1e-4 and e16 <= 2 * theirs16 + 0.01
        print(f"tower {name}: float32 rel err {e32:.1e}; bfloat16 {e16:.1e} (transformers' own {theirs16:.1e})")
        if not ok:
            failures.append(f"tower {name}")


def check_pipeline(failures: list[str]) -> None:
    import numpy as np
    from PIL import Image
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaNextConfig, LlavaNextForConditionalGeneration

    from anyres.pipeline import VisionPipeline

    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                              image_size=336, patch_size=14)
    text = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                       vocab_size=64)
    model = LlavaNextForConditionalGeneration(LlavaNextConfig(vision_config=vision, text_config=text))
    images = [Image.fromarray(np.random.default_rng(i).integers(0, 256, (h, w, 3), dtype=np.uint8))
              for i, (h, w) in enumerate([(300, 500), (700, 200)])]
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        cpu = VisionPipeline.from_preset("llava-next", tmp)
        gpu = VisionPipeline.from_preset("llava-next", tmp).to("cuda")
    for a, b in zip(cpu(images), gpu(images)):
        ref = a.embeddings
        err = (b.embeddings.cpu() - ref).abs().max().item() / ref.abs().max().item()
        print(f"pipeline llava-next {tuple(ref.shape)}: CUDA vs CPU rel err {err:.1e}")
        if err > 1e-4:
            failures.append("pipeline llava-next")


def main() -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to check here")
        return 0
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}")
    failures: list[str] = []
    for check in (check_attention, check_towers, check_pipeline):
        try:
            check(failures)
        except Exception as exc:  # noqa: BLE001 - one check failing must not hide the others
            print(f"{check.__name__} raised {exc!r:.300}")
            failures.append(check.__name__)
    print("FAILED: " + ", ".join(failures) if failures else "all GPU checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

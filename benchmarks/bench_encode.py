"""Vision encoder throughput, with transformers as the peer, measured in the same run.

    .venv/bin/python benchmarks/bench_encode.py [--quick] [--repeats 3] [--flex] [--only qwen2.5|internvit|pixtral]

1. Our CLIP encoder vs transformers' ``CLIPVisionModel`` on the same views: ViT-B/16
   sized random weights (width 768, 12 layers, 12 heads, 224 px, patch 16), float32.
   At feature layer -1 both run all 12 layers; at -2 (LLaVA's choice) transformers runs
   all 12 to return ``hidden_states[-2]`` while we stop after 11.
2. Packed vs padded encoding of mixed-aspect views at their native sizes: one packed
   sequence with block-diagonal attention vs a batch padded to the largest H x W with a
   key mask (same numbers, checked).
3. Achieved GFLOP/s of our encoder vs the float32 matrix-multiply peak (``torch.mm``).
4. Block-diagonal attention implementations (SDPA + block mask, SDPA per segment, the
   default "auto" (per segment, runs of equal segments batched), and with ``--flex``
   compiled flex_attention, which compiles anew for every length) per packed length.
5. Qwen2.5-VL's windowed vision tower vs transformers' ``Qwen2_5_VisionTransformerPretrainedModel``
   on the same processor output (3 images of different aspect ratios packed in one call):
   random weights at Qwen2.5-VL's head size and window geometry (head_dim 80, 112 px windows,
   full attention at every 4th layer) but narrower and shallower than the 7B tower (width 640,
   8 layers; ``--quick``: 4), float32.
6. InternViT vs transformers' ``InternVLVisionModel`` (``last_hidden_state``) on InternVL
   tiles of 448 px (1025 tokens each, CLS included): random weights at InternViT-300M's
   head size (64) with layer scale, narrower and shallower than the released tower
   (width 512, 6 layers; ``--quick``: 3), 2 tiles a call, float32.

7. Pixtral's tower vs transformers' ``PixtralVisionModel`` on the same images (3 images of
   different aspect ratios; transformers takes them padded to the largest with
   ``image_sizes`` and packs them into one sequence with a dense block-diagonal mask, we
   pack them as they are and attend per image): random weights at Pixtral-12B's head size
   (64) and patch (16) but narrower and shallower (width 512, 6 layers; ``--quick``: 3),
   float32. transformers only packs (it has no padded batch); the second ratio is ours
   packed with per-image attention (the default) vs ours packed with the dense mask. Timed
   twice: wall time at the default threads, and CPU time at one thread (steadier here).

Times are the best of ``--repeats`` runs (the VM is noisy; the best run is the least
disturbed one). ``torch.set_num_threads`` is left at its default.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import torch  # noqa: E402

from anyres.encode import load_encoder, packed_attention  # noqa: E402
from anyres.encode.layers import run_blocks  # noqa: E402
from timing import best_time, best_times  # noqa: E402

VIT_B16 = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
               image_size=224, patch_size=16)  # fmt: skip
SMALL = dict(hidden_size=384, intermediate_size=1536, num_hidden_layers=6, num_attention_heads=6,
             image_size=224, patch_size=16)  # fmt: skip
QWEN2_5 = dict(hidden_size=640, intermediate_size=1728, num_heads=8, out_hidden_size=1024, window_size=112)
# (H, W) of the images of section 5: 16x16, 12x24 and 20x10 patches (windows of 4x4 merged tokens)
QWEN_IMAGES = [(224, 224), (168, 336), (280, 140)]
PIXTRAL = dict(hidden_size=512, intermediate_size=2048, num_attention_heads=8, patch_size=16)
# (H, W) of section 7's images: 24x24, 16x32 and 28x14 patches (1480 in all)
PIXTRAL_IMAGES = [(384, 384), (256, 512), (448, 224)]
# (H, W) of 8 views of different aspect ratios, ~160^2 pixels each, native (no resize)
MIXED = [(160, 160), (128, 192), (192, 128), (112, 224), (224, 112), (144, 176), (176, 144), (96, 256)]


def build(config: dict, folder: Path):
    from transformers import CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(0)
    peer = CLIPVisionModel(CLIPVisionConfig(**config)).eval()
    peer.save_pretrained(folder)
    return peer


def vit_flops(encoder, h: int, w: int) -> float:
    """Multiply-adds x 2 of one view: patch embedding, then per layer qkv, scores, mix, proj, MLP."""
    p, d = encoder.patch_size, encoder.hidden_size
    n = encoder.num_prefix_tokens + (h // p) * (w // p)
    di = encoder.blocks[0].mlp.fc1.out_features
    per_layer = 2 * n * d * 3 * d + 2 * 2 * n * n * d + 2 * n * d * d + 2 * 2 * n * d * di
    return 2 * (n - encoder.num_prefix_tokens) * 3 * p * p * d + len(encoder.blocks) * per_layer


def encode_padded(encoder, views: list[torch.Tensor]) -> list[torch.Tensor]:
    """Pad every view's tokens to the largest grid (max H x max W) and mask the padding keys."""
    p, P = encoder.patch_size, encoder.num_prefix_tokens
    grids = [(v.shape[1] // p, v.shape[2] // p) for v in views]
    n_max = P + max(h for h, _ in grids) * max(w for _, w in grids)
    x = torch.zeros(len(views), n_max, encoder.hidden_size)
    valid = torch.zeros(len(views), n_max, dtype=torch.bool)
    for i, (view, (h, w)) in enumerate(zip(views, grids)):
        patches, _ = encoder.patchify(view)
        tokens = encoder.patch_embed(patches) + encoder.position_embedding((h, w))[P:]
        if P:
            x[i, 0] = encoder.cls_token + encoder.position_embedding((h, w))[0]
        x[i, P : P + h * w] = tokens
        valid[i, : P + h * w] = True
    if encoder.pre_norm is not None:
        x = encoder.pre_norm(x)
    x, _ = run_blocks(encoder.blocks, x, attn_mask=valid[:, None, None, :])
    return [x[i, P : P + h * w] for i, (h, w) in enumerate(grids)]


def matmul_peak(repeats: int, n: int = 2048) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n**3 / best_time(lambda: torch.mm(a, b), repeats) / 1e9


def attention_table(repeats: int, with_flex: bool) -> list[tuple]:
    cases = [(16,) * 64, (49,) * 32, (197,) * 8, (256, 144, 400, 576, 100, 324, 196, 64), (577,) * 4, (1024, 2048),
             (64,) * 6 + (32,) * 2 + (64,) * 6 + (32,) * 2]  # the last: Qwen2.5-VL windows, 2 images  # fmt: skip
    rows = []
    for lengths in cases:
        q, k, v = (torch.randn(1, 12, sum(lengths), 64) for _ in range(3))
        ref = packed_attention(q, k, v, lengths, "loop")
        row = [f"{len(lengths)} x ~{sum(lengths) // len(lengths)}", sum(lengths)]
        for impl in ("mask", "loop", "auto", "flex"):
            if impl == "flex" and not with_flex:
                row.append(None)
                continue
            try:
                out = packed_attention(q, k, v, lengths, impl)
                assert (out - ref).abs().max() < 1e-4, f"{impl} disagrees"
                row.append(best_time(lambda: packed_attention(q, k, v, lengths, impl), repeats) * 1e3)
            except Exception as exc:  # flex needs a working compiler
                print(f"  {impl} unavailable: {exc!r:.120}")
                row.append(None)
        rows.append(tuple(row))
    return rows


def qwen2_5_section(quick: bool, repeats: int) -> None:
    import numpy as np
    from PIL import Image
    from transformers import Qwen2_5_VLVisionConfig
    from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VisionTransformerPretrainedModel
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    depth = 4 if quick else 8
    config = Qwen2_5_VLVisionConfig(**QWEN2_5, depth=depth, fullatt_block_indexes=list(range(3, depth, 4)))
    torch.manual_seed(0)
    peer = Qwen2_5_VisionTransformerPretrainedModel(config).eval()
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in QWEN_IMAGES]
    batch = Qwen2VLImageProcessorPil(max_pixels=448 * 448)(images=images, return_tensors="pt")
    pixels, grid = batch["pixel_values"], batch["image_grid_thw"]
    with tempfile.TemporaryDirectory() as tmp:
        peer.save_pretrained(tmp)
        encoder, looped = load_encoder(tmp), load_encoder(tmp)
    diff = (encoder.forward_packed(pixels, grid) - peer(pixels, grid_thw=grid).pooler_output).abs().max().item()
    looped.set_packed_attention("loop")  # one SDPA call per window, as transformers
    t_peer, t_ours, t_loop = best_times(
        [lambda: peer(pixels, grid_thw=grid).pooler_output, lambda: encoder.forward_packed(pixels, grid),
         lambda: looped.forward_packed(pixels, grid)], repeats, warm_up=True)  # fmt: skip
    grids = " + ".join(f"{h}x{w}" for _, h, w in grid.tolist())
    print(f"\n5. Qwen2.5-VL tower (width 640, {depth} layers, windows of 112 px, full attention at "
          f"{config.fullatt_block_indexes}), {grids} patches packed ({pixels.shape[0]} patches)")
    print(f"   {'transformers ms':>16} {'ours ms':>9} {'speedup':>8} {'max |diff|':>11} {'ours, windows looped ms':>24}")
    print(f"   {t_peer * 1e3:>16.1f} {t_ours * 1e3:>9.1f} {t_peer / t_ours:>7.2f}x {diff:>11.1e} {t_loop * 1e3:>24.1f}")


def internvit_section(quick: bool, repeats: int) -> None:
    from transformers import InternVLVisionConfig, InternVLVisionModel

    depth = 3 if quick else 6
    config = InternVLVisionConfig(hidden_size=512, intermediate_size=2048, num_hidden_layers=depth,
                                  num_attention_heads=8, attention_bias=True)
    torch.manual_seed(0)
    peer = InternVLVisionModel(config).eval()
    pixels = torch.randn(2, 3, 448, 448)
    with tempfile.TemporaryDirectory() as tmp:
        peer.save_pretrained(tmp)
        encoder = load_encoder(tmp, feature_layer=-1)
    diff = (encoder.forward_features(pixels, keep_cls=True) - peer(pixels).last_hidden_state).abs().max().item()
    t_peer, t_ours = best_times(
        [lambda: peer(pixels).last_hidden_state, lambda: encoder.forward_features(pixels, keep_cls=True)],
        repeats, warm_up=True)  # fmt: skip
    print(f"\n6. InternViT (width 512, {depth} layers, layer scale), 2 tiles of 448x448 (1025 tokens each)")
    print(f"   {'transformers ms':>16} {'ours ms':>9} {'speedup':>8} {'max |diff|':>11}")
    print(f"   {t_peer * 1e3:>16.1f} {t_ours * 1e3:>9.1f} {t_peer / t_ours:>7.2f}x {diff:>11.1e}")


def pixtral_section(quick: bool, repeats: int) -> None:
    from transformers import PixtralVisionConfig, PixtralVisionModel

    layers = 3 if quick else 6
    torch.manual_seed(0)
    peer = PixtralVisionModel(PixtralVisionConfig(**PIXTRAL, num_hidden_layers=layers)).eval()
    H, W = max(h for h, _ in PIXTRAL_IMAGES), max(w for _, w in PIXTRAL_IMAGES)
    pixels = torch.zeros(len(PIXTRAL_IMAGES), 3, H, W)
    views = []
    for i, (h, w) in enumerate(PIXTRAL_IMAGES):
        pixels[i, :, :h, :w] = torch.randn(3, h, w)
        views.append(pixels[i, :, :h, :w].contiguous())
    sizes = torch.tensor(PIXTRAL_IMAGES)
    with tempfile.TemporaryDirectory() as tmp:
        peer.save_pretrained(tmp)
        encoder, masked = load_encoder(tmp), load_encoder(tmp)
    masked.set_packed_attention("mask")  # one SDPA call over the packed sequence, block-diagonal mask
    ref = peer(pixels, image_sizes=sizes).last_hidden_state[0]
    diff = (torch.cat(encoder.forward_views(views)) - ref).abs().max().item()
    t_peer, t_ours, t_mask = best_times(
        [lambda: peer(pixels, image_sizes=sizes).last_hidden_state, lambda: encoder.forward_views(views),
         lambda: masked.forward_views(views)], repeats, warm_up=True)  # fmt: skip
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # CPU time of one thread: steadier than wall time on a shared VM
    try:
        c_peer, c_ours, c_mask = best_times(
            [lambda: peer(pixels, image_sizes=sizes).last_hidden_state, lambda: encoder.forward_views(views),
             lambda: masked.forward_views(views)], repeats, warm_up=True, clock=time.process_time)  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    grids = " + ".join(f"{h // 16}x{w // 16}" for h, w in PIXTRAL_IMAGES)
    print(f"\n7. Pixtral tower (width 512, {layers} layers, head 64, patch 16), {grids} patches "
          f"({ref.shape[0]} tokens) in one call")
    print(f"   {'transformers ms':>16} {'ours ms':>9} {'speedup':>8} {'max |diff|':>11} {'ours, dense mask ms':>20} "
          f"{'per-image/mask':>15}")
    print(f"   {t_peer * 1e3:>16.1f} {t_ours * 1e3:>9.1f} {t_peer / t_ours:>7.2f}x {diff:>11.1e} {t_mask * 1e3:>20.1f} "
          f"{t_mask / t_ours:>14.2f}x   wall, {threads} threads")
    print(f"   {c_peer * 1e3:>16.1f} {c_ours * 1e3:>9.1f} {c_peer / c_ours:>7.2f}x {'':>11} {c_mask * 1e3:>20.1f} "
          f"{c_mask / c_ours:>14.2f}x   CPU time, 1 thread")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 6-layer width-384 ViT, fewer views")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--flex", action="store_true", help="also time compiled flex_attention (slow to compile)")
    sections = {"qwen2.5": qwen2_5_section, "internvit": internvit_section, "pixtral": pixtral_section}
    parser.add_argument("--only", choices=sorted(sections), help="run one section only")
    args = parser.parse_args()
    if args.only:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, best of {args.repeats}")
        with torch.inference_mode():
            sections[args.only](args.quick, args.repeats)
        return
    config = SMALL if args.quick else VIT_B16
    n_views = 2 if args.quick else 4
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, best of {args.repeats}")

    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        peer = build(config, Path(tmp))
        ours = {layer: load_encoder(tmp, feature_layer=layer) for layer in (-1, -2)}
        pixels = torch.randn(n_views, 3, 224, 224)
        name = "ViT-B/16" if not args.quick else "ViT-S/16-ish (6 layers)"
        print(f"\n1. {name}, {n_views} views of 224x224: ours vs transformers CLIPVisionModel (sdpa)")
        print(f"   {'feature layer':<14} {'transformers ms':>16} {'ours ms':>9} {'speedup':>8} {'max |diff|':>11}")
        t_full = None
        for layer, encoder in ours.items():
            ref = peer(pixels, output_hidden_states=True).hidden_states[layer]
            diff = (encoder.forward_features(pixels, keep_cls=True) - ref).abs().max().item()
            t_peer, t_ours = best_times(
                [lambda: peer(pixels, output_hidden_states=True).hidden_states[layer],
                 lambda: encoder.forward_features(pixels, keep_cls=True)], args.repeats, warm_up=True)  # fmt: skip
            print(f"   {layer:<14} {t_peer * 1e3:>16.1f} {t_ours * 1e3:>9.1f} {t_peer / t_ours:>7.2f}x {diff:>11.1e}")
            t_full = t_full or t_ours

        encoder = ours[-1]
        views = [torch.randn(3, h, w) for h, w in (MIXED[:4] if args.quick else MIXED)]
        packed_out = encoder.forward_views(views)
        padded_out = encode_padded(encoder, views)
        diff = max((a - b).abs().max().item() for a, b in zip(packed_out, padded_out))
        t_packed, t_padded = best_times(
            [lambda: encoder.forward_views(views), lambda: encode_padded(encoder, views)], args.repeats, warm_up=True)  # fmt: skip
        tokens = sum(a.shape[0] for a in packed_out)
        p = encoder.patch_size
        padded_tokens = len(views) * (max(v.shape[1] for v in views) // p) * (max(v.shape[2] for v in views) // p)
        print(f"\n2. {len(views)} mixed-aspect views at native size ({tokens} patch tokens; padded batch holds "
              f"{padded_tokens})")
        print(f"   {'':<8} {'ms':>9} {'views/s':>9}")
        print(f"   {'padded':<8} {t_padded * 1e3:>9.1f} {len(views) / t_padded:>9.2f}")
        print(f"   {'packed':<8} {t_packed * 1e3:>9.1f} {len(views) / t_packed:>9.2f}")
        print(f"   packed/padded throughput: {t_padded / t_packed:.2f}x   (max |diff| {diff:.1e})")

        flops = sum(vit_flops(encoder, v.shape[1], v.shape[2]) for v in views)
        peak = matmul_peak(args.repeats)
        achieved = flops / t_packed / 1e9
        single = n_views * vit_flops(encoder, 224, 224) / t_full / 1e9
        print("\n3. achieved GFLOP/s vs the float32 torch.mm peak (2048^3)")
        print(f"   torch.mm peak          {peak:>7.1f} GFLOP/s")
        print(f"   ours, 224x224 batch    {single:>7.1f} GFLOP/s  ({single / peak:.0%} of peak)")
        print(f"   ours, packed views     {achieved:>7.1f} GFLOP/s  ({achieved / peak:.0%} of peak)")

        print("\n4. block-diagonal attention, 12 heads x 64, ms (lower is better)")
        print(f"   {'segments':<14} {'N':>6} {'sdpa+mask':>10} {'sdpa loop':>10} {'auto':>10} {'flex (compiled)':>16}")
        for label, n, *times in attention_table(args.repeats, with_flex=args.flex):
            cells = [f"{t:>10.2f}" if t is not None else f"{'-':>10}" for t in times]
            print(f"   {label:<14} {n:>6} {cells[0]} {cells[1]} {cells[2]} {cells[3]:>16}")

        qwen2_5_section(args.quick, args.repeats)
        internvit_section(args.quick, args.repeats)
        pixtral_section(args.quick, args.repeats)


if __name__ == "__main__":
    main()

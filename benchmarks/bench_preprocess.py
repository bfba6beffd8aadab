"""anyres preprocessing against the transformers PIL processors, from one run.

    .venv/bin/python benchmarks/bench_preprocess.py [--repeat 3] [--presets llava-next,...]

Image mix: a 4032x3024 JPEG photo, a 1240x1754 scanned page, a 1920x1080 screenshot, an
800x6000 infographic and a 300x200 JPEG thumbnail (drawn here). Every comparison starts
from the same input on both sides, single-threaded (torch.set_num_threads(1)):

- "memory": decoded RGB images in, processor output out (a training loader holding PIL
  images). transformers' processor vs anyres exact vs anyres fast.
- "files": image files in (decode included on both sides; transformers decodes with
  PIL's open + convert("RGB"), as its ``load_image``). Here the fast path may decode
  JPEGs at a reduced DCT scale.
- workers: anyres exact and fast from files with num_workers=2 against one process,
  on the mix repeated 4 times (warm pool).

Before timing, each preset's exact output is checked against transformers' (max abs
difference <= 1e-5), and the fast path's deviation from the exact views is measured in
uint8 levels: the resize kernel alone (from decoded images) and with DCT decoding (from
files). Finally, from the JPEG photo: full decode vs the fast path's reduced decode and
its preprocessing, timed separately. Ratios are anyres over transformers (higher is
better) measured in this run; the VM is noisy, so each time is the best of --repeat.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import anyres  # noqa: E402
from anyres.image.memory import planar  # noqa: E402
from anyres.pixels import preprocess, render_views  # noqa: E402
from anyres.pixels.fast import load_for_plan, render_views_fast  # noqa: E402
from timing import best_time  # noqa: E402

PRESETS = ["llava-next", "qwen2-vl", "internvl", "idefics3", "smolvlm", "idefics2", "siglip2", "internvl3.5", "aria"]
ONE_SAMPLE = ("idefics3", "smolvlm", "idefics2")  # transformers batches these images as one sample


def photo(w: int, h: int, seed: int = 0) -> Image.Image:
    """Smooth colour fields with sensor-like noise: a stand-in for a natural photo."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, size=(h // 64 + 2, w // 64 + 2, 3)).astype(np.uint8)
    img = Image.fromarray(small).resize((w, h), Image.BICUBIC)
    arr = np.asarray(img).astype(np.int16) + rng.integers(-12, 12, size=(h, w, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def image_mix(folder: Path) -> list[Path]:
    from anyres.reports.samples import SAMPLES, render_sample

    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "photo.jpg", folder / "page.png", folder / "screenshot.png", folder / "infographic.png",
             folder / "thumb.jpg"]
    photo(4032, 3024).save(paths[0], quality=90)
    render_sample(SAMPLES[1])[0].save(paths[1])
    render_sample(SAMPLES[3])[0].save(paths[2])
    photo(800, 6000, 1).save(paths[3])
    photo(300, 200, 2).save(paths[4], quality=90)
    return paths


def reference(preset: str):
    """The transformers PIL image processor as the model's processor calls it."""
    if preset in ("gemma3", "pixtral", "mistral3", "mllama", "gemma4"):
        from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil
        from transformers.models.gemma4.image_processing_pil_gemma4 import Gemma4ImageProcessorPil
        from transformers.models.mllama.image_processing_pil_mllama import MllamaImageProcessorPil
        from transformers.models.pixtral.image_processing_pil_pixtral import PixtralImageProcessorPil

        px = anyres.get_preset(preset).pixels
        return {
            "gemma3": lambda: Gemma3ImageProcessorPil(size={"height": 896, "width": 896}),
            "pixtral": lambda: PixtralImageProcessorPil(),
            # PixtralProcessor passes patch_size * spatial_merge_size = 28
            "mistral3": lambda: PixtralImageProcessorPil(size={"longest_edge": 1540}, patch_size={"height": 28, "width": 28}),
            "mllama": lambda: MllamaImageProcessorPil(size={"height": 560, "width": 560}, image_mean=list(px.mean),
                                                      image_std=list(px.std)),
            "gemma4": lambda: Gemma4ImageProcessorPil(),
        }[preset]()
    from tests.pixels import test_hf_parity, test_hf_parity_idefics_siglip

    try:
        return test_hf_parity._reference(preset)
    except KeyError:
        return test_hf_parity_idefics_siglip._reference(preset)


def deviation(sources, preset: str, from_files: bool) -> str:
    """max |fast - exact| in uint8 levels, the share of values off by more than one
    level, and the mean, over every view of the mix."""
    worst, share, total, count = 0, 0.0, 0.0, 0
    for src in sources:
        im = anyres.load_image(src)
        p = anyres.plan(im, preset)
        exact = [planar(v) for v in render_views(im, p)]
        if from_files:
            decoded, _ = load_for_plan(str(src), preset, {})
            fast = render_views_fast(decoded, p)
        else:
            fast = render_views_fast(im, p)
        for a, b in zip(exact, fast):
            d = np.abs(a.astype(int) - b.astype(int))
            worst, share = max(worst, int(d.max())), max(share, float((d > 1).mean()))
            total, count = total + float(d.sum()), count + d.size
    return f"max {worst}, >1: {100 * share:.2f}%, mean {total / count:.3f}"


def check_parity(preset: str, images, ref, per_image: bool, kw: dict) -> None:
    refs = [ref([im], return_tensors="np", **kw) for im in images] if per_image else [ref(images, return_tensors="np")]
    ours = [preprocess([im], preset, output="hf") for im in images] if per_image else [preprocess(images, preset, output="hf")]
    for a, b in zip(refs, ours):
        diff = np.abs(np.asarray(a["pixel_values"]) - np.asarray(b["pixel_values"])).max()
        assert diff <= 1e-5, (preset, diff)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--presets", default=",".join(PRESETS))
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        paths = [str(p) for p in image_mix(Path(tmp))]
        images = [anyres.load_image(p) for p in paths]
        n = len(paths)
        rows = []
        print(f"{'preset':<11} {'input':<7} {'transformers':>12} {'exact':>9} {'fast':>9} {'exact/tf':>9} {'fast/tf':>8}")
        for preset in args.presets.split(","):
            ref = reference(preset)
            kw = {"return_row_col_info": True} if preset in ("idefics3", "smolvlm") else {}
            per_image = preset in ONE_SAMPLE
            check_parity(preset, images, ref, per_image, kw)

            def tf(batch):
                return [ref([im], return_tensors="np", **kw) for im in batch] if per_image else ref(batch, return_tensors="np")

            def ours(batch, exact):
                if per_image:
                    return [preprocess([b], preset, output="hf", exact=exact) for b in batch]
                return preprocess(batch, preset, output="hf", exact=exact)

            def tf_files():
                return tf([Image.open(p).convert("RGB") for p in paths])

            for label, t_tf, t_ex, t_fa in (
                ("memory", best_time(lambda: tf(images), args.repeat), best_time(lambda: ours(images, True), args.repeat),
                 best_time(lambda: ours(images, False), args.repeat)),
                ("files", best_time(tf_files, args.repeat), best_time(lambda: ours(paths, True), args.repeat),
                 best_time(lambda: ours(paths, False), args.repeat)),
            ):
                print(f"{preset:<11} {label:<7} {n / t_tf:>10.2f}/s {n / t_ex:>7.2f}/s {n / t_fa:>7.2f}/s "
                      f"{t_tf / t_ex:>9.2f} {t_tf / t_fa:>8.2f}")
            rows.append((preset, deviation(images, preset, False), deviation(paths, preset, True)))

        print("\nfast path deviation from the exact views (uint8 levels)")
        for preset, kernel, files in rows:
            print(f"{preset:<11} kernel only: {kernel:<34} with DCT decoding: {files}")

        print("\nnum_workers=2 against one process, from files (mix x4, warm pool)")
        many = paths * 4
        for preset in args.presets.split(","):
            for exact in (True, False):
                preprocess(many[:4], preset, num_workers=2, exact=exact)  # start the pool
                t1 = best_time(lambda: preprocess(many, preset, exact=exact), max(1, args.repeat - 1))
                t2 = best_time(lambda: preprocess(many, preset, exact=exact, num_workers=2), max(1, args.repeat - 1))
                name = "exact" if exact else "fast"
                print(f"{preset:<11} {name:<5} 1 process {len(many) / t1:6.2f}/s  2 workers {len(many) / t2:6.2f}/s"
                      f"  ratio {t1 / t2:.2f}")

        jpeg = paths[0]
        t_decode = best_time(lambda: Image.open(jpeg).convert("RGB"), args.repeat)
        print(f"\nJPEG 4032x3024: full decode {1000 * t_decode:.1f} ms")
        for preset in args.presets.split(","):
            t_draft = best_time(lambda: load_for_plan(jpeg, preset, {}), args.repeat)
            image, p = load_for_plan(jpeg, preset, {})
            t_pre = best_time(lambda: render_views_fast(image, p), args.repeat)
            print(f"  {preset:<11} fast path: decode {1000 * t_draft:6.1f} ms ({image.width}x{image.height}), "
                  f"preprocess {1000 * t_pre:6.1f} ms; preprocess / full decode = {t_pre / t_decode:.2f}")


if __name__ == "__main__":
    main()

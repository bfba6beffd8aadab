"""anyres preprocessing against the transformers PIL processors, every ratio from one run.

    .venv/bin/python benchmarks/bench_preprocess.py [--repeat 3] [--presets llava-next,...]
        [--kinds pil,numpy,torch,files] [--no-busy] [--no-extras]

Image mix: a 4032x3024 JPEG photo, a 1240x1754 scanned page, a 1920x1080 screenshot, an
800x6000 infographic and a 300x200 JPEG thumbnail (drawn here, written to files).

Each input kind is timed in a fresh subprocess that makes its inputs before anyres (or
transformers) is imported, as a user's data loader does:

- "pil": ``Image.open(path).convert("RGB")``: the user's own PIL images (a 12 MP photo
  is held by Pillow in several 16 MB blocks);
- "numpy": those pixels as H x W x 3 uint8 arrays;
- "torch": as 3 x H x W uint8 tensors;
- "files": paths (decoding included on both sides; transformers decodes with PIL's
  open + convert("RGB"), as its ``load_image``; the fast path may decode JPEGs at a
  reduced DCT scale).

Both sides get the same inputs and one thread (``torch.set_num_threads(1)``; anyres's
default ``num_threads=1``). Ratios are transformers' time over anyres's (higher is
better), best of --repeat, rounds alternating between the three so that a burst of
load hits them alike. The exact path's max |difference| from transformers' output is
printed for each preset and kind.

"busy": the same subprocesses again while one CPU-bound competitor process a core runs
(started and stopped here); "drop" is the busy ratio's fall from the quiet one.

Then (quiet, in this process): workers (num_workers=2 against one process, from files,
the mix x4, warm pool); the fast path's deviation from the exact views in uint8 levels;
and the JPEG photo's full decode against the fast path's reduced decode and preprocess.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
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

from timing import best_time, best_times  # noqa: E402

# every preset with a transformers PIL image processor (hf_reference.REFERENCE_CLASSES; a
# check in main() says if one is missing), and the reference options that change its path
PRESETS = ["llava-next", "llava-onevision", "qwen2-vl", "internvl", "idefics3", "smolvlm", "idefics2", "siglip2",
           "internvl3.5", "aria", "gemma3", "gemma3(do_pan_and_scan=True)", "pixtral", "mistral3", "mllama", "gemma4",
           "qwen2.5-vl", "qwen3-vl", "glm4v", "glm46v", "paddleocr-vl", "ernie4.5-vl", "videollama3",
           "ovis2", "ovis2(crop_to_patches=True)", "minicpm-v-4.6",
           "hunyuan-vl", "deepseek-ocr2", "deepseek-vl", "janus", "deepseek-vl-hybrid"]
ONE_SAMPLE = ("idefics3", "smolvlm", "idefics2")  # transformers batches these images as one sample
KINDS = ["pil", "numpy", "torch", "files"]
MIX = ["photo.jpg", "page.png", "screenshot.png", "infographic.png", "thumb.jpg"]


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
    paths = [folder / name for name in MIX]
    photo(4032, 3024).save(paths[0], quality=90)
    render_sample(SAMPLES[1])[0].save(paths[1])
    render_sample(SAMPLES[3])[0].save(paths[2])
    photo(800, 6000, 1).save(paths[3])
    photo(300, 200, 2).save(paths[4], quality=90)
    return paths


def reference(preset: str):
    """The transformers PIL image processor as the model's processor calls it (the one
    the parity tests compare against)."""
    if preset in ("qwen2.5-vl", "qwen3-vl", "glm4v", "glm46v", "paddleocr-vl", "ernie4.5-vl",
                  "videollama3"):
        from tests.plan import native_oracles

        return native_oracles.image_processor(preset)
    if preset == "gemma3(do_pan_and_scan=True)":  # Gemma3Processor's pan-and-scan defaults
        from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

        return Gemma3ImageProcessorPil(size={"height": 896, "width": 896}, do_pan_and_scan=True,
                                       pan_and_scan_min_crop_size=256, pan_and_scan_max_num_crops=4,
                                       pan_and_scan_min_ratio_to_activate=1.2)
    if preset in ("gemma3", "pixtral", "mistral3", "mllama", "gemma4"):
        from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil
        from transformers.models.gemma4.image_processing_pil_gemma4 import Gemma4ImageProcessorPil
        from transformers.models.mllama.image_processing_pil_mllama import MllamaImageProcessorPil
        from transformers.models.pixtral.image_processing_pil_pixtral import PixtralImageProcessorPil

        import anyres

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
    from tests.pixels import test_hf_parity, test_hf_parity_families, test_hf_parity_idefics_siglip

    for module in (test_hf_parity_families, test_hf_parity, test_hf_parity_idefics_siglip):
        try:
            return module._reference(preset)
        except KeyError:
            continue
    raise KeyError(preset)


# --- one input kind, in a fresh subprocess ---------------------------------------------


def make_inputs(kind: str, paths: list[str]) -> list:
    """The inputs of ``kind``, made with PIL, numpy and torch only (anyres not imported)."""
    if kind == "files":
        return list(paths)
    images = [Image.open(p).convert("RGB") for p in paths]
    if kind == "pil":
        return images
    arrays = [np.asarray(im) for im in images]
    if kind == "numpy":
        return arrays
    import torch

    return [torch.from_numpy(a).permute(2, 0, 1).contiguous() for a in arrays]


def child(kind: str, folder: str, presets: list[str], repeat: int) -> None:
    paths = [str(Path(folder) / name) for name in MIX]
    inputs = make_inputs(kind, paths)  # before anyres is imported
    import torch

    torch.set_num_threads(1)
    from anyres.pixels import preprocess

    out = {}
    for preset in presets:
        ref = reference(preset)
        kw = {"return_row_col_info": True} if preset == "idefics3" else {}
        per_image = preset in ONE_SAMPLE

        def tf(batch):
            if kind == "files":
                batch = [Image.open(p).convert("RGB") for p in batch]
            if per_image:
                return [ref([b], return_tensors="np", **kw) for b in batch]
            return ref(batch, return_tensors="np")

        def ours(batch, exact):
            if per_image:
                return [preprocess([b], preset, output="hf", exact=exact) for b in batch]
            return preprocess(batch, preset, output="hf", exact=exact)

        a, b = tf(inputs), ours(inputs, True)
        a, b = (a, b) if per_image else ([a], [b])
        diff = max(float(np.abs(np.asarray(x["pixel_values"]) - np.asarray(y["pixel_values"])).max())
                   for x, y in zip(a, b))
        ours(inputs, False)  # warm
        t_tf, t_ex, t_fa = best_times(
            [lambda: tf(inputs), lambda: ours(inputs, True), lambda: ours(inputs, False)], repeat
        )
        out[preset] = {"tf": t_tf, "exact": t_ex, "fast": t_fa, "diff": diff}
    print("RESULT " + json.dumps(out))


def run_kind(kind: str, folder: str, presets: list[str], repeat: int) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--folder", folder, "--presets", ",".join(presets),
           "--repeat", str(repeat)]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"{kind}: the subprocess failed:\n{done.stderr[-3000:]}")


class Competitors:
    """One CPU-bound process a core, for the "busy" condition."""

    def __init__(self, n: int) -> None:
        self.n, self.procs = n, []

    def __enter__(self):
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(self.n)]
        time.sleep(0.5)
        return self

    def __exit__(self, *exc) -> None:
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait()


def load_average() -> str:
    try:
        return ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "?"


# --- the parent ---------------------------------------------------------------------------


def deviation(sources, preset: str, from_files: bool) -> str:
    """max |fast - exact| in uint8 levels, the share of values off by more than one
    level, and the mean, over every view of the mix."""
    import anyres
    from anyres.image.memory import planar
    from anyres.pixels import render_views
    from anyres.pixels.fast import load_for_plan, render_views_fast

    worst, share, total, count = 0, 0.0, 0.0, 0
    for src in sources:
        im = anyres.load_image(src)
        p = anyres.plan(im, preset)
        exact = [planar(v) for v in render_views(im, p)]
        fast = render_views_fast(load_for_plan(str(src), preset, {})[0] if from_files else im, p)
        for a, b in zip(exact, fast):
            d = np.abs(a.astype(int) - b.astype(int))
            worst, share = max(worst, int(d.max())), max(share, float((d > 1).mean()))
            total, count = total + float(d.sum()), count + d.size
    return f"max {worst}, >1: {100 * share:.2f}%, mean {total / count:.3f}"


def _stream(_: int) -> float:
    """A memory-streaming loop (uint8 -> int32 arithmetic over 16 MB), timed: the kind of
    work preprocessing is, without any anyres code."""
    a = np.random.default_rng(0).integers(0, 255, (4000, 4000), dtype=np.uint8)
    start = time.perf_counter()
    for _ in range(12):
        (a.astype(np.int32) * 3 + 7) >> 2
    return time.perf_counter() - start


def machine_scaling() -> float:
    """How much faster two processes get the same work done than one on this machine
    (2 x one's time over the slower of two at once): the ceiling for num_workers=2."""
    import multiprocessing

    best = 0.0
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        for _ in range(3):
            one = _stream(0)
            two = max(pool.map(_stream, [0, 1]))
            best = max(best, 2 * one / two)
    return best


def extras(paths: list[str], presets: list[str], repeat: int) -> None:
    import torch

    import anyres
    from anyres.pixels import preprocess
    from anyres.pixels.fast import load_for_plan, render_views_fast

    torch.set_num_threads(1)
    print("\nnum_workers=2 against one process, from files (mix x4, warm pool)")
    print(f"this machine's own ceiling: a memory-streaming numpy loop in 2 processes against 1: "
          f"{machine_scaling():.2f}x (best of 3)")
    many = paths * 4
    for preset in presets:
        for exact in (True, False):
            preprocess(many[:4], preset, num_workers=2, exact=exact)  # start the pool
            t1, t2 = best_times([lambda: preprocess(many, preset, exact=exact),
                                 lambda: preprocess(many, preset, exact=exact, num_workers=2)], max(1, repeat - 1))
            name = "exact" if exact else "fast"
            print(f"{preset:<11} {name:<5} 1 process {len(many) / t1:6.2f}/s  2 workers {len(many) / t2:6.2f}/s"
                  f"  ratio {t1 / t2:.2f}")

    print("\nfast path deviation from the exact views (uint8 levels)")
    images = [anyres.load_image(p) for p in paths]
    for preset in presets:
        print(f"{preset:<11} kernel only: {deviation(images, preset, False):<34} "
              f"with DCT decoding: {deviation(paths, preset, True)}")

    jpeg = paths[0]
    t_decode = best_time(lambda: Image.open(jpeg).convert("RGB"), repeat)
    print(f"\nJPEG 4032x3024: full decode {1000 * t_decode:.1f} ms")
    for preset in presets:
        t_draft = best_time(lambda: load_for_plan(jpeg, preset, {}), repeat)
        image, p = load_for_plan(jpeg, preset, {})
        t_pre = best_time(lambda: render_views_fast(image, p), repeat)
        print(f"  {preset:<11} fast path: decode {1000 * t_draft:6.1f} ms ({image.width}x{image.height}), "
              f"preprocess {1000 * t_pre:6.1f} ms; preprocess / full decode = {t_pre / t_decode:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--presets", default=",".join(PRESETS))
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--no-busy", action="store_true")
    ap.add_argument("--no-extras", action="store_true")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    args = ap.parse_args()
    presets, kinds = args.presets.split(","), args.kinds.split(",")
    if args.child:
        child(args.child, args.folder, presets, args.repeat)
        return
    from anyres.hf_reference import REFERENCE_CLASSES

    missing = sorted(set(REFERENCE_CLASSES) - set(PRESETS))
    if missing:
        print(f"warning: presets with a transformers PIL class that this benchmark lacks: {', '.join(missing)}")
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        paths = [str(p) for p in image_mix(Path(tmp))]
        n = len(paths)
        print(f"{cores} cores; load average before: {load_average()}")
        quiet = {k: run_kind(k, tmp, presets, args.repeat) for k in kinds}
        print(f"quiet done; load average: {load_average()}")
        busy = {}
        if not args.no_busy:
            with Competitors(cores):
                busy = {k: run_kind(k, tmp, presets, args.repeat) for k in kinds}
                print(f"busy ({cores} competitor processes) done; load average: {load_average()}")
        print(f"\n{'preset':<28} {'input':<6} {'tf img/s':>9} {'exact/tf':>9} {'fast/tf':>8} {'max|d|':>8}"
              + ("" if not busy else f" {'busy exact/tf':>14} {'drop':>6} {'busy fast/tf':>13} {'drop':>6}"))
        for preset in presets:
            for k in kinds:
                q = quiet[k][preset]
                line = (f"{preset:<28} {k:<6} {n / q['tf']:>9.2f} {q['tf'] / q['exact']:>9.2f} "
                        f"{q['tf'] / q['fast']:>8.2f} {q['diff']:>8.1e}")
                if busy:
                    b = busy[k][preset]
                    be, bf = b["tf"] / b["exact"], b["tf"] / b["fast"]
                    de = 1 - be / (q["tf"] / q["exact"])
                    df = 1 - bf / (q["tf"] / q["fast"])
                    line += f" {be:>14.2f} {100 * de:>5.0f}% {bf:>13.2f} {100 * df:>5.0f}%"
                print(line)
        if not args.no_extras:
            extras(paths, presets, args.repeat)


if __name__ == "__main__":
    main()

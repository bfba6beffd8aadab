"""anyres's numba resampler against Pillow's ``Image.resize``, from one run.

    .venv/bin/python benchmarks/bench_resample.py [--repeat 5]

A 4032x3024 photo-like RGB image (bench_preprocess's ``photo``) resized to the sizes
the presets resize it to (their plans' first canvas steps), plus 1344x1008 and
980x980 Lanczos. Pillow is single-threaded C; ours runs with 1 thread (the serial
kernels) and 2 threads (numba.set_num_threads(2)). Every output is checked equal to
Pillow's (max difference 0) before timing. Times are the best of --repeat, rounds
alternating between the contenders (the VM is shared and noisy): wall-clock for all
three, and the process CPU time of Pillow and our single thread ("cpu" columns), which
another agent's load on the shared cores disturbs less. "GMAC/s 1T" is our single
thread's rate of 32-bit multiply-accumulates (Pillow's 22-bit fixed-point weights
times uint8 values, both passes): what bounds an exact resize. The first call's JIT compile
(or cache load) time is reported separately.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from bench_preprocess import PRESETS, image_mix, photo  # noqa: E402
from timing import best_times  # noqa: E402


def best_cpu_times(fns, repeats: int) -> list[float]:
    """best_times in process CPU seconds (single-threaded contenders only)."""
    return best_times(fns, repeats, clock=time.process_time)

CASES = [  # (preset that makes this resize, filter, size)
    ("llava-next base", Image.BICUBIC, (336, 336)),
    ("llava-next grid", Image.BICUBIC, (672, 504)),
    ("qwen2-vl", Image.BICUBIC, (1148, 840)),
    ("internvl tiles", Image.BICUBIC, (1792, 1344)),
    ("internvl thumb", Image.BICUBIC, (448, 448)),
    ("(1344x1008)", Image.BICUBIC, (1344, 1008)),
    ("idefics3", Image.LANCZOS, (1456, 1092)),
    ("(980x980)", Image.LANCZOS, (980, 980)),
]


def macs(src: tuple[int, int], size: tuple[int, int], flt: int) -> int:
    """The multiply-accumulates of Pillow's two passes (4 byte lanes a pixel, RGBX): each
    output value of a pass sums its window of inputs. The horizontal pass runs over the
    rows the vertical windows read (all of them when it comes first)."""
    from anyres.pixels import resample

    (w, h), (xsize, ysize) = src, size
    _, bh, _ = resample.coefficients(w, 0.0, float(w), xsize, flt)
    _, bv, _ = resample.coefficients(h, 0.0, float(h), ysize, flt)
    taps_h, taps_v = int(bh[1::2].sum()), int(bv[1::2].sum())  # summed over the outputs of one line
    if resample.horizontal_first(w, h, xsize, ysize):
        return 4 * (taps_h * h + taps_v * xsize)
    return 4 * (taps_v * w + taps_h * ysize)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    import numba

    from anyres.image.memory import contiguous_images
    from anyres.pixels import resample

    contiguous_images()  # Pillow's memory exported without a copy, as anyres decodes
    image = photo(4032, 3024)

    start = time.perf_counter()
    resample.set_threads(1)
    resample.resize_image(image, (33, 17), Image.BICUBIC)
    first_serial = time.perf_counter() - start
    start = time.perf_counter()
    resample.set_threads(2)
    resample.resize_image(image, (1000, 700), Image.BICUBIC)
    first_parallel = time.perf_counter() - start
    print(f"first call (import numba, compile or load the cache): serial {first_serial:.2f} s, "
          f"parallel {first_parallel:.2f} s; numba threads available {numba.config.NUMBA_NUM_THREADS}, "
          f"threading layer {numba.threading_layer()}")

    def ours(size, flt, threads):
        def run():
            resample.set_threads(threads)
            return resample.resize_image(image, size, flt)

        return run

    print(f"{'resize 4032x3024 to':<28} {'filter':<8} {'Pillow':>8} {'ours 1T':>8} {'ours 2T':>8} "
          f"{'Pil/1T':>7} {'Pil/2T':>7} | {'cpu Pil':>8} {'cpu 1T':>8} {'Pil/1T':>7} {'GMAC/s 1T':>9}")
    for label, flt, size in CASES:
        ref = np.asarray(image.resize(size, flt))
        for threads in (1, 2):
            got = np.asarray(ours(size, flt, threads)())
            assert np.array_equal(got, ref), (label, threads, int(np.abs(got.astype(int) - ref).max()))
        t_pil, t1, t2 = best_times(
            [lambda: image.resize(size, flt), ours(size, flt, 1), ours(size, flt, 2)], args.repeat
        )
        c_pil, c1 = best_cpu_times([lambda: image.resize(size, flt), ours(size, flt, 1)], args.repeat)
        name = "lanczos" if flt == Image.LANCZOS else "bicubic"
        print(f"{label + ' ' + str(size):<28} {name:<8} {t_pil * 1e3:>6.1f}ms {t1 * 1e3:>6.1f}ms "
              f"{t2 * 1e3:>6.1f}ms {t_pil / t1:>6.2f}x {t_pil / t2:>6.2f}x | {c_pil * 1e3:>6.1f}ms "
              f"{c1 * 1e3:>6.1f}ms {c_pil / c1:>6.2f}x {macs(image.size, size, flt) / c1 / 1e9:>9.2f}")
    resample.set_threads(1)
    rgb_arrays(image, args.repeat)
    exact_path(args.repeat)


def rgb_arrays(image, repeat: int) -> None:
    """A user's H x W x 3 numpy array (3-byte pixels): the peer is the route before the
    kernels read 3-byte pixels (an RGBX copy of the whole array, ``RGBArray.rgbx``, then
    the 4-byte kernels), ours reads the array as it is. Each call gets a fresh
    ``RGBArray`` (its RGBX copy is cached per image). One thread."""
    from anyres.image.arrays import RGBArray
    from anyres.image.memory import image_from_rgbx
    from anyres.pixels import resample

    array = np.ascontiguousarray(np.asarray(image))
    print("\nH x W x 3 numpy array (exact path): RGBX copy first (peer) vs 3-byte pixels read in place (ours)")
    print(f"{'resize 4032x3024 to':<28} {'filter':<8} {'peer':>8} {'ours':>8} {'ratio':>6}")
    for label, flt, size in CASES:
        def peer():
            return image_from_rgbx(resample.resize(RGBArray(array).rgbx(), size, flt, mode="RGBX"))

        def ours():
            return resample.resize_image(RGBArray(array), size, flt)

        assert np.array_equal(np.asarray(peer()), np.asarray(ours()))
        a, b = best_times([peer, ours], repeat)
        name = "lanczos" if flt == Image.LANCZOS else "bicubic"
        print(f"{label + ' ' + str(size):<28} {name:<8} {a * 1e3:>6.1f}ms {b * 1e3:>6.1f}ms {a / b:>5.2f}x")


def exact_path(repeat: int) -> None:
    import tempfile

    import torch

    import anyres
    from anyres.pixels import execute, preprocess

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        images = [anyres.load_image(str(p)) for p in image_mix(Path(tmp))]
    print("\nexact path, preprocess(decoded mix, output='hf'), one thread: Pillow's resize vs ours")
    print(f"{'preset':<11} {'pillow':>9} {'ours':>9} {'ratio':>6} | {'cpu pillow':>10} {'cpu ours':>9} {'ratio':>6}")
    for preset in PRESETS:
        def run(name):
            def go():
                execute.RESAMPLER = name
                return preprocess(images, preset, output="hf")

            return go

        a, b = run("pillow")(), run("auto")()
        assert all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a), preset  # same bits
        t_pil, t_ours = best_times([run("pillow"), run("auto")], repeat)
        c_pil, c_ours = best_cpu_times([run("pillow"), run("auto")], repeat)
        print(f"{preset:<11} {t_pil * 1e3:>7.0f}ms {t_ours * 1e3:>7.0f}ms {t_pil / t_ours:>5.2f}x | "
              f"{c_pil * 1e3:>8.0f}ms {c_ours * 1e3:>7.0f}ms {c_pil / c_ours:>5.2f}x")
    execute.RESAMPLER = "auto"


if __name__ == "__main__":
    main()

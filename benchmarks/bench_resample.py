"""anyres's numba resampler against Pillow's ``Image.resize``, from one run.

    .venv/bin/python benchmarks/bench_resample.py [--repeat 5]

A 4032x3024 photo-like RGB image (bench_preprocess's ``photo``) resized to the sizes
the presets resize it to (their plans' first canvas steps), plus 1344x1008 and
980x980 Lanczos. Pillow is single-threaded C; ours runs with 1 thread (the serial
kernels) and 2 threads (numba.set_num_threads(2)). Every output is checked equal to
Pillow's (max difference 0) before timing. Times are the best of --repeat, rounds
alternating between the contenders (the VM is shared and noisy). The first call's
JIT compile (or cache load) time is reported separately.
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

from bench_preprocess import photo  # noqa: E402
from timing import best_times  # noqa: E402

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
          f"{'Pil/1T':>7} {'Pil/2T':>7}")
    for label, flt, size in CASES:
        ref = np.asarray(image.resize(size, flt))
        for threads in (1, 2):
            got = np.asarray(ours(size, flt, threads)())
            assert np.array_equal(got, ref), (label, threads, int(np.abs(got.astype(int) - ref).max()))
        t_pil, t1, t2 = best_times(
            [lambda: image.resize(size, flt), ours(size, flt, 1), ours(size, flt, 2)], args.repeat
        )
        name = "lanczos" if flt == Image.LANCZOS else "bicubic"
        print(f"{label + ' ' + str(size):<28} {name:<8} {t_pil * 1e3:>6.1f}ms {t1 * 1e3:>6.1f}ms "
              f"{t2 * 1e3:>6.1f}ms {t_pil / t1:>6.2f}x {t_pil / t2:>6.2f}x")
    resample.set_threads(None)


if __name__ == "__main__":
    main()

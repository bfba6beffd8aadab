"""Float comparisons relative to the values' magnitude.

Two float32 computations of one quantity by different kernels (batched vs packed
attention, our fused block vs transformers', another CPU's SIMD width or summation
order) differ by rounding, and rounding scales with the magnitude of the values: an
absolute 1e-5 is ~1 ulp for values near 100 and ~80 ulps for values near 1. So the
suite states tolerances in float32 units of roundoff (``EPS32``, 2**-23) of the
reference's largest magnitude, each call with a comment saying why that many.

``ulps`` is a budget for rounding, not for a bug: a wrong weight, position or order
changes the result by a sizeable fraction of its magnitude, thousands of ulps.
"""

from __future__ import annotations

import os

import numpy as np

EPS32 = float(np.finfo(np.float32).eps)  # 2**-23 ~ 1.19e-7: float32 roundoff of a value near 1


def _array(x) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, without importing torch here
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def error_in_ulps(actual, expected, scale: float | None = None) -> float:
    """max |actual - expected| in float32 roundoff units of ``scale`` (default max |expected|;
    nan if any value is nan)."""
    a, e = _array(actual), _array(expected)
    assert a.shape == e.shape, f"shapes differ: {a.shape} vs {e.shape}"
    if a.size == 0:
        return 0.0
    scale = float(np.abs(e).max()) if scale is None else float(scale)
    return float(np.abs(a - e).max()) / (EPS32 * max(scale, float(np.finfo(np.float32).tiny)))


def assert_close_rel(actual, expected, ulps: float, what: str = "", scale: float | None = None) -> None:
    """``max|actual - expected| <= ulps * EPS32 * scale`` (and the same shape).

    ``scale`` is the magnitude rounding is relative to: max |expected| by default; for a
    sum whose terms cancel, pass the sum of the terms' magnitudes (rounding follows the
    terms, not the small result)."""
    measured = error_in_ulps(actual, expected, scale)
    if os.environ.get("ANYRES_REPORT_ULPS"):
        print(f"\nULPS {what or '?'}: measured {measured:.2f} of {ulps}")
    assert measured <= ulps, (
        f"{what + ': ' if what else ''}differ by {measured:.1f} float32 ulps of the reference's magnitude "
        f"(scale {scale if scale is not None else float(np.abs(_array(expected)).max()):.4g}), allowed {ulps}"
    )

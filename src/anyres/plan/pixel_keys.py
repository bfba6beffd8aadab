"""The reference image processors' pixel keywords as overrides of a preset's PixelSettings.

``image_mean``, ``image_std``, ``rescale_factor`` and ``resample`` (a PIL filter code or
name) replace the preset's values (``fill_mean``: the colour of a "mean" pad fill, where a
reference takes it from elsewhere than its normalisation mean); ``do_rescale=False`` / ``do_normalize=False`` mean a
rescale of 1 / mean 0 and std 1, as in the reference; ``do_resize`` and
``do_convert_rgb`` are accepted only as True (anyres always resizes to the plan and
converts to RGB).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from ..errors import SpecError

PIXEL_KEYS = ("image_mean", "image_std", "rescale_factor", "resample", "do_rescale", "do_normalize", "do_resize",
              "do_convert_rgb", "fill_mean")
# PIL's Image.Resampling codes, as preprocessor_config.json stores them
_FILTERS = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic"}


def _triple(key: str, value: Any) -> tuple[float, float, float]:
    values = (value,) * 3 if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    try:
        out = tuple(float(v) for v in values if not isinstance(v, bool))
    except TypeError:
        out = ()
    if len(out) != 3 or len(tuple(values)) != 3 or not all(math.isfinite(v) for v in out):
        raise SpecError(f"{key} must be a number or three finite numbers (one per RGB channel), got {value!r}")
    if key == "image_std" and any(v == 0 for v in out):
        raise SpecError(f"image_std must not contain 0, got {value!r}")
    return out


def _resample(value: Any) -> str:
    if isinstance(value, str) and value.lower() in _FILTERS.values():
        return value.lower()
    if isinstance(value, int) and not isinstance(value, bool) and value in _FILTERS:
        return _FILTERS[value]
    raise SpecError(f"resample must be one of {', '.join(_FILTERS.values())} or its PIL code "
                    f"({', '.join(f'{k}={v}' for k, v in _FILTERS.items())}), got {value!r}")


def with_pixel_keys(px: Any, kw: dict[str, Any]) -> Any:
    """``px`` (a PixelSettings) with the reference-named pixel keywords in ``kw`` applied."""
    changes: dict[str, Any] = {}
    for key in ("do_resize", "do_convert_rgb"):
        if key in kw and kw[key] is not True:
            raise SpecError(f"{key}={kw[key]!r} is not supported: anyres always "
                            f"{'resizes to the plan' if key == 'do_resize' else 'converts to RGB'}")
    for key in ("do_rescale", "do_normalize"):
        if key in kw and not isinstance(kw[key], bool):
            raise SpecError(f"{key} must be True or False, got {kw[key]!r}")
    if "image_mean" in kw:
        changes["mean"] = _triple("image_mean", kw["image_mean"])
    if "image_std" in kw:
        changes["std"] = _triple("image_std", kw["image_std"])
    if "fill_mean" in kw:  # a "mean" pad fill's colour, when not the normalisation mean
        changes["fill_mean"] = _triple("fill_mean", kw["fill_mean"])
    if "rescale_factor" in kw:
        r = kw["rescale_factor"]
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not math.isfinite(r) or r <= 0:
            raise SpecError(f"rescale_factor must be a positive finite number, got {r!r}")
        changes["rescale"] = float(r)
    if "resample" in kw:
        changes["resample"] = _resample(kw["resample"])
    if kw.get("do_rescale") is False:
        changes["rescale"] = 1.0
    if kw.get("do_normalize") is False:  # the pad colour keeps the mean, as the reference's
        changes["fill_mean"] = changes.get("fill_mean") or px.fill_mean or changes.get("mean", px.mean)
        changes["mean"], changes["std"] = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    return replace(px, **changes) if changes else px

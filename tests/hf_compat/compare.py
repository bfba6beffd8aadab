"""Run one input through the drop-in and through the reference class; compare outcomes."""

from __future__ import annotations

import warnings

import numpy as np

from anyres.hf import AnyresImageProcessor

from ..tolerance import assert_close_rel

ANYRES_KEYS = ("preset", "exact", "num_workers", "apply_exif", "scale_high_bit_depth", "image_processor_type")


def reference_for(ip: AnyresImageProcessor):
    """The reference class built from the drop-in's saved config (as a model folder would load it)."""
    config = {k: v for k, v in ip.to_dict().items() if k not in ANYRES_KEYS}
    return ip._reference_cls(**config)


def outcome(fn):
    """('ok', result) or ('error', the exception): a refusal on both sides is the same outcome."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return "ok", fn()
    except Exception as exc:  # noqa: BLE001 - the reference raises ValueError, TypeError or its validator's error
        return "error", exc


def is_rgb_refusal(result) -> bool:
    """anyres' one documented refusal: an image that the reference keeps with other than 3
    channels (do_convert_rgb off) is a SpecError, where the reference processes it, for the
    families whose output flattens views into patches (``anyres.hf_channels`` serves the others)."""
    from anyres import SpecError

    return result[0] == "error" and isinstance(result[1], SpecError) and "needs RGB images" in str(result[1])


def same_output(ours, ref, what: str = "") -> None:
    ours, ref = dict(ours), dict(ref)
    assert sorted(ours) == sorted(ref), (what, sorted(ours), sorted(ref))
    for key, want in ref.items():
        got = ours[key]
        if isinstance(want, list) and not (want and hasattr(want[0], "shape")):
            assert got == want, (what, key, got, want)
            continue
        want, got = np.asarray(want), np.asarray(got)
        assert got.shape == want.shape, (what, key, got.shape, want.shape)
        assert got.dtype == want.dtype, (what, key, got.dtype, want.dtype)
        if np.issubdtype(want.dtype, np.floating):
            # normalised pixels, (x * rescale - mean) / std in float32 on both sides: a few roundings of values of
            # magnitude up to max |want| (255 with do_rescale=False)
            assert_close_rel(got, want, ulps=8, what=f"{what} {key}")
        else:
            assert np.array_equal(got, want), (what, key)

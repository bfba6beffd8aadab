"""``AnyresImageProcessor`` on images the reference keeps with other than 3 channels.

With ``do_convert_rgb=False`` a reference processes a 4-channel (or 1-channel) array as
it is: its PIL resize turns the array into an RGBA (L) Pillow image, so RGBA is resampled
premultiplied by alpha, and it rescales and normalises each channel with its own entry of
a 4-value (1-value) ``image_mean`` / ``image_std``. This path does the same in anyres
terms: the geometry is the plan's (the images planned as usual), the views are rendered
from the image in its own Pillow mode (``pixels.execute.render_views``: Pillow's resize
for RGBA, zero padding in every channel), and the output is the family's own ``output="hf"``
builder run once a channel, each run seeing that channel in all three places and that
channel's mean and std, its pixel arrays' channel axis then joined.

Families whose output keeps views as images ((..., C, H, W)) are served; the patch-
flattened ones (Qwen2-VL, HunYuan-VL, SigLIP2, Gemma 4, MiniCPM-V 4.6) are refused.
"""

from __future__ import annotations

from typing import Any

from .errors import SpecError

_MODES = {1: "L", 4: "RGBA"}  # what transformers' to_pil_image makes of a uint8 array of that many channels


def channels(image: Any) -> int:
    """The channels of an image as ``as_reference_sees`` hands it on (3 for a source left to
    anyres' decoder)."""
    shape = getattr(image, "shape", None)
    return 3 if shape is None or len(shape) != 3 else int(shape[2])


def _per_channel(value: Any, name: str, n: int) -> list[float]:
    values = [value] * n if isinstance(value, (int, float)) and not isinstance(value, bool) else list(value)
    if len(values) != n:
        raise SpecError(f"{name} must have one value per channel: the images have {n} channels, got {value!r}")
    return [float(v) for v in values]


def kept_channels(ip: Any, seen: list, per_sample: Any, kwargs: dict) -> Any:
    """The reference's output for ``seen`` (HWC uint8 arrays of C != 3 channels, as the
    reference keeps them), with the resolved call arguments ``kwargs``."""
    import numpy as np
    from PIL import Image
    from transformers.feature_extraction_utils import BatchFeature

    from .pixels.execute import render_views
    from .pixels.processor_outputs import allocate_hf
    from .plan import plan

    counts = {channels(s) for s in seen}
    n = counts.pop()
    if counts or n not in _MODES:
        found = sorted({channels(s) for s in seen})
        raise SpecError(f"AnyresImageProcessor needs RGB images, or every image of a call with the same 1 or 4 "
                        f"channels kept as they are (do_convert_rgb=False); got images of {found} channels")
    if not ip._glue.image_shaped:
        raise SpecError(f"AnyresImageProcessor needs RGB images for {ip.preset!r}: its output flattens views into "
                        f"patches, and anyres keeps {n}-channel images only in image-shaped outputs")
    flag = ip._glue.tiling_infers_channels
    if n not in (1, 3) and flag is not None and kwargs.get(flag):
        raise SpecError(f"AnyresImageProcessor({ip.preset!r}): {n}-channel images with {flag}=True fail in the "
                        f"reference ({ip._reference_cls.__name__}.crop_image_to_patches infers a 1- or 3-channel "
                        f"axis); use {flag}=False or RGB images")
    if per_sample is not None and ip._glue.nested is not None:
        raise SpecError(f"AnyresImageProcessor({ip.preset!r}) takes {n}-channel images as a flat list only")
    if kwargs.get("do_pad") is False and ip._glue.unpad is not None:
        raise SpecError(f"AnyresImageProcessor({ip.preset!r}): {n}-channel images with do_pad=False are not supported")
    normalised = kwargs.get("do_normalize") is not False  # else mean and std are unread (a pad colour at most)
    mean = _per_channel(kwargs.get("image_mean"), "image_mean", n) if normalised else None
    std = _per_channel(kwargs.get("image_std"), "image_std", n) if normalised else None
    arrays = [np.ascontiguousarray(s[:, :, 0] if n == 1 else s) for s in seen]
    images = [Image.fromarray(a, _MODES[n]) for a in arrays]
    views = None
    parts = []
    for k in range(n):
        channel = {"image_mean": [mean[k]] * 3, "image_std": [std[k]] * 3} if normalised else {}
        overrides = ip._overrides_for({**kwargs, **channel})
        plans = [plan(im, ip.preset, **overrides) for im in images]
        if views is None:
            views = [[np.asarray(v) for v in render_views(im, p)] for im, p in zip(images, plans)]
        data, fill = allocate_hf(plans, "np")
        for i, vs in enumerate(views):
            for j, v in enumerate(vs):
                one = v if v.ndim == 2 else v[:, :, k]
                fill(i, j, np.broadcast_to(one, (3, *one.shape)))
        parts.append(data)
    out = dict(parts[0])
    for key, value in out.items():
        if key.startswith(("pixel_values", "high_res_pixel_values")) and getattr(value, "ndim", 0) >= 3:
            out[key] = np.concatenate([part[key][..., :1, :, :] for part in parts], axis=-3)
    tensors = kwargs.get("return_tensors")
    tensor_type = None if tensors is None else ("pt" if str(tensors) in ("pt", "TensorType.PYTORCH") else "np")
    glue = ip._glue
    if glue.on_request and not kwargs.get("return_row_col_info"):
        out = {k: v for k, v in out.items() if k not in glue.on_request}
    return BatchFeature(data=out, tensor_type=tensor_type, skip_tensor_conversion=[*glue.on_request, *glue.lists])

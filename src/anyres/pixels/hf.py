"""``output="hf"``: the keys, shapes, dtypes and values of the transformers PIL processor.

Each builder takes the plans and every image's views as (3, H, W) uint8 arrays and
normalises them straight into the output arrays.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..errors import SpecError
from ..plan import Plan, PixelSettings
from .normalize import normalise_view
from .patches import patchify

Views = Sequence[Sequence[Any]]


def _fill(out, views, px: PixelSettings) -> None:
    for k, v in enumerate(views):
        normalise_view(v, px.mean, px.std, px.rescale, out=out[k, :, : v.shape[1], : v.shape[2]])


def llava_next(plans: Sequence[Plan], views: Views, px: PixelSettings) -> dict:
    """``pixel_values`` (images, max views, 3, H, W) zero-padded over views, ``image_sizes``."""
    import numpy as np

    n = max(len(v) for v in views)
    h, w = views[0][0].shape[1:]
    out = np.zeros((len(views), n, 3, h, w), dtype=np.float32)
    for i, vs in enumerate(views):
        _fill(out[i], vs, px)
    result = {
        "pixel_values": out,
        "image_sizes": np.array([[p.image.height, p.image.width] for p in plans], dtype=np.int64),
    }
    if plans[0].params.get("max_views") is not None:  # LLaVA-OneVision's processor adds it
        result["batch_num_images"] = np.ones(len(plans), dtype=np.int64)
    return result


def internvl(plans: Sequence[Plan], views: Views, px: PixelSettings) -> dict:
    """GotOcr2 ``crop_to_patches``: every tile of every image stacked, ``num_patches``."""
    import numpy as np

    flat = [v for vs in views for v in vs]
    h, w = flat[0].shape[1:]
    out = np.empty((len(flat), 3, h, w), dtype=np.float32)
    _fill(out, flat, px)
    return {"pixel_values": out, "num_patches": np.array([len(vs) for vs in views], dtype=np.int64)}


def native(plans: Sequence[Plan], views: Views, px: PixelSettings) -> dict:
    """Qwen2-VL: one patch matrix of (C * T * p * p) rows, ``image_grid_thw``."""
    import numpy as np

    q = plans[0].params
    patch, merge, temporal = q["patch_size"], q["merge_size"], q["temporal_patch_size"]
    counts = [(v.shape[1] // patch) * (v.shape[2] // patch) for (v,) in views]
    out = np.empty((sum(counts), 3 * temporal * patch * patch), dtype=np.float32)
    grids, start = [], 0
    for n, (v,) in zip(counts, views):
        _, gh, gw = patchify(v, patch, merge, temporal, px.mean, px.std, px.rescale, out=out[start : start + n])
        grids.append([1, gh, gw])
        start += n
    return {"pixel_values": out, "image_grid_thw": np.array(grids, dtype=np.int64)}


def idefics3(plans: Sequence[Plan], views: Views, px: PixelSettings) -> dict:
    """One sample holding every image, as transformers treats a flat list of images:
    views zero-padded to the largest, with ``pixel_attention_mask``, rows and cols."""
    import numpy as np

    flat = [v for vs in views for v in vs]
    h = max(v.shape[1] for v in flat)
    w = max(v.shape[2] for v in flat)
    out = np.zeros((1, len(flat), 3, h, w), dtype=np.float32)
    mask = np.zeros((1, len(flat), h, w), dtype=np.int64)
    _fill(out[0], flat, px)
    for k, v in enumerate(flat):
        mask[0, k, : v.shape[1], : v.shape[2]] = 1
    return {
        "pixel_values": out,
        "pixel_attention_mask": mask,
        "rows": [[p.info["rows"] for p in plans]],
        "cols": [[p.info["cols"] for p in plans]],
    }


def single_view(plans: Sequence[Plan], views: Views, px: PixelSettings) -> dict:
    """CLIP-style processors: (images, 3, H, W)."""
    import numpy as np

    shapes = {vs[0].shape for vs in views}
    if len(shapes) != 1:
        raise SpecError(f"output='hf' needs one view shape per batch for {plans[0].preset}, got {sorted(shapes)}")
    h, w = views[0][0].shape[1:]
    out = np.empty((len(views), 3, h, w), dtype=np.float32)
    _fill(out, [vs[0] for vs in views], px)
    return {"pixel_values": out}


BY_STRATEGY = {
    "anyres": llava_next,
    "internvl": internvl,
    "native": native,
    "idefics3": idefics3,
    "fixed": single_view,
    "fixed-pad": single_view,
    "fixed-crop": single_view,
    "dynamic": single_view,
}


def to_hf(plans: Sequence[Plan], views: Views, px: PixelSettings, return_tensors: str) -> dict:
    strategy = plans[0].strategy
    if any(p.strategy != strategy or p.params != plans[0].params for p in plans):
        raise SpecError("output='hf' needs one preset (and the same parameters) for the whole batch")
    if strategy not in BY_STRATEGY:
        raise SpecError(f"preset {plans[0].preset!r} has no transformers processor to imitate; use output='anyres'")
    out = BY_STRATEGY[strategy](plans, views, px)
    if return_tensors == "pt":
        import torch

        out = {k: torch.from_numpy(v) if hasattr(v, "dtype") else v for k, v in out.items()}
    return out

"""``output="hf"``: the keys, shapes, dtypes and values of the transformers PIL processor.

Each builder allocates the output from the plans alone and returns it with a ``fill``
that normalises one (3, H, W) uint8 view straight into its place, so views can be
filled as worker processes deliver them.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from ..errors import SpecError
from ..plan import Plan, PixelSettings
from .normalize import normalise_view
from .patches import patchify

Views = Sequence[Sequence[Any]]
Fill = Callable[[int, int, Any], None]


def _normalise_into(out, v, px: PixelSettings) -> None:
    normalise_view(v, px.mean, px.std, px.rescale, out=out[:, : v.shape[1], : v.shape[2]])


def _offsets(plans: Sequence[Plan]) -> list[int]:
    """Where each image's first view goes in a flat list of every view."""
    out, n = [], 0
    for p in plans:
        out.append(n)
        n += len(p.views)
    return out


def llava_next(plans: Sequence[Plan], px: PixelSettings) -> tuple[dict, Fill]:
    """``pixel_values`` (images, max views, 3, H, W) zero-padded over views, ``image_sizes``."""
    import numpy as np

    n = max(len(p.views) for p in plans)
    w, h = plans[0].views[0].size
    out = np.zeros((len(plans), n, 3, h, w), dtype=np.float32)
    result = {
        "pixel_values": out,
        "image_sizes": np.array([[p.image.height, p.image.width] for p in plans], dtype=np.int64),
    }
    if plans[0].params.get("max_views") is not None:  # LLaVA-OneVision's processor adds it
        result["batch_num_images"] = np.ones(len(plans), dtype=np.int64)
    return result, lambda i, j, v: _normalise_into(out[i, j], v, px)


def internvl(plans: Sequence[Plan], px: PixelSettings) -> tuple[dict, Fill]:
    """GotOcr2 ``crop_to_patches``: every tile of every image stacked, ``num_patches``."""
    import numpy as np

    first = _offsets(plans)
    w, h = plans[0].views[0].size
    out = np.empty((sum(len(p.views) for p in plans), 3, h, w), dtype=np.float32)
    result = {"pixel_values": out, "num_patches": np.array([len(p.views) for p in plans], dtype=np.int64)}
    return result, lambda i, j, v: _normalise_into(out[first[i] + j], v, px)


def native(plans: Sequence[Plan], px: PixelSettings) -> tuple[dict, Fill]:
    """Qwen2-VL: one patch matrix of (C * T * p * p) rows, ``image_grid_thw``."""
    import numpy as np

    q = plans[0].params
    patch, merge, temporal = q["patch_size"], q["merge_size"], q["temporal_patch_size"]
    grids = [(v.size.height // patch, v.size.width // patch) for p in plans for v in p.views]
    if len(grids) != len(plans):
        raise SpecError(f"output='hf' for {plans[0].preset} expects one view an image")
    starts = np.concatenate([[0], np.cumsum([gh * gw for gh, gw in grids])])
    out = np.empty((int(starts[-1]), 3 * temporal * patch * patch), dtype=np.float32)
    result = {"pixel_values": out, "image_grid_thw": np.array([[1, gh, gw] for gh, gw in grids], dtype=np.int64)}

    def fill(i: int, j: int, v: Any) -> None:
        patchify(v, patch, merge, temporal, px.mean, px.std, px.rescale, out=out[starts[i] : starts[i + 1]])

    return result, fill


def idefics3(plans: Sequence[Plan], px: PixelSettings) -> tuple[dict, Fill]:
    """One sample holding every image, as transformers treats a flat list of images:
    views zero-padded to the largest, with ``pixel_attention_mask``, rows and cols."""
    import numpy as np

    first = _offsets(plans)
    sizes = [v.size for p in plans for v in p.views]
    h = max(s.height for s in sizes)
    w = max(s.width for s in sizes)
    out = np.zeros((1, len(sizes), 3, h, w), dtype=np.float32)
    mask = np.zeros((1, len(sizes), h, w), dtype=np.int64)
    for k, s in enumerate(sizes):
        mask[0, k, : s.height, : s.width] = 1
    result = {
        "pixel_values": out,
        "pixel_attention_mask": mask,
        "rows": [[p.info["rows"] for p in plans]],
        "cols": [[p.info["cols"] for p in plans]],
    }
    return result, lambda i, j, v: _normalise_into(out[0, first[i] + j], v, px)


def single_view(plans: Sequence[Plan], px: PixelSettings) -> tuple[dict, Fill]:
    """CLIP-style processors: (images, 3, H, W)."""
    import numpy as np

    shapes = {(p.views[0].size.width, p.views[0].size.height) for p in plans}
    if len(shapes) != 1:
        raise SpecError(f"output='hf' needs one view size per batch for {plans[0].preset}, got {sorted(shapes)}")
    ((w, h),) = shapes
    out = np.empty((len(plans), 3, h, w), dtype=np.float32)
    return {"pixel_values": out}, lambda i, j, v: _normalise_into(out[i], v, px)


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


def hf_layout(plans: Sequence[Plan], px: PixelSettings, return_tensors: str) -> tuple[dict, Fill]:
    """The transformers processor's output for ``plans``, allocated, and the function
    that normalises view j of image i into it (views may arrive in any order)."""
    strategy = plans[0].strategy
    if any(p.strategy != strategy or p.params != plans[0].params for p in plans):
        raise SpecError("output='hf' needs one preset (and the same parameters) for the whole batch")
    if strategy not in BY_STRATEGY:
        raise SpecError(f"preset {plans[0].preset!r} has no transformers processor to imitate; use output='anyres'")
    out, fill = BY_STRATEGY[strategy](plans, px)
    if return_tensors == "pt":  # torch shares the numpy memory that ``fill`` writes
        import torch

        out = {k: torch.from_numpy(v) if hasattr(v, "dtype") else v for k, v in out.items()}
    return out, fill


def to_hf(plans: Sequence[Plan], views: Views, px: PixelSettings, return_tensors: str) -> dict:
    out, fill = hf_layout(plans, px, return_tensors)
    fill_all(fill, views)
    return out


def fill_all(fill: Fill, views: Views) -> None:
    for i, vs in enumerate(views):
        for j, v in enumerate(vs):
            fill(i, j, v)

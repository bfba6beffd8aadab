"""``output="hf"``: the keys, shapes, dtypes and values of the transformers PIL processor.

``HF_OUTPUTS`` maps a strategy to its builder: ``builder(plans, px) -> (output, fill)``
allocates the output from the plans alone and returns it with a ``fill(i, j, view)``
that normalises view j of image i, a (3, H, W) uint8 array, straight into its place, so
views can be filled as worker processes deliver them. A strategy without a transformers
processor to imitate is registered as unsupported; ``register_hf_output`` adds one.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from ..errors import SpecError
from ..layers import LayerRegistry
from ..plan import Plan, PixelSettings
from .normalize import normalise, normalise_view
from .patches import normalised_patch_rows, normalised_patches

Views = Sequence[Sequence[Any]]
Fill = Callable[[int, int, Any], None]
Builder = Callable[[Sequence[Plan], PixelSettings], "tuple[dict, Fill]"]

HF_OUTPUTS: LayerRegistry[Builder] = LayerRegistry(
    "pixels output='hf'", "anyres.pixels.register_hf_output(strategy, builder)"
)


def register_hf_output(strategy: str, builder: Builder, *, replace_existing: bool = False) -> Builder:
    """Give ``strategy`` an ``output="hf"`` builder (one of this module's, or your own)."""
    return HF_OUTPUTS.register(strategy, builder, replace_existing=replace_existing)


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
    if plans[0].params["max_views"] is not None:  # LLaVA-OneVision's processor adds it
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
    """Qwen2-VL and the native family: one patch matrix of (C * T * p * p) rows (patches
    as (C * T, p, p) for PaddleOCR-VL), ``image_grid_thw`` (and VideoLLaMA3's
    ``image_merge_sizes``)."""
    import numpy as np

    c = plans[0].connector
    patch, merge, temporal = c.patch_size, c.packing_merge, c.temporal_patch
    grids = [(v.size.height // patch, v.size.width // patch) for p in plans for v in p.views]
    if len(grids) != len(plans):
        raise SpecError(f"output='hf' for {plans[0].preset} expects one view an image")
    starts = np.concatenate([[0], np.cumsum([gh * gw for gh, gw in grids])])
    flat = np.empty((int(starts[-1]), 3 * temporal * patch * patch), dtype=np.float32)
    # PaddleOCR-VL (patches in raster order, packing_merge 1) keeps each patch as (C * T, p, p)
    out = flat if plans[0].params.get("packed_merge_blocks", True) else flat.reshape(-1, 3 * temporal, patch, patch)
    result = {"pixel_values": out, "image_grid_thw": np.array([[1, gh, gw] for gh, gw in grids], dtype=np.int64)}
    if plans[0].params.get("merge_sizes_output", False):  # VideoLLaMA3: each image's merge size
        result["image_merge_sizes"] = np.full(len(plans), merge, dtype=np.int64)

    def fill(i: int, j: int, v: Any) -> None:
        normalised_patches(v, patch, merge, temporal, px.mean, px.std, px.rescale, out=flat[starts[i] : starts[i + 1]])

    return result, fill


def idefics3(plans: Sequence[Plan], px: PixelSettings) -> tuple[dict, Fill]:
    """One sample holding every image, as transformers treats a flat list of images:
    views zero-padded to the largest, with ``pixel_attention_mask``, rows and cols."""
    import numpy as np

    first = _offsets(plans)
    sizes = [v.size for p in plans for v in p.views]
    h = max(s.height for s in sizes)
    w = max(s.width for s in sizes)
    # written once: a view's pixels by its fill, only the padding of smaller views zeroed here
    out = np.empty((1, len(sizes), 3, h, w), dtype=np.float32)
    mask = np.empty((1, len(sizes), h, w), dtype=np.int64)
    for k, s in enumerate(sizes):
        mask[0, k, : s.height, : s.width] = 1
        if (s.height, s.width) != (h, w):
            out[0, k, :, s.height :] = 0
            out[0, k, :, : s.height, s.width :] = 0
            mask[0, k, s.height :] = 0
            mask[0, k, : s.height, s.width :] = 0
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


def allocate_hf(plans: Sequence[Plan], return_tensors: str) -> tuple[dict, Fill]:
    """The transformers processor's output for ``plans``, allocated, and the function
    that normalises view j of image i into it (views may arrive in any order)."""
    first = plans[0]
    if len({(p.strategy, p.pixels) for p in plans}) > 1 or any(p.params != first.params for p in plans):
        raise SpecError("output='hf' needs one preset (and the same parameters) for the whole batch")
    out, fill = HF_OUTPUTS.get(first.strategy)(plans, first.pixels)
    if return_tensors == "pt":  # torch shares the numpy memory that ``fill`` writes
        import torch

        out = {k: torch.from_numpy(v) if hasattr(v, "dtype") else v for k, v in out.items()}
    return out, fill


def fill_all(fill: Fill, views: Views) -> None:
    for i, vs in enumerate(views):
        for j, v in enumerate(vs):
            fill(i, j, v)


for _name in ("fixed", "fixed-pad", "fixed-crop", "dynamic"):
    register_hf_output(_name, single_view)
register_hf_output("anyres", llava_next)
register_hf_output("internvl", internvl)
register_hf_output("native", native)
register_hf_output("idefics3", idefics3)
for _name in ("slicing", "gpt4v", "s2", "budget"):
    HF_OUTPUTS.unsupported(_name, "it has no transformers processor to imitate; use output='anyres' or 'packed'")


# Gemma 3 and Pixtral / Mistral3 ------------------------------------------------------


def gemma3(plans: Sequence[Plan], px: PixelSettings) -> tuple[dict, Fill]:
    """Gemma3: every view of every image stacked (the image, then its pan-and-scan
    crops), ``num_crops`` an image."""
    import numpy as np

    first = _offsets(plans)
    w, h = plans[0].views[0].size
    out = np.empty((sum(len(p.views) for p in plans), 3, h, w), dtype=np.float32)
    result = {"pixel_values": out, "num_crops": np.array([p.info["num_crops"] for p in plans], dtype=np.int64)}
    return result, lambda i, j, v: _normalise_into(out[first[i] + j], v, px)


def pixtral(plans: Sequence[Plan], px: PixelSettings) -> tuple[dict, Fill]:
    """Pixtral: (images, 3, H, W) zero-padded bottom and right to the batch's largest
    sides (after normalisation, as ``_pad_for_batching`` pads), ``image_sizes`` (h, w)."""
    import numpy as np

    sizes = [p.views[0].size for p in plans]
    h = max(s.height for s in sizes)
    w = max(s.width for s in sizes)
    out = np.zeros((len(plans), 3, h, w), dtype=np.float32)
    result = {"pixel_values": out, "image_sizes": np.array([[s.height, s.width] for s in sizes], dtype=np.int64)}
    return result, lambda i, j, v: _normalise_into(out[i], v, px)


register_hf_output("pan-and-scan", gemma3)
register_hf_output("pixtral", pixtral)


# Mllama and Llama 4 --------------------------------------------------------------------


def mllama(plans: Sequence[Plan], px: PixelSettings) -> tuple[dict, Fill]:
    """Mllama: one sample holding every image, as transformers treats a flat list:
    (1, images, max_image_tiles, 3, tile, tile) zero past each image's tiles,
    ``aspect_ratio_ids`` (1-based index of the grid), ``aspect_ratio_mask`` (tile 0
    always on), ``num_tiles`` a nested list."""
    import numpy as np

    max_tiles = plans[0].params["max_image_tiles"]
    w, h = plans[0].views[0].size
    out = np.zeros((1, len(plans), max_tiles, 3, h, w), dtype=np.float32)
    mask = np.zeros((1, len(plans), max_tiles), dtype=np.int64)
    mask[:, :, 0] = 1
    for i, p in enumerate(plans):
        mask[0, i, : p.info["num_tiles"]] = 1
    result = {
        "pixel_values": out,
        "aspect_ratio_ids": np.array([[p.info["aspect_ratio_id"] for p in plans]], dtype=np.int64),
        "aspect_ratio_mask": mask,
        "num_tiles": [[p.info["num_tiles"] for p in plans]],
    }
    return result, lambda i, j, v: _normalise_into(out[0, i, j], v, px)


register_hf_output("mllama", mllama)
HF_OUTPUTS.unsupported(
    "llama4",
    "transformers 5.23 has only the torchvision Llama4ImageProcessor (antialiased tensor resize, bfloat16 "
    "normalisation), no PIL processor to match exactly; use output='anyres' or 'packed'",
)


# Gemma 4 -------------------------------------------------------------------------------


def gemma4(plans: Sequence[Plan], px: PixelSettings) -> tuple[dict, Fill]:
    """Gemma4: (images, max_patches, patch * patch * 3) patch rows in (row, col) order,
    each patch's pixels row-major with channels last, zero past the image's patches;
    ``image_position_ids`` (x, y) a patch, -1 past them; ``num_soft_tokens_per_image``."""
    import numpy as np

    params = plans[0].params
    patch = params["patch_size"]
    rows = params["max_soft_tokens"] * params["pooling_kernel_size"] ** 2
    out = np.zeros((len(plans), rows, patch * patch * 3), dtype=np.float32)
    pos = np.full((len(plans), rows, 2), -1, dtype=np.int64)
    for i, p in enumerate(plans):
        gh, gw = p.info["patches"]
        xs, ys = np.meshgrid(np.arange(gw), np.arange(gh), indexing="xy")
        pos[i, : gh * gw] = np.stack([xs, ys], axis=-1).reshape(-1, 2)
    result = {
        "pixel_values": out,
        "image_position_ids": pos,
        "num_soft_tokens_per_image": np.array([p.info["num_soft_tokens"] for p in plans], dtype=np.int64),
    }

    def fill(i: int, j: int, v: Any) -> None:
        gh, gw = v.shape[1] // patch, v.shape[2] // patch
        normalised_patch_rows(v, patch, px.mean, px.std, px.rescale, out[i, : gh * gw])

    return result, fill


# --- Idefics2 and SigLIP2 NaFlex (fam-idefics) ---
def idefics2(plans: Sequence[Plan], px: PixelSettings) -> tuple[dict, Fill]:
    """Idefics2: as Idefics3 (one sample holding every view of every image, zero-padded to
    the largest, ``pixel_attention_mask``) without rows and cols."""
    shim = [_WithRowsCols(p) for p in plans]
    result, fill = idefics3(shim, px)  # type: ignore[arg-type]
    del result["rows"], result["cols"]
    return result, fill


class _WithRowsCols:
    """A plan seen with zero rows and cols (the only plan fields the Idefics3 builder
    reads besides its views)."""

    def __init__(self, plan: Plan) -> None:
        self.views, self.info = plan.views, {"rows": 0, "cols": 0}


def naflex(plans: Sequence[Plan], px: PixelSettings) -> tuple[dict, Fill]:
    """SigLIP2: each image's patches as rows of (patch, patch, channel) values, padded to
    ``max_num_patches`` rows; ``pixel_attention_mask`` (int32) marks the real rows,
    ``spatial_shapes`` (int64) the patch grid (rows, cols)."""
    import numpy as np

    c = plans[0].connector
    patch, rows_total = c.patch_size, plans[0].params["max_num_patches"]
    shapes = [p.info["spatial_shapes"] for p in plans]
    counts = [max(gh * gw, rows_total) for gh, gw in shapes]
    if len(set(counts)) != 1:  # the reference cannot stack them either
        raise SpecError(f"output='hf' for {plans[0].preset}: an image has more patches than max_num_patches")
    out = np.zeros((len(plans), counts[0], patch * patch * 3), dtype=np.float32)
    mask = np.zeros((len(plans), counts[0]), dtype=np.int32)
    for i, (gh, gw) in enumerate(shapes):
        mask[i, : gh * gw] = 1
    result = {"pixel_values": out, "pixel_attention_mask": mask,
              "spatial_shapes": np.array(shapes, dtype=np.int64).reshape(len(plans), 2)}

    def fill(i: int, j: int, v: Any) -> None:
        gh, gw = shapes[i]
        normalised_patch_rows(v, patch, px.mean, px.std, px.rescale, out[i, : gh * gw])

    return result, fill


register_hf_output("gemma4", gemma4)
register_hf_output("idefics2", idefics2)
register_hf_output("naflex", naflex)


# --- Aria (fam-idefics) ---
def aria(plans: Sequence[Plan], px: PixelSettings) -> tuple[dict, Fill]:
    """Aria: (crops, 3, M, M), a bool ``pixel_mask`` of each crop's resized part and
    ``num_crops`` (the most crops of an image in the batch: 1 without splitting). Without
    splitting the view is the padded M x M canvas (the mask: its resized content); a
    ``split_image`` crop's view is its resized size, placed top-left and zero-padded here
    (zero normalised, as the reference pads before it normalises; the mask: the view)."""
    import numpy as np

    first = _offsets(plans)
    m = plans[0].params["max_image_size"]
    n = sum(len(p.views) for p in plans)
    out = np.empty((n, 3, m, m), dtype=np.float32)
    mask = np.zeros((n, m, m), dtype=bool)
    zero = normalise_view(np.zeros((3, 1, 1), dtype=np.uint8), px.mean, px.std, px.rescale)
    for i, p in enumerate(plans):
        for j, v in enumerate(p.views):
            r = v.size if p.params["split_image"] else p.canvases[v.canvas].resized
            mask[first[i] + j, : r.height, : r.width] = True
            if tuple(v.size) != (m, m):
                out[first[i] + j] = zero
    result = {"pixel_values": out, "pixel_mask": mask,
              "num_crops": np.array(max(len(p.views) for p in plans), dtype=np.int64)}
    return result, lambda i, j, v: _normalise_into(out[first[i] + j], v, px)


register_hf_output("aria", aria)


# --- Ovis2 (families) ---
def ovis2(plans: Sequence[Plan], px: PixelSettings) -> tuple[dict, Fill]:
    """Ovis2: every view of every image stacked (thumbnail first), ``grids`` (rows, cols)
    an image ((1, 1) without cropping)."""
    import numpy as np

    first = _offsets(plans)
    w, h = plans[0].views[0].size
    out = np.empty((sum(len(p.views) for p in plans), 3, h, w), dtype=np.float32)
    result = {"pixel_values": out, "grids": np.array([list(p.info["grids"]) for p in plans], dtype=np.int64)}
    return result, lambda i, j, v: _normalise_into(out[first[i] + j], v, px)


register_hf_output("ovis2", ovis2)


# --- MiniCPM-V 4.6 (families) ---
def minicpmv4_6(plans: Sequence[Plan], px: PixelSettings) -> tuple[dict, Fill]:
    """MiniCPM-V 4.6: every view's patches side by side in one (1, 3, p, L) array (a view
    of h x w px as (3, p, h * w / p): patch rows of each patch, patches in raster order),
    ``target_sizes`` (h / p, w / p) a view (int32), ``grids`` ((0, 0) without slices) and
    ``num_patches_per_image`` as lists."""
    import numpy as np

    p = plans[0].params["patch_size"]
    first = _offsets(plans)
    sizes = [v.size for pl in plans for v in pl.views]
    starts = np.concatenate([[0], np.cumsum([s.width * s.height // p for s in sizes])]).astype(int)
    out = np.empty((1, 3, p, int(starts[-1])), dtype=np.float32)
    result = {
        "pixel_values": out,
        "target_sizes": np.array([[s.height // p, s.width // p] for s in sizes], dtype=np.int32),
        "grids": [list(pl.info["grids"]) for pl in plans],
        "num_patches_per_image": [len(pl.views) for pl in plans],
    }

    def fill(i: int, j: int, v: Any) -> None:
        k = first[i] + j
        h, w = v.shape[1], v.shape[2]
        # out[0, c, r, a * w + x] is pixel (a * p + r, x): patch row r of every patch, in raster order
        dst = out[0, :, :, starts[k] : starts[k + 1]]
        dst.shape = (3, p, h // p, w)  # in place: raises rather than copy if it could not be a view
        src = v.reshape(3, h // p, p, w).transpose(0, 2, 1, 3)
        normalise(src, px.mean, px.std, px.rescale, axis=0, out=dst)  # one strided pass, no float temporary

    return result, fill


register_hf_output("minicpm-v-4.6", minicpmv4_6)


# --- HunYuan-VL (families) ---
def hunyuan_vl(plans: Sequence[Plan], px: PixelSettings) -> tuple[dict, Fill]:
    """HunYuan-VL: one (patches, C * p * p) matrix, patches in raster order, and
    ``image_grid_thw``."""
    import numpy as np

    patch = plans[0].connector.patch_size
    grids = [p.info["grid_thw"][1:] for p in plans]
    starts = np.concatenate([[0], np.cumsum([gh * gw for gh, gw in grids])]).astype(int)
    out = np.empty((int(starts[-1]), 3 * patch * patch), dtype=np.float32)
    result = {"pixel_values": out, "image_grid_thw": np.array([[1, gh, gw] for gh, gw in grids], dtype=np.int64)}

    def fill(i: int, j: int, v: Any) -> None:
        normalised_patches(v, patch, 1, 1, px.mean, px.std, px.rescale, out=out[starts[i] : starts[i + 1]])

    return result, fill


register_hf_output("hunyuan-vl", hunyuan_vl)


# --- DeepSeek-OCR 2 (families) ---
def deepseek_ocr2(plans: Sequence[Plan], px: PixelSettings) -> tuple[dict, Fill]:
    """DeepSeek-OCR 2: the global views (images, 3, S, S), ``num_local_patches``, and
    every tile of every image in ``pixel_values_local`` when there is one."""
    import numpy as np

    s = plans[0].views[0].size
    shapes = {p.views[0].size for p in plans}
    if len(shapes) != 1:
        raise SpecError(f"output='hf' for {plans[0].preset} needs one global view size per batch, got {sorted(shapes)}")
    glob = np.empty((len(plans), 3, s.height, s.width), dtype=np.float32)
    counts = [len(p.views) - 1 for p in plans]
    first = [sum(counts[:i]) for i in range(len(plans))]
    result = {"pixel_values": glob, "num_local_patches": np.array(counts, dtype=np.int64)}
    local = None
    if sum(counts):
        t = next(p.views[1].size for p in plans if len(p.views) > 1)
        local = result["pixel_values_local"] = np.empty((sum(counts), 3, t.height, t.width), dtype=np.float32)

    def fill(i: int, j: int, v: Any) -> None:
        _normalise_into(glob[i] if j == 0 else local[first[i] + j - 1], v, px)

    return result, fill


register_hf_output("deepseek-ocr2", deepseek_ocr2)


# --- DeepSeek-VL and Janus (families) ---
def deepseek_vl(plans: Sequence[Plan], px: PixelSettings) -> tuple[dict, Fill]:
    """DeepSeek-VL / Janus: (images, 3, 384, 384); the hybrid (``high_res_size``) adds its
    high-resolution views as ``high_res_pixel_values`` (images, 3, 1024, 1024), both
    normalised alike (the class defaults' means and stds are equal)."""
    if plans[0].params["high_res_size"] is None:
        return single_view(plans, px)
    import numpy as np

    out: dict[str, Any] = {}
    for key, j in (("pixel_values", 0), ("high_res_pixel_values", 1)):
        shapes = {p.views[j].size for p in plans}
        if len(shapes) != 1:
            raise SpecError(f"output='hf' needs one {key} size per batch for {plans[0].preset}, got {sorted(shapes)}")
        ((w, h),) = shapes
        out[key] = np.empty((len(plans), 3, h, w), dtype=np.float32)
    low, high = out["pixel_values"], out["high_res_pixel_values"]
    return out, lambda i, j, v: _normalise_into(low[i] if j == 0 else high[i], v, px)


register_hf_output("deepseek-vl", deepseek_vl)  # (images, 3, 384, 384), and the hybrid's high-res views

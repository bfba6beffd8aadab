"""``AnyresImageProcessor``'s glue for Ovis2, MiniCPM-V 4.6, HunYuan-VL, DeepSeek-OCR 2,
DeepSeek-VL (and its hybrid) and Janus (``anyres.hf`` imports this module; it registers on import).

Each family's reference class is its transformers PIL image processor. Where its
processing path does not do what its arguments say, ``as_processed`` states what it does,
so that the drop-in reproduces the processing (the reference's own quirks, followed):

- HunYuan-VL resizes with bicubic whatever ``resample`` says;
- DeepSeek-VL and Janus resize with ``resample or self.resample`` (so ``resample=0``,
  nearest, is the attribute's filter), and pad with ``background_color``, an attribute
  the constructor derives from *its* ``image_mean`` (``int(m * 255)``), not the call's;
- DeepSeek-OCR 2 pads its global view with ``background_color`` (127 grey by default),
  whatever ``image_mean`` is; ``get_number_of_image_patches`` here counts the views its
  processing makes (the reference's helper picks the grid with ``size`` as the tile and
  skips the "a side above tile_size" condition: it disagrees with its own output);
- MiniCPM-V 4.6's ``use_image_id`` is read by the model processor only (no effect on pixels).

Arguments that every reference class accepts but whose processing path never reads (``pad_size``,
``image_seq_length``; ``do_pad``, ``do_center_crop`` / ``crop_size``, ``size`` or ``do_resize``
where a family's ``_preprocess`` has no use for them) change nothing there, and nothing here.
"""

from __future__ import annotations

from typing import Any

from .errors import SpecError
from .hf import ProcessorGlue, register_processor_glue

_BICUBIC = 3  # PIL's Image.Resampling.BICUBIC


def _colour(value: Any, name: str) -> tuple[int, int, int]:
    """An RGB pad colour of three integers 0..255 (what the references' pad_to_square fills)."""
    values = tuple(value) if isinstance(value, (list, tuple)) else ()
    if len(values) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in values):
        raise SpecError(f"{name} must be three integers 0..255 (one per RGB channel), got {value!r}")
    return values  # type: ignore[return-value]


def _unread(resolved: dict, *names: str) -> dict:
    """``resolved`` without the arguments the reference's processing path never reads."""
    for name in ("pad_size", "image_seq_length", *names):
        resolved.pop(name, None)
    return resolved


def _padded_with(resolved: dict, colour: tuple[int, int, int]) -> dict:
    """``resolved`` with ``fill_mean`` stating ``colour`` where anyres' "mean" fill (``int(mean
    * 255)`` of the resolved image_mean) would give another colour."""
    mean = resolved.get("image_mean")
    try:
        triple = [float(mean)] * 3 if isinstance(mean, (int, float)) else [float(x) for x in mean]
        derived = tuple(int(x * 255) for x in triple)
    except (TypeError, ValueError):
        derived = None
    if derived != colour:
        resolved["fill_mean"] = [(c + 0.5) / 255 for c in colour]  # int((c + 0.5) / 255 * 255) == c
    return resolved


# --- Ovis2 ---
def _ovis2_attributes(p: Any, px: Any) -> dict[str, Any]:
    t = p["tile_size"]
    return dict(size={"height": t, "width": t}, crop_to_patches=p["crop_to_patches"], min_patches=p["min_patches"],
                max_patches=p["max_patches"], use_covering_area_grid=p["use_covering_area_grid"])


def _ovis2_processed(ip: Any, resolved: dict) -> dict:
    """Ovis2 centre-crops when asked (anyres refuses that), so crop_size matters only then."""
    return _unread(resolved, "do_pad", *(() if resolved.get("do_center_crop") else ("do_center_crop", "crop_size")))


register_processor_glue("ovis2", ProcessorGlue(lambda p: ["pixel_values", "grids"], _ovis2_attributes,
                                               reference=lambda p: "Ovis2ImageProcessorPil",
                                               as_processed=_ovis2_processed,
                                               image_shaped=True, tiling_infers_channels="crop_to_patches"))


# --- MiniCPM-V 4.6 ---
def _minicpmv4_6_attributes(p: Any, px: Any) -> dict[str, Any]:
    return dict(max_slice_nums=p["max_slice_nums"], scale_resolution=p["scale_resolution"],
                patch_size=p["patch_size"], slice_mode=p["slice_mode"], downsample_mode=p["downsample_mode"],
                use_image_id=True)


def _minicpmv4_6_processed(ip: Any, resolved: dict) -> dict:
    # use_image_id: the model processor's (<image_id> tags); size: its sizes come from scale_resolution
    return _unread(resolved, "use_image_id", "size", "do_pad", "do_center_crop", "crop_size")


register_processor_glue("minicpm-v-4.6", ProcessorGlue(lambda p: ["pixel_values", "target_sizes"],
                                                       _minicpmv4_6_attributes,
                                                       lists=("grids", "num_patches_per_image"),
                                                       reference=lambda p: "MiniCPMV4_6ImageProcessorPil",
                                                       as_processed=_minicpmv4_6_processed))


# --- HunYuan-VL ---
def _hunyuan_vl_attributes(p: Any, px: Any) -> dict[str, Any]:
    return dict(patch_size=p["patch_size"], merge_size=p["merge_size"], temporal_patch_size=1,
                size={"shortest_edge": p["min_pixels"], "longest_edge": p["max_pixels"]})


def _hunyuan_vl_patches(plan: Any) -> tuple[int, int]:
    _, gh, gw = plan.info["grid_thw"]
    return gh, gw


def _hunyuan_vl_processed(ip: Any, resolved: dict) -> dict:
    resolved["resample"] = _BICUBIC  # its resize passes bicubic, not the resample it is given
    if resolved.pop("do_resize", True) is False:  # the image at its own size: the preset's resize=False
        resolved["resize"] = False
    return _unread(resolved, "do_pad", "do_center_crop", "crop_size")


register_processor_glue("hunyuan-vl", ProcessorGlue(lambda p: ["pixel_values", "image_grid_thw"],
                                                    _hunyuan_vl_attributes, image_patches=_hunyuan_vl_patches,
                                                    reference=lambda p: "HunYuanVLImageProcessorPil",
                                                    keeps_uint8=lambda data: False,  # its patchify makes float32
                                                    as_processed=_hunyuan_vl_processed))


# --- DeepSeek-OCR 2 ---
def _deepseek_ocr2_attributes(p: Any, px: Any) -> dict[str, Any]:
    return dict(size={"height": p["size"], "width": p["size"]}, tile_size=p["tile_size"],
                crop_to_patches=p["crop_to_patches"], min_patches=p["min_patches"], max_patches=p["max_patches"],
                background_color=[int(x * 255) for x in (px.fill_mean or px.mean)])


def _deepseek_ocr2_processed(ip: Any, resolved: dict) -> dict:
    colour = resolved.pop("background_color", None)
    colour = ip.background_color if colour is None else colour  # as its _preprocess falls back
    resolved = _unread(resolved, "do_resize", "do_pad", "do_center_crop", "crop_size")  # it always resizes and pads
    return _padded_with(resolved, _colour(colour, "background_color"))


register_processor_glue("deepseek-ocr2", ProcessorGlue(lambda p: ["pixel_values", "num_local_patches"],
                                                       _deepseek_ocr2_attributes,
                                                       reference=lambda p: "DeepseekOcr2ImageProcessorPil",
                                                       as_processed=_deepseek_ocr2_processed,
                                                       image_shaped=True))


# --- DeepSeek-VL and Janus ---
def _deepseek_vl_attributes(p: Any, px: Any) -> dict[str, Any]:
    out = dict(size={"height": p["size"], "width": p["size"]}, min_size=p["min_size"], do_pad=p["do_pad"])
    if p["high_res_size"] is not None:  # the hybrid: its high-res branch has the preset's pixels too
        out.update(high_res_size={"height": p["high_res_size"], "width": p["high_res_size"]},
                   high_res_image_mean=list(px.mean), high_res_image_std=list(px.std), high_res_resample=_BICUBIC)
    return out


def _deepseek_vl_names(p: Any) -> list[str]:
    return ["pixel_values"] + (["high_res_pixel_values"] if p["high_res_size"] is not None else [])


def _one_for_both(resolved: dict, low: str, high: str, value: Any) -> None:
    """The hybrid's two views share anyres' one pixel setting: its high-resolution argument
    must say what the low-resolution one says (a ``SpecError`` otherwise)."""
    from .hf_reference import plain_value

    ours, theirs = plain_value(resolved.get(low)), plain_value(value)
    alike = (isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs)
             and all(abs(a - b) <= 1e-12 for a, b in zip(ours, theirs)))
    if ours != theirs and not alike:
        raise SpecError(f"DeepSeek-VL hybrid: {low}={ours!r} and {high}={theirs!r} differ; anyres gives both views one "
                        f"{low} (set {high} to the same)")


def _deepseek_vl_processed(ip: Any, resolved: dict) -> dict:
    resolved = _unread(resolved, "do_center_crop", "crop_size")
    if not resolved.get("resample"):  # ``resample or self.resample``: nearest (0) falls back too
        resolved["resample"] = ip.resample
    if "high_res_resample" in resolved:  # the hybrid: both views' filters, means and stds must agree
        # its resize also falls back with ``resample or self.resample``, whichever view it resizes
        _one_for_both(resolved, "resample", "high_res_resample", resolved.pop("high_res_resample") or ip.resample)
        if resolved.get("do_normalize", True):
            for name in ("image_mean", "image_std"):
                _one_for_both(resolved, name, f"high_res_{name}", resolved.pop(f"high_res_{name}"))
        else:
            resolved.pop("high_res_image_mean", None), resolved.pop("high_res_image_std", None)
    if not resolved.get("do_pad", True):
        return resolved
    return _padded_with(resolved, _colour(list(ip.background_color), "background_color"))


def _deepseek_vl_kwargs(p: Any, kwargs: dict) -> dict:
    """A new ``size`` changes the one view's patch grid, and so the tokens the model
    processor reserves (its ``num_image_tokens``): one a patch."""
    if "size" not in kwargs:
        return kwargs
    from .plan.strategies.hf_values import square_side

    side = square_side(kwargs["size"], "size")
    return {**kwargs, "num_image_tokens": (side // p["patch_size"]) ** 2}


def _deepseek_vl_reference(p: Any) -> str:
    if p["high_res_size"] is not None:
        return "DeepseekVLHybridImageProcessorPil"
    return "JanusImageProcessorPil" if p["image_start_token"] == "<begin_of_image>" else "DeepseekVLImageProcessorPil"


register_processor_glue("deepseek-vl", ProcessorGlue(_deepseek_vl_names, _deepseek_vl_attributes,
                                                     translate=_deepseek_vl_kwargs, reference=_deepseek_vl_reference,
                                                     as_processed=_deepseek_vl_processed, image_shaped=True))

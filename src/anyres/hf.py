"""A transformers image processor backed by anyres, configured by a preset.

``AnyresImageProcessor("llava-next")`` goes wherever transformers expects an image
processor -- inside a ``LlavaNextProcessor``, ``Qwen2VLProcessor``, ``LlavaOnevisionProcessor``,
``Idefics3Processor`` or a GotOcr2/InternVL pipeline -- and returns the ``BatchFeature``
the model's own processor returns (same keys, shapes, dtypes and values), from anyres'
exact path (or its fast path, ``exact=False``; or ``num_workers`` processes).

It saves to and loads from ``preprocessor_config.json`` (``save_pretrained`` /
``AnyresImageProcessor.from_pretrained``); the file records the preset spec, the pixel
path and, for readers of the file, the attributes the host processors read.

Keyword arguments a host processor passes per call (``images_kwargs``) that name a
parameter of the preset (``max_pixels``, ``max_tiles``, ...) override it for that call;
formatting arguments that do not change anyres' output (``do_pad``, ``do_resize``, ...
at their reference values, ``return_row_col_info``) are accepted and ignored; anything
else is refused with ``SpecError`` rather than silently ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from transformers.feature_extraction_utils import BatchFeature
from transformers.image_processing_utils import BaseImageProcessor

from .errors import SpecError
from .layers import LayerRegistry
from .plan import resolve
from .workers import check_workers

# arguments the host processors pass that describe what anyres does anyway
_ACCEPTED = {
    "do_pad": True, "do_resize": True, "do_rescale": True, "do_normalize": True, "do_convert_rgb": True,
    "return_row_col_info": None, "data_format": None, "input_data_format": None, "device": None,
}

@dataclass(frozen=True)
class ProcessorGlue:
    """What ``AnyresImageProcessor`` does for one strategy to stand in for its reference.

    - ``input_names(params)``: the keys the model reads (``model_input_names``);
    - ``host_attributes(params, pixels)``: the attributes host processors (and readers of
      preprocessor_config.json) read, beyond mean, std and rescale factor;
    - ``image_patches(plan)``: what the reference's ``get_number_of_image_patches``
      returns for an image of the plan's size;
    - ``nested(images, per_sample, processor, overrides, tensors)``: the output for a
      nested batch (a list of samples), or None to treat it as one flat list;
    - ``on_request``: output keys given only with ``return_row_col_info=True``;
    - ``translate(params, kwargs)``: call arguments in the preset's terms, where the
      host processor passes one under a name the preset uses for something else
      (PixtralProcessor passes ``patch_size * spatial_merge_size`` as ``patch_size``);
    - ``lists``: output keys the reference returns as Python lists whatever the tensor type.
    """

    input_names: Callable[[Any], list[str]]
    host_attributes: Callable[[Any, Any], dict[str, Any]]
    image_patches: Callable[[Any], Any] = lambda plan: len(plan.views)
    nested: Callable[..., dict] | None = None
    on_request: tuple[str, ...] = ()
    translate: Callable[[Any, dict], dict] | None = None
    lists: tuple[str, ...] = ()  # output keys the reference leaves as Python lists (Mllama's num_tiles)


PROCESSOR_GLUE: LayerRegistry[ProcessorGlue] = LayerRegistry(
    "transformers image processor (anyres.hf)", "anyres.hf.register_processor_glue(strategy, ProcessorGlue(...))"
)


def register_processor_glue(strategy: str, glue: ProcessorGlue, *, replace_existing: bool = False) -> ProcessorGlue:
    """Let ``AnyresImageProcessor`` serve ``strategy``."""
    return PROCESSOR_GLUE.register(strategy, glue, replace_existing=replace_existing)


class AnyresImageProcessor(BaseImageProcessor):
    """An image processor for ``preset`` (a name or spec string)."""

    def __init__(self, preset: str = "llava-next", exact: bool = True, num_workers: int = 0, **ignored: Any) -> None:
        super().__init__()
        chosen, params, _ = resolve(preset)  # validates the spec
        self.preset = preset
        self.exact = bool(exact)
        self.num_workers = check_workers(num_workers)
        self.strategy = chosen.strategy
        glue = PROCESSOR_GLUE.get(chosen.strategy)
        self.model_input_names = list(glue.input_names(params))
        px = chosen.pixels
        attributes = {"image_mean": list(px.mean), "image_std": list(px.std), "rescale_factor": px.rescale}
        attributes.update(glue.host_attributes(params, px))
        for key, value in attributes.items():
            setattr(self, key, value)

    @property
    def _glue(self) -> ProcessorGlue:
        return PROCESSOR_GLUE.get(self.strategy)

    def __call__(self, images: Any, *args: Any, **kwargs: Any) -> BatchFeature:
        return self.preprocess(images, *args, **kwargs)

    def preprocess(self, images: Any, return_tensors: str | None = None, **kwargs: Any) -> BatchFeature:
        from .pixels import preprocess

        glue = self._glue
        row_col_info = bool(kwargs.pop("return_row_col_info", False))
        overrides = self._overrides(kwargs)
        flat, per_sample = _flatten(images)
        tensors = "pt" if str(return_tensors) in ("pt", "TensorType.PYTORCH") else "np"
        data = None
        if per_sample is not None and glue.nested is not None:
            data = glue.nested(flat, per_sample, self, overrides, tensors)
        if data is None:
            data = preprocess(flat, self.preset, output="hf", return_tensors=tensors, exact=self.exact,
                              num_workers=self.num_workers, **overrides)
        if glue.on_request and not row_col_info:  # as the reference: only when asked
            data = {k: v for k, v in data.items() if k not in glue.on_request}
        tensor_type = None if return_tensors is None else tensors
        return BatchFeature(data=data, tensor_type=tensor_type, skip_tensor_conversion=[*glue.on_request, *glue.lists])

    def _overrides(self, kwargs: dict) -> dict:
        from .plan.pixel_keys import PIXEL_KEYS

        _, params, _ = resolve(self.preset)
        if self._glue.translate is not None:
            kwargs = self._glue.translate(params, kwargs)
        shaped = set(PIXEL_KEYS) - {"do_resize", "do_convert_rgb"}
        overrides = {}
        for key, value in kwargs.items():
            if key in params or _reference_kwarg(self.preset, key, value):
                overrides[key] = value
            elif key in _ACCEPTED and (_ACCEPTED[key] is None or value in (None, _ACCEPTED[key])):
                continue
            elif key in shaped and value is not None:  # the reference's own shape: size={...}, image_mean, ...
                overrides[key] = value
            else:
                raise SpecError(
                    f"AnyresImageProcessor({self.preset!r}) cannot honour {key}={value!r}: it is not a parameter of "
                    f"the preset ({', '.join(params)})"
                )
        return overrides

    def get_number_of_image_patches(self, height: int, width: int, images_kwargs: dict | None = None) -> Any:
        """What the model's own image processor reports for an image of this size
        (serving engines reserve placeholders with it)."""
        from .plan import plan

        return self._glue.image_patches(plan((width, height), self.preset, **self._overrides(dict(images_kwargs or {}))))

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        out["image_processor_type"] = type(self).__name__
        return out


def _reference_kwarg(preset: str, key: str, value: Any) -> bool:
    """Whether ``key=value`` is one of the reference processor's keyword arguments that the
    preset's strategy translates (``size={...}``, ``max_image_size={...}``, ``max_patches``)."""
    try:
        resolve(preset, **{key: value})
    except SpecError:
        return False
    return True


def _anyres_attributes(p: Any, px: Any) -> dict[str, Any]:
    base = p["base_size"]
    return dict(image_grid_pinpoints=[list(x) for x in p["image_grid_pinpoints"]], size={"shortest_edge": base},
                crop_size={"height": base, "width": base}, patch_size=p["patch_size"])


def _native_attributes(p: Any, px: Any) -> dict[str, Any]:
    return dict(patch_size=p["patch_size"], merge_size=p["merge_size"], temporal_patch_size=p["temporal_patch_size"],
                min_pixels=p["min_pixels"], max_pixels=p["max_pixels"],
                size={"shortest_edge": p["min_pixels"], "longest_edge": p["max_pixels"]})


def _internvl_attributes(p: Any, px: Any) -> dict[str, Any]:
    t = p["tile_size"]
    return dict(size={"height": t, "width": t}, crop_to_patches=True, min_patches=p["min_tiles"],
                max_patches=p["max_tiles"])


def _idefics3_attributes(p: Any, px: Any) -> dict[str, Any]:
    return dict(size={"longest_edge": p["longest_edge"]}, max_image_size={"longest_edge": p["tile_size"]},
                do_image_splitting=p["do_image_splitting"])


def _native_patches(plan: Any) -> int:
    _, gh, gw = plan.info["grid_thw"]
    return gh * gw


def _idefics3_patches(plan: Any) -> tuple[int, int, int]:
    return len(plan.views), plan.info["rows"], plan.info["cols"]


def _flatten(images: Any) -> tuple[list, list[int] | None]:
    """A flat list of images, and the number in each sample when nested (Idefics3)."""
    if not isinstance(images, (list, tuple)):
        return [images], None
    if images and all(isinstance(x, (list, tuple)) for x in images):
        return [im for sample in images for im in sample], [len(s) for s in images]
    return list(images), None


def _onevision_samples(flat, per_sample, proc, overrides, tensors) -> dict | None:
    """LLaVA-OneVision's rule for nested batches: an image alone in its sample is tiled,
    the images of a multi-image sample get one mean-padded square view each (the plan
    with ``multi_image=True``); ``batch_num_images`` counts the images of each sample.
    LLaVA-NeXT (no ``max_views``) flattens nested batches."""
    import numpy as np

    if resolve(proc.preset)[1]["max_views"] is None:
        return None

    from .pixels import preprocess

    alone = [n == 1 for n in per_sample for _ in range(n)]
    parts = {}
    for tiled in (True, False):
        idx = [k for k, a in enumerate(alone) if a == tiled]
        if idx:
            extra = {} if tiled else {"multi_image": True}
            out = preprocess([flat[k] for k in idx], proc.preset, output="hf", exact=proc.exact, **overrides, **extra)
            parts.update({k: (out["pixel_values"][j], out["image_sizes"][j]) for j, k in enumerate(idx)})
    views = max(pv.shape[0] for pv, _ in parts.values())
    first = parts[0][0]
    pixel_values = np.zeros((len(flat), views, *first.shape[1:]), dtype=np.float32)
    for k, (pv, _) in parts.items():
        pixel_values[k, : pv.shape[0]] = pv
    data = {"pixel_values": pixel_values, "image_sizes": np.stack([parts[k][1] for k in range(len(flat))]),
            "batch_num_images": np.array(per_sample, dtype=np.int64)}
    if tensors == "pt":
        import torch

        data = {k: torch.from_numpy(v) for k, v in data.items()}
    return data


def _split_idefics3_samples(flat, per_sample, proc, overrides, tensors) -> dict | None:
    """Idefics3 batches nested images as one sample each: (samples, max views, 3, H, W)."""
    import numpy as np

    if len(per_sample) < 2:
        return None

    from .pixels import preprocess

    parts, start = [], 0
    for n in per_sample:
        parts.append(preprocess(flat[start : start + n], proc.preset, output="hf", exact=proc.exact, **overrides))
        start += n
    views = max(p["pixel_values"].shape[1] for p in parts)
    h = max(p["pixel_values"].shape[3] for p in parts)
    w = max(p["pixel_values"].shape[4] for p in parts)
    pixel_values = np.zeros((len(parts), views, 3, h, w), dtype=np.float32)
    mask = np.zeros((len(parts), views, h, w), dtype=np.int64)
    for i, part in enumerate(parts):
        pv, pm = part["pixel_values"][0], part["pixel_attention_mask"][0]
        pixel_values[i, : pv.shape[0], :, : pv.shape[2], : pv.shape[3]] = pv
        mask[i, : pm.shape[0], : pm.shape[1], : pm.shape[2]] = pm
    data = {"pixel_values": pixel_values, "pixel_attention_mask": mask}
    if "rows" in parts[0]:  # Idefics3 / SmolVLM (Idefics2 has none)
        data.update(rows=[part["rows"][0] for part in parts], cols=[part["cols"][0] for part in parts])
    if tensors == "pt":
        import torch

        data = {k: torch.from_numpy(v) if hasattr(v, "dtype") else v for k, v in data.items()}
    return data


def _anyres_inputs(p: Any) -> list[str]:
    names = ["pixel_values", "image_sizes"]
    return names + ["batch_num_images"] if p["max_views"] is not None else names  # LLaVA-OneVision's


_PLAIN = ProcessorGlue(lambda p: ["pixel_values"], lambda p, px: {})
for _name in ("fixed", "fixed-pad", "fixed-crop", "dynamic"):
    register_processor_glue(_name, _PLAIN)
register_processor_glue("anyres", ProcessorGlue(_anyres_inputs, _anyres_attributes, nested=_onevision_samples))
register_processor_glue("native", ProcessorGlue(lambda p: ["pixel_values", "image_grid_thw"], _native_attributes,
                                                image_patches=_native_patches))
register_processor_glue("internvl", ProcessorGlue(lambda p: ["pixel_values", "num_patches"], _internvl_attributes))
register_processor_glue("idefics3", ProcessorGlue(lambda p: ["pixel_values", "pixel_attention_mask"],
                                                  _idefics3_attributes, image_patches=_idefics3_patches,
                                                  nested=_split_idefics3_samples, on_request=("rows", "cols")))
for _name in ("slicing", "gpt4v", "s2", "budget"):
    PROCESSOR_GLUE.unsupported(_name, "it has no transformers image processor to stand in for")


# --- Idefics2 and SigLIP2 NaFlex (fam-idefics) ---
def _idefics2_attributes(p: Any, px: Any) -> dict[str, Any]:
    size = ({"height": p["height"], "width": p["width"]} if p["height"] is not None
            else {"shortest_edge": p["shortest_edge"], "longest_edge": p["longest_edge"]})
    return dict(size=size, do_image_splitting=p["do_image_splitting"], do_pad=True)


def _naflex_attributes(p: Any, px: Any) -> dict[str, Any]:
    return dict(patch_size=p["patch_size"], max_num_patches=p["max_num_patches"])


register_processor_glue("idefics2", ProcessorGlue(lambda p: ["pixel_values", "pixel_attention_mask"],
                                                  _idefics2_attributes, nested=_split_idefics3_samples))
register_processor_glue("naflex", ProcessorGlue(lambda p: ["pixel_values", "pixel_attention_mask", "spatial_shapes"],
                                                _naflex_attributes, image_patches=lambda plan: plan.num_tokens))


# --- Aria (fam-idefics) ---
def _aria_attributes(p: Any, px: Any) -> dict[str, Any]:
    return dict(max_image_size=p["max_image_size"], min_image_size=p["min_image_size"], split_image=False)


register_processor_glue("aria", ProcessorGlue(lambda p: ["pixel_values", "pixel_mask", "num_crops"], _aria_attributes))

__all__ = ["PROCESSOR_GLUE", "AnyresImageProcessor", "ProcessorGlue", "register_processor_glue"]


# Gemma 3 and Pixtral / Mistral3 ------------------------------------------------------


def _gemma3_attributes(p: Any, px: Any) -> dict[str, Any]:
    return dict(size=dict(p["size"]), do_pan_and_scan=p["do_pan_and_scan"],
                pan_and_scan_min_crop_size=p["pan_and_scan_min_crop_size"],
                pan_and_scan_max_num_crops=p["pan_and_scan_max_num_crops"],
                pan_and_scan_min_ratio_to_activate=p["pan_and_scan_min_ratio_to_activate"])


def _pixtral_attributes(p: Any, px: Any) -> dict[str, Any]:
    from .plan.strategies.pixtral import unit

    side = unit(p)  # what PixtralProcessor passes to its image processor
    return dict(size=dict(p["size"]), patch_size={"height": side, "width": side})


register_processor_glue("pan-and-scan", ProcessorGlue(lambda p: ["pixel_values", "num_crops"], _gemma3_attributes))
def _pixtral_kwargs(p: Any, kwargs: dict) -> dict:
    """PixtralProcessor calls its image processor with ``patch_size`` = patch x merge (the
    resize unit): read back as the preset's encoder patch."""
    if "patch_size" not in kwargs:
        return kwargs
    from .plan.strategies.hf_values import square_side

    unit = square_side(kwargs["patch_size"], "patch_size")
    merge = p["spatial_merge_size"]
    if unit % merge:
        raise SpecError(f"patch_size {unit} is not a multiple of the preset's spatial_merge_size {merge}")
    return {**kwargs, "patch_size": unit // merge}


register_processor_glue("pixtral", ProcessorGlue(lambda p: ["pixel_values", "image_sizes"], _pixtral_attributes,
                                                 translate=_pixtral_kwargs))


# Mllama and Llama 4 --------------------------------------------------------------------


def _mllama_attributes(p: Any, px: Any) -> dict[str, Any]:
    return dict(size=dict(p["size"]), max_image_tiles=p["max_image_tiles"], do_pad=True)


register_processor_glue("mllama", ProcessorGlue(
    lambda p: ["pixel_values", "num_tiles", "aspect_ratio_ids", "aspect_ratio_mask"], _mllama_attributes,
    image_patches=lambda plan: plan.info["num_tiles"], lists=("num_tiles",)))
PROCESSOR_GLUE.unsupported(
    "llama4",
    "AnyresImageProcessor returns the transformers PIL processor's output, and Llama 4 has only a "
    "torchvision one in transformers 5.23",
)


def _gemma4_attributes(p: Any, px: Any) -> dict[str, Any]:
    return dict(patch_size=p["patch_size"], max_soft_tokens=p["max_soft_tokens"],
                pooling_kernel_size=p["pooling_kernel_size"], do_normalize=False)


register_processor_glue("gemma4", ProcessorGlue(
    lambda p: ["pixel_values", "image_position_ids", "num_soft_tokens_per_image"], _gemma4_attributes))


# --- Ovis2 (families) ---
def _ovis2_attributes(p: Any, px: Any) -> dict[str, Any]:
    t = p["tile_size"]
    return dict(size={"height": t, "width": t}, crop_to_patches=p["crop_to_patches"], min_patches=p["min_patches"],
                max_patches=p["max_patches"], use_covering_area_grid=p["use_covering_area_grid"])


register_processor_glue("ovis2", ProcessorGlue(lambda p: ["pixel_values", "grids"], _ovis2_attributes))


# --- MiniCPM-V 4.6 (families) ---
def _minicpmv4_6_attributes(p: Any, px: Any) -> dict[str, Any]:
    return dict(max_slice_nums=p["max_slice_nums"], scale_resolution=p["scale_resolution"],
                patch_size=p["patch_size"], slice_mode=p["slice_mode"], downsample_mode=p["downsample_mode"],
                use_image_id=True)


register_processor_glue("minicpm-v-4.6", ProcessorGlue(lambda p: ["pixel_values", "target_sizes"],
                                                       _minicpmv4_6_attributes,
                                                       lists=("grids", "num_patches_per_image")))


# --- HunYuan-VL (families) ---
def _hunyuan_vl_attributes(p: Any, px: Any) -> dict[str, Any]:
    return dict(patch_size=p["patch_size"], merge_size=p["merge_size"], temporal_patch_size=1,
                size={"shortest_edge": p["min_pixels"], "longest_edge": p["max_pixels"]})


def _hunyuan_vl_patches(plan: Any) -> tuple[int, int]:
    _, gh, gw = plan.info["grid_thw"]
    return gh, gw


register_processor_glue("hunyuan-vl", ProcessorGlue(lambda p: ["pixel_values", "image_grid_thw"],
                                                    _hunyuan_vl_attributes, image_patches=_hunyuan_vl_patches))


# --- DeepSeek-OCR 2 (families) ---
def _deepseek_ocr2_attributes(p: Any, px: Any) -> dict[str, Any]:
    return dict(size={"height": p["size"], "width": p["size"]}, tile_size=p["tile_size"],
                crop_to_patches=p["crop_to_patches"], min_patches=p["min_patches"], max_patches=p["max_patches"],
                background_color=[127, 127, 127])


register_processor_glue("deepseek-ocr2", ProcessorGlue(lambda p: ["pixel_values", "num_local_patches"],
                                                       _deepseek_ocr2_attributes))


# --- DeepSeek-VL and Janus (families) ---
def _deepseek_vl_attributes(p: Any, px: Any) -> dict[str, Any]:
    return dict(size={"height": p["size"], "width": p["size"]}, min_size=p["min_size"], do_pad=p["do_pad"])


register_processor_glue("deepseek-vl", ProcessorGlue(lambda p: ["pixel_values"], _deepseek_vl_attributes))

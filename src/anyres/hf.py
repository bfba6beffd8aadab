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

from typing import Any

from transformers.feature_extraction_utils import BatchFeature
from transformers.image_processing_utils import BaseImageProcessor

from .errors import SpecError
from .plan import get_preset, resolve
from .plan.spec import parse_spec

# arguments the host processors pass that describe what anyres does anyway
_ACCEPTED = {
    "do_pad": True, "do_resize": True, "do_rescale": True, "do_normalize": True, "do_convert_rgb": True,
    "return_row_col_info": None, "data_format": None, "input_data_format": None, "device": None,
}

_INPUT_NAMES = {
    "anyres": ["pixel_values", "image_sizes"],
    "native": ["pixel_values", "image_grid_thw"],
    "internvl": ["pixel_values", "num_patches"],
    "idefics3": ["pixel_values", "pixel_attention_mask"],
}


class AnyresImageProcessor(BaseImageProcessor):
    """An image processor for ``preset`` (a name or spec string)."""

    def __init__(self, preset: str = "llava-next", exact: bool = True, num_workers: int = 0, **ignored: Any) -> None:
        super().__init__()
        _, params, _ = resolve(preset)  # validates the spec
        self.preset = preset
        self.exact = bool(exact)
        self.num_workers = int(num_workers)
        strategy = get_preset(parse_spec(preset)[0]).strategy
        self.strategy = strategy
        self.model_input_names = list(_INPUT_NAMES.get(strategy, ["pixel_values"]))
        if strategy == "anyres" and params.get("max_views") is not None:  # LLaVA-OneVision
            self.model_input_names.append("batch_num_images")
        for key, value in _host_attributes(strategy, params, get_preset(parse_spec(preset)[0]).pixels).items():
            setattr(self, key, value)

    def __call__(self, images: Any, *args: Any, **kwargs: Any) -> BatchFeature:
        return self.preprocess(images, *args, **kwargs)

    def preprocess(self, images: Any, return_tensors: str | None = None, **kwargs: Any) -> BatchFeature:
        from .pixels import preprocess

        row_col_info = bool(kwargs.pop("return_row_col_info", False))
        overrides = self._overrides(kwargs)
        flat, per_sample = _flatten(images)
        tensors = "pt" if str(return_tensors) in ("pt", "TensorType.PYTORCH") else "np"
        if self.strategy == "idefics3" and per_sample is not None and len(per_sample) > 1:
            data = _split_idefics3_samples(flat, per_sample, self, overrides, tensors)
        elif self.strategy == "anyres" and "batch_num_images" in self.model_input_names and per_sample is not None:
            data = _onevision_samples(flat, per_sample, self, overrides, tensors)
        else:
            data = preprocess(flat, self.preset, output="hf", return_tensors=tensors, exact=self.exact,
                              num_workers=self.num_workers, **overrides)
        if self.strategy == "idefics3" and not row_col_info:  # as the reference: only when asked
            data = {k: v for k, v in data.items() if k not in ("rows", "cols")}
        tensor_type = None if return_tensors is None else tensors
        return BatchFeature(data=data, tensor_type=tensor_type, skip_tensor_conversion=["rows", "cols"])

    def _overrides(self, kwargs: dict) -> dict:
        _, params, _ = resolve(self.preset)
        overrides = {}
        for key, value in kwargs.items():
            if key in params:
                overrides[key] = value
            elif key in _ACCEPTED and (_ACCEPTED[key] is None or value in (None, _ACCEPTED[key])):
                continue
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

        p = plan((width, height), self.preset, **self._overrides(dict(images_kwargs or {})))
        if self.strategy == "native":
            _, gh, gw = p.info["grid_thw"]
            return gh * gw
        if self.strategy == "idefics3":
            rows, cols = p.info["rows"], p.info["cols"]
            return len(p.views), rows, cols
        return len(p.views)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        out["image_processor_type"] = type(self).__name__
        return out


def _host_attributes(strategy: str, p: dict, px) -> dict[str, Any]:
    """The attributes the host processors (and readers of preprocessor_config.json) read."""
    out: dict[str, Any] = {"image_mean": list(px.mean), "image_std": list(px.std), "rescale_factor": px.rescale}
    if strategy == "anyres":
        base = p["base_size"]
        out.update(image_grid_pinpoints=[list(x) for x in p["image_grid_pinpoints"]], size={"shortest_edge": base},
                   crop_size={"height": base, "width": base}, patch_size=p["patch_size"])
    elif strategy == "native":
        out.update(patch_size=p["patch_size"], merge_size=p["merge_size"], temporal_patch_size=p["temporal_patch_size"],
                   min_pixels=p["min_pixels"], max_pixels=p["max_pixels"],
                   size={"shortest_edge": p["min_pixels"], "longest_edge": p["max_pixels"]})
    elif strategy == "internvl":
        t = p["tile_size"]
        out.update(size={"height": t, "width": t}, crop_to_patches=True, min_patches=p["min_tiles"],
                   max_patches=p["max_tiles"])
    elif strategy == "idefics3":
        out.update(size={"longest_edge": p["longest_edge"]}, max_image_size={"longest_edge": p["tile_size"]},
                   do_image_splitting=p["do_image_splitting"])
    return out


def _flatten(images: Any) -> tuple[list, list[int] | None]:
    """A flat list of images, and the number in each sample when nested (Idefics3)."""
    if not isinstance(images, (list, tuple)):
        return [images], None
    if images and all(isinstance(x, (list, tuple)) for x in images):
        return [im for sample in images for im in sample], [len(s) for s in images]
    return list(images), None


def _onevision_samples(flat, per_sample, proc, overrides, tensors) -> dict:
    """LLaVA-OneVision's rule for nested batches: an image alone in its sample is tiled,
    the images of a multi-image sample get one mean-padded square view each (the plan
    with ``multi_image=True``); ``batch_num_images`` counts the images of each sample."""
    import numpy as np

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


def _split_idefics3_samples(flat, per_sample, proc, overrides, tensors) -> dict:
    """Idefics3 batches nested images as one sample each: (samples, max views, 3, H, W)."""
    import numpy as np

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
    data = {"pixel_values": pixel_values, "pixel_attention_mask": mask,
            "rows": [part["rows"][0] for part in parts], "cols": [part["cols"][0] for part in parts]}
    if tensors == "pt":
        import torch

        data = {k: torch.from_numpy(v) if hasattr(v, "dtype") else v for k, v in data.items()}
    return data


__all__ = ["AnyresImageProcessor"]

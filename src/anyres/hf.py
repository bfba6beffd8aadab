"""A transformers image processor backed by anyres, configured by a preset.

``AnyresImageProcessor("qwen2-vl", max_pixels=200704)`` goes wherever transformers expects
an image processor. For a preset with a transformers PIL image processor (each strategy's
glue names it: ``ProcessorGlue.reference``; ``hf_reference.REFERENCE_CLASSES`` by preset)
the object is an instance of a subclass of that class, so its constructor and call
arguments, their defaults, precedence and validation, its live attributes, ``to_dict`` /
``save_pretrained`` / ``from_pretrained`` and its helper methods are the reference's own.
anyres replaces only the last step: the resolved arguments that differ from the preset's
(``hf_reference.differences``) become overrides of the spec, or a ``SpecError`` when anyres
cannot reproduce them, and the images, converted as the reference sees them, go through
anyres' exact path (or its fast path, ``exact=False``; or ``num_workers`` processes) into
the reference's output (same keys, shapes, dtypes and values).

A preset without such a class (``dynamic``) gets a preset-only processor whose call
arguments are the preset's parameters. ``import anyres`` registers the class with
``AutoImageProcessor`` (``hf_auto``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

from transformers.feature_extraction_utils import BatchFeature
from transformers.image_processing_utils import BaseImageProcessor

from .errors import ArgumentTypeError, SpecError
from .hf_reference import (as_reference_sees, baseline_kwargs, baseline_resolved, canonical_kwargs, differences,
                           overrides_from, reference_class, resolved_kwargs)
from .hf_channels import channels, kept_channels
from .layers import LayerRegistry
from .plan import resolve
from .plan.spec import split_spec
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
    reference: Callable[[Any], str | None] = lambda params: None  # the transformers PIL class, by name
    # pixel_values stay uint8 when neither rescaled nor normalised, as the reference's do (given the output)
    keeps_uint8: Callable[[dict], bool] = lambda data: True
    fill_from_attribute: bool = False  # pads with the image_mean attribute, not the call's (LLaVA-OneVision)
    # the resolved call arguments as the reference's processing path uses them, given the processor (an
    # argument it ignores or replaces, a pad colour it reads from elsewhere than image_mean: ``fill_mean``)
    as_processed: Callable[[Any, dict], dict] | None = None
    # ``do_pad=False`` (given the processor, the padded output as numpy and the overrides): each
    # image's own part of the padded batch, as Python lists, as the reference returns it
    unpad: Callable[[Any, dict, dict], dict] | None = None
    # parameters that shape the encoder's tokens only, with values that fit any view size
    # (``hf_reference.overrides_from``): the pixels of views the preset's encoder cannot encode
    encoder_free: dict[str, Any] | None = None
    # ``count(resolved, height, width)``: ``get_number_of_image_patches`` from the resolved arguments, for a
    # reference whose helper answers for arguments its processing refuses (Aria counts crops for any
    # max_image_size; its processing takes 490 or 980 only); None: counted on the plan
    count: Callable[[dict, int, int], Any] | None = None
    # whether the output keeps each view as an image (..., C, H, W), so that an image kept with 1 or 4
    # channels (do_convert_rgb=False) can be served (``anyres.hf_channels``); False: views flattened to patches
    image_shaped: bool = False
    # the call argument that makes the reference tile with ``crop_image_to_patches``, which infers a 1- or
    # 3-channel axis (a 4-channel image fails there, and anyres refuses it); None: no such tiling
    tiling_infers_channels: str | None = None


PROCESSOR_GLUE: LayerRegistry[ProcessorGlue] = LayerRegistry(
    "transformers image processor (anyres.hf)", "anyres.hf.register_processor_glue(strategy, ProcessorGlue(...))"
)


def register_processor_glue(strategy: str, glue: ProcessorGlue, *, replace_existing: bool = False) -> ProcessorGlue:
    """Let ``AnyresImageProcessor`` serve ``strategy``."""
    return PROCESSOR_GLUE.register(strategy, glue, replace_existing=replace_existing)


class AnyresImageProcessor(BaseImageProcessor):
    """An image processor for ``preset`` (a name or spec string).

    For a preset that reproduces a transformers PIL image processor (``hf_reference``),
    the object is an instance of a subclass of that class: it takes the reference's
    constructor and call arguments with the same defaults, meaning and validation, its
    attributes are live, and its helpers are the reference's; anyres computes the pixels.
    An argument that changes the output in a way anyres cannot reproduce is a
    ``SpecError``. ``apply_exif=True`` rotates decoded PIL images by their EXIF
    orientation and ``scale_high_bit_depth=True`` scales 16-bit images to 8 bits (the
    reference does neither: it rotates only the files it opens, and clips 16-bit values).
    """

    def __new__(cls, preset: str = "llava-next", *args: Any, **kwargs: Any) -> "AnyresImageProcessor":
        if cls is AnyresImageProcessor:
            if not isinstance(preset, str):
                raise SpecError(f"a preset spec is a string, got {type(preset).__name__}")
            chosen = resolve(preset)[0]
            reference = reference_class(preset, PROCESSOR_GLUE.get(chosen.strategy).reference)
            cls = _drop_in_class(reference) if reference is not None else _PresetProcessor
        return object.__new__(cls)

    def __init__(self, preset: str = "llava-next", exact: bool = True, num_workers: int = 0, apply_exif: bool = False,
                 scale_high_bit_depth: bool = False, **kwargs: Any) -> None:
        kwargs.pop("image_processor_type", None)
        for key, value in (("apply_exif", apply_exif), ("scale_high_bit_depth", scale_high_bit_depth)):
            if not isinstance(value, bool):
                raise SpecError(f"{key} must be True or False, got {value!r}")
        chosen, params, _ = resolve(preset)
        if split_spec(preset)[1]:
            raise SpecError(
                f"AnyresImageProcessor({preset!r}): token reducers ({preset[len(split_spec(preset)[0]):]}) act on the "
                "encoder's features, and the reference image processor, whose outputs this one reproduces, has "
                "none; use the preset without them here and anyres.VisionPipeline for the reduced tokens"
            )
        self.preset = preset
        self.exact = bool(exact)
        self.num_workers = check_workers(num_workers)
        self.apply_exif = apply_exif
        self.scale_high_bit_depth = scale_high_bit_depth
        self._init_reference(chosen, params, kwargs)

    def _init_reference(self, chosen: Any, params: Any, kwargs: dict) -> None:
        raise NotImplementedError

    @property
    def strategy(self) -> str:
        return resolve(self.preset)[0].strategy

    @property
    def _glue(self) -> ProcessorGlue:
        return PROCESSOR_GLUE.get(self.strategy)

    def __reduce__(self) -> tuple:
        return (_rebuild, (self.to_dict(),))

    def _run(self, images: Any, overrides: dict, return_tensors: Any, row_col_info: bool) -> BatchFeature:
        """anyres' pixels for ``images`` (flat or nested) with ``overrides``."""
        from .pixels import preprocess

        glue = self._glue
        flat, per_sample = _flatten(images)
        if not flat:
            raise SpecError("AnyresImageProcessor needs at least one image")
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

    def _patches(self, height: int, width: int, overrides: dict) -> Any:
        from .plan import plan

        return self._glue.image_patches(plan((width, height), self.preset, **overrides))


class _DropIn(AnyresImageProcessor):
    """The part of the drop-in processor that is anyres' (the rest is the reference class)."""

    _reference_cls: type

    def _init_reference(self, chosen: Any, params: Any, kwargs: dict) -> None:
        baseline = canonical_kwargs(self._reference_cls,
                                    baseline_kwargs(self.preset, self._glue.host_attributes(params, chosen.pixels)))
        try:
            super(AnyresImageProcessor, self).__init__(**{**baseline, **kwargs})
        except SpecError:
            raise
        except (TypeError, ValueError) as exc:  # the reference's own validation
            raise _refused(self.preset, self._reference_cls.__name__, exc) from None

    def _overrides_for(self, resolved: dict) -> dict:
        chosen, params, _ = resolve(self.preset)
        glue = self._glue
        base = baseline_resolved(self._reference_cls, baseline_kwargs(self.preset, glue.host_attributes(params, chosen.pixels)))
        if glue.as_processed is not None:
            resolved = glue.as_processed(self, dict(resolved))
        diffs = differences(resolved, base)
        if glue.fill_from_attribute and ("image_mean" in diffs or "do_normalize" in diffs):
            diffs["fill_mean"] = [float(x) for x in self.image_mean]
        return overrides_from(self.preset, diffs, glue.translate, glue.encoder_free)

    def preprocess(self, images: Any, *args: Any, **kwargs: Any) -> BatchFeature:
        """The reference's ``preprocess`` (its argument precedence and validation; a refusal
        is a ``SpecError``, also a ``TypeError`` where the reference raises one)."""
        checked = {k: v for k, v in kwargs.items() if k != "image_like_kwargs"}
        try:
            resolved_kwargs(self, checked)
        except Exception as exc:  # noqa: BLE001 - TypeError, ValueError or huggingface_hub's validation error
            raise _refused(self.preset, self._reference_cls.__name__, exc) from None
        return super().preprocess(images, *args, **kwargs)

    def _preprocess_image_like_inputs(self, images: Any, *args: Any, **kwargs: Any) -> BatchFeature:
        """The reference's last step (its arguments resolved and validated), by anyres."""
        data_format = kwargs.get("data_format")
        if data_format is not None and str(getattr(data_format, "value", data_format)) != "channels_first":
            raise SpecError(f"AnyresImageProcessor returns channels-first pixels; data_format={data_format!r} "
                            "is not supported")
        convert, layout = kwargs.get("do_convert_rgb"), kwargs.get("input_data_format")
        flat, per_sample = _flatten(images)
        seen = [as_reference_sees(self, im, convert, layout) for im in flat]
        if any(channels(s) != 3 for s in seen):  # kept as they are (do_convert_rgb=False): hf_channels
            out = kept_channels(self, seen, per_sample, kwargs)
            return self._as_uint8(out, kwargs)
        overrides = self._overrides_for(kwargs)
        if per_sample is not None:
            it = iter(seen)
            seen = [[next(it) for _ in range(n)] for n in per_sample]
        unpad = self._glue.unpad if kwargs.get("do_pad") is False else None
        if unpad is not None:  # the padded batch, then each image's own part of it, as the reference gives it
            raw = self._run(seen, overrides, None, bool(kwargs.get("return_row_col_info")))
            tensors = kwargs.get("return_tensors")
            out = BatchFeature(data=unpad(self, dict(raw), overrides),
                               tensor_type=None if tensors is None else ("pt" if str(tensors) in ("pt", "TensorType.PYTORCH")
                                                                         else "np"))
        else:
            out = self._run(seen, overrides, kwargs.get("return_tensors"), bool(kwargs.get("return_row_col_info")))
        return out if unpad is not None else self._as_uint8(out, kwargs)

    def _as_uint8(self, out: BatchFeature, kwargs: dict) -> BatchFeature:
        """uint8 pixel values where the reference keeps them so (neither rescaled nor normalised)."""
        if not kwargs.get("do_rescale") and not kwargs.get("do_normalize") and self._glue.keeps_uint8(out):
            for key in [k for k in out if k.startswith("pixel_values")]:  # DeepSeek-OCR 2's pixel_values_local too
                pv = out[key]  # exact integers: resized uint8 views times 1, minus 0, over 1
                out[key] = pv.to(dtype=__import__("torch").uint8) if hasattr(pv, "detach") else pv.astype("uint8")
        return out

    def get_number_of_image_patches(self, height: int, width: int, images_kwargs: dict | None = None) -> Any:
        """What the model's own image processor reports for an image of this size, with
        ``images_kwargs`` over the attributes (serving engines reserve placeholders
        with it); counted on the plan that processing follows (or by the family's own
        count where the reference counts settings it cannot process: Aria's crops)."""
        if self._glue.count is not None:
            given = {k: v for k, v in dict(images_kwargs or {}).items() if k in self._valid_kwargs_names}
            return self._glue.count(resolved_kwargs(self, given), height, width)
        return self._glue.image_patches(self.plan_for(height, width, images_kwargs))

    def plan_for(self, height: int, width: int, images_kwargs: dict | None = None) -> Any:
        """The ``anyres.Plan`` this processor follows for an image of this size (its views
        and ``num_tokens``), with ``images_kwargs`` over the attributes."""
        from .plan import plan

        given = {k: v for k, v in dict(images_kwargs or {}).items() if k in self._valid_kwargs_names}
        return plan((width, height), self.preset, **self._overrides_for(resolved_kwargs(self, given)))

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in super().to_dict().items() if not k.startswith("_")}
        out["image_processor_type"] = "AnyresImageProcessor"
        return out


@lru_cache(maxsize=None)
def _drop_in_class(reference: type) -> type:
    """The drop-in class for ``reference``. It lives in a module of its own,
    ``anyres.hf.<reference name>``, that also names its call-argument type
    (``AnyresImageProcessorKwargs``, the reference's ``valid_kwargs``), as each transformers
    processor module names its ``<class>Kwargs``."""
    import sys
    import types

    module = types.ModuleType(f"{__name__}.{reference.__name__}",
                              f"AnyresImageProcessor standing in for transformers' {reference.__name__}")
    cls = type("AnyresImageProcessor", (_DropIn, reference),
               {"_reference_cls": reference, "__module__": module.__name__, "__qualname__": "AnyresImageProcessor"})
    module.AnyresImageProcessor = cls
    module.AnyresImageProcessorKwargs = reference.valid_kwargs
    sys.modules[module.__name__] = module
    return cls


@lru_cache(maxsize=None)
def drop_in_class(preset: str, defaults: str = "preset") -> type:
    """A class that stands where code expects the reference *class* (not an instance): its
    constructor takes the reference's arguments only, and builds ``AnyresImageProcessor(preset,
    ...)``; ``from_dict`` / ``from_pretrained`` / ``cls()`` work as on the reference class.
    ``drop_in_class("qwen2-vl")(max_pixels=200704)`` is ``AnyresImageProcessor("qwen2-vl",
    max_pixels=200704)``.

    ``defaults``: where the arguments not given come from: ``"preset"`` (the preset's
    checkpoint values, as ``AnyresImageProcessor(preset)``) or ``"reference"`` (the reference
    class's own defaults, so that ``cls(**kwargs)`` has every attribute of
    ``Reference(**kwargs)``: ``drop_in_class("llava-next", "reference")()`` has its 224 px
    views, which anyres refuses at the first call, as its tiles do not divide the preset's
    pinpoints)."""
    if defaults not in ("preset", "reference"):
        raise SpecError(f"defaults must be 'preset' or 'reference', got {defaults!r}")
    base = type(AnyresImageProcessor(preset))
    initial: dict[str, Any] = {}
    if defaults == "reference":
        initial = {k: v for k, v in base._reference_cls().to_dict().items() if k != "image_processor_type"}

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:  # noqa: N807
        return object.__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: N807
        given = kwargs.pop("preset", preset)
        if given != preset:
            raise SpecError(f"this class is bound to preset {preset!r}, got preset={given!r}")
        if args:
            raise ArgumentTypeError(f"AnyresImageProcessor({preset!r}) takes keyword arguments only, got {args!r}")
        base.__init__(self, preset, **{**initial, **kwargs})

    return type("AnyresImageProcessor", (base,), {"__new__": __new__, "__init__": __init__,
                                                  "__module__": base.__module__, "__qualname__": "AnyresImageProcessor",
                                                  "_bound_preset": preset, "_bound_defaults": defaults})


class _PresetProcessor(AnyresImageProcessor):
    """A preset without a transformers PIL class to stand in for: its attributes describe
    the preset; call arguments that name a preset parameter override it."""

    def _init_reference(self, chosen: Any, params: Any, kwargs: dict) -> None:
        BaseImageProcessor.__init__(self)
        glue = self._glue
        self.model_input_names = list(glue.input_names(params))
        px = chosen.pixels
        attributes = {"image_mean": list(px.mean), "image_std": list(px.std), "rescale_factor": px.rescale}
        attributes.update(glue.host_attributes(params, px))
        for key, value in kwargs.items():
            if key not in attributes or attributes[key] != value:
                raise SpecError(f"AnyresImageProcessor({self.preset!r}) cannot honour {key}={value!r}: the preset has "
                                "no transformers image processor whose arguments it takes (use a spec string)")
        for key, value in attributes.items():
            setattr(self, key, value)

    def __call__(self, images: Any, *args: Any, **kwargs: Any) -> BatchFeature:
        return self.preprocess(images, *args, **kwargs)

    def preprocess(self, images: Any, return_tensors: str | None = None, **kwargs: Any) -> BatchFeature:
        row_col_info = bool(kwargs.pop("return_row_col_info", False))
        return self._run(images, self._overrides(kwargs), return_tensors, row_col_info)

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
        return self._patches(height, width, self._overrides(dict(images_kwargs or {})))

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        out["image_processor_type"] = "AnyresImageProcessor"
        return out


def _refused(preset: str, reference: str, exc: Exception) -> SpecError:
    if isinstance(exc, SpecError):
        return exc
    kind = ArgumentTypeError if isinstance(exc, TypeError) or isinstance(exc.__cause__, TypeError) else SpecError
    return kind(f"AnyresImageProcessor({preset!r}) refuses these arguments as {reference} does: {exc}")


def _rebuild(config: dict) -> AnyresImageProcessor:
    return AnyresImageProcessor(**config)


def _reference_kwarg(preset: str, key: str, value: Any) -> bool:
    """Whether ``key=value`` is one of the reference processor's keyword arguments that the
    preset's strategy translates (``size={...}``, ``max_image_size={...}``, ``max_patches``)."""
    try:
        resolve(preset, **{key: value})
    except SpecError:
        return False
    return True


def _anyres_attributes(p: Any, px: Any) -> dict[str, Any]:
    """LLaVA-NeXT states its view side as ``size={"shortest_edge"}`` plus ``crop_size``;
    LLaVA-OneVision as ``size={"height", "width"}`` (no crop size)."""
    base = p["base_size"]
    out = dict(image_grid_pinpoints=[list(x) for x in p["image_grid_pinpoints"]], patch_size=p["patch_size"])
    if p["max_views"] is None:
        return dict(out, size={"shortest_edge": base}, crop_size={"height": base, "width": base})
    return dict(out, size={"height": base, "width": base})


_ANYRES_GEOMETRY = ("size", "crop_size", "do_center_crop", "image_grid_pinpoints")


def _anyres_kwargs(p: Any, kwargs: dict) -> dict:
    """The reference's view geometry (``size``, ``crop_size``, ``do_center_crop``, the
    pinpoints; those not given are the preset's) as the preset's parameters: the
    encoder's view side (``base_size``: the crop side when it centre-crops, else the
    ``size`` side), and where that is not the plain cut (whole ``base_size`` tiles of the
    pinpoint, nothing resized twice) the reference's own (``partial_tiles``): its tile
    side (``crop_size``'s height, else the ``size`` side) and the resize each view gets
    before its centre crop."""
    if not any(k in kwargs for k in _ANYRES_GEOMETRY):
        return kwargs
    preset = _anyres_attributes(p, None)
    size = kwargs.get("size", preset["size"])
    crop = kwargs.get("crop_size", preset.get("crop_size"))
    centre = kwargs.get("do_center_crop", p["max_views"] is None)  # LLaVA-NeXT's class crops, OneVision's not
    pins = kwargs.get("image_grid_pinpoints", p["image_grid_pinpoints"])
    side, keep_aspect = _square_resize(size)
    crop_side = _square_side(crop, "crop_size") if centre else None
    tile = crop["height"] if isinstance(crop, dict) and crop.get("height") else side
    whole = all(isinstance(v, int) and v % tile == 0 for pin in pins for v in pin)
    base = side if crop_side is None else crop_side
    out = {k: v for k, v in kwargs.items() if k not in _ANYRES_GEOMETRY}
    out["base_size"] = base
    if "image_grid_pinpoints" in kwargs:
        out["image_grid_pinpoints"] = pins
    if not (tile == base and whole and (crop_side is None or side == base)):
        out.update(tile_size=tile, resize_side=None if crop_side is None else side, resize_shortest_edge=keep_aspect)
    return out


def _square_resize(size: Any) -> tuple[int, bool]:
    """The side of the reference's ``size`` and whether it keeps the aspect ratio
    (``{"shortest_edge": S}``) or squashes to a square (``{"height": S, "width": S}``)."""
    value = {k: v for k, v in size.items() if v is not None} if isinstance(size, dict) else None
    if value is not None and set(value) == {"shortest_edge"}:
        return value["shortest_edge"], True
    return _square_side(size, "size"), False


def _square_side(value: Any, name: str) -> int:
    value = {k: v for k, v in value.items() if v is not None} if isinstance(value, dict) else value
    if isinstance(value, dict) and set(value) == {"height", "width"} and value["height"] == value["width"]:
        return value["height"]
    raise SpecError(f"{name} must be a square ({{'height': S, 'width': S}}) for anyres' square views, got {value!r}")


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
    if not plan.params["do_image_splitting"]:  # the reference counts no patches then
        return 0, 0, 0
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


def _sample_outputs(flat, per_sample, proc, overrides) -> list[dict]:
    """``preprocess(output="hf")`` of each sample's images (``per_sample`` counts of ``flat``)."""
    from .pixels import preprocess

    parts, start = [], 0
    for n in per_sample:
        parts.append(preprocess(flat[start : start + n], proc.preset, output="hf", exact=proc.exact, **overrides))
        start += n
    return parts


def _split_idefics3_samples(flat, per_sample, proc, overrides, tensors) -> dict | None:
    """Idefics3 batches nested images as one sample each: (samples, max views, 3, H, W)."""
    import numpy as np

    if len(per_sample) < 2:
        return None

    parts = _sample_outputs(flat, per_sample, proc, overrides)
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


def _no_empty_slot(data: dict) -> bool:
    """Idefics2/3 pad samples with fewer views with float32 zeros, so their stacked
    pixel_values become float32 when any sample is short of views."""
    mask = data["pixel_attention_mask"]
    mask = mask.numpy() if hasattr(mask, "numpy") else mask
    return bool(mask.reshape(*mask.shape[:2], -1).any(axis=-1).all())


def _mllama_samples(flat, per_sample, proc, overrides, tensors) -> dict | None:
    """Mllama batches nested images by sample: (samples, most images, max tiles, 3, H, W),
    images padded with zeros, aspect ratio id 0 and a mask of the first tile only."""
    import numpy as np

    if len(per_sample) < 2:
        return None

    parts = _sample_outputs(flat, per_sample, proc, overrides)
    most = max(per_sample)
    first = parts[0]["pixel_values"]
    pixel_values = np.zeros((len(parts), most, *first.shape[2:]), dtype=np.float32)
    ids = np.zeros((len(parts), most), dtype=np.int64)
    mask = np.zeros((len(parts), most, first.shape[2]), dtype=np.int64)
    mask[:, :, 0] = 1
    for i, part in enumerate(parts):
        n = part["pixel_values"].shape[1]
        pixel_values[i, :n] = part["pixel_values"][0]
        ids[i, :n] = part["aspect_ratio_ids"][0]
        mask[i, :n] = part["aspect_ratio_mask"][0]
    data = {"pixel_values": pixel_values, "aspect_ratio_ids": ids, "aspect_ratio_mask": mask,
            "num_tiles": [part["num_tiles"][0] for part in parts]}
    if tensors == "pt":
        import torch

        data = {k: torch.from_numpy(v) if hasattr(v, "dtype") else v for k, v in data.items()}
    return data


def _anyres_inputs(p: Any) -> list[str]:
    names = ["pixel_values", "image_sizes"]
    return names + ["batch_num_images"] if p["max_views"] is not None else names  # LLaVA-OneVision's


def _fixed_size(p: Any) -> tuple[int, int]:
    from .plan.strategies.fixed import target_size

    s = target_size(p["size"])
    return s.width, s.height


def _fixed_attributes(p: Any, px: Any) -> dict[str, Any]:
    """A plain resize: CLIPImageProcessor with a (height, width) size and no crop."""
    w, h = _fixed_size(p)
    return dict(size={"height": h, "width": w}, do_center_crop=False)


def _crop_attributes(p: Any, px: Any) -> dict[str, Any]:
    """Shortest edge, then a centre crop (CLIPImageProcessor); with do_pad, the square
    mean-colour pad first (LlavaImageProcessor)."""
    w, h = _fixed_size(p)
    edge = p.get("shortest_edge") or min(w, h)
    return dict(size={"shortest_edge": edge}, crop_size={"height": h, "width": w}, do_center_crop=True)


def _fixed_kwargs(p: Any, kwargs: dict) -> dict:
    """CLIPImageProcessor's ``size={"height", "width"}`` (plain resize) as the preset's size."""
    size = kwargs.get("size")
    if isinstance(size, dict) and set(size) == {"height", "width"}:
        kwargs = {**kwargs, "size": (size["width"], size["height"])}
    return kwargs


def _crop_kwargs(p: Any, kwargs: dict) -> dict:
    """CLIPImageProcessor's ``size={"shortest_edge"}`` and ``crop_size`` as the preset's
    shortest_edge and size."""
    kwargs = dict(kwargs)
    size = kwargs.pop("size", None)
    if size is not None:
        if not (isinstance(size, dict) and set(size) == {"shortest_edge"}):
            raise SpecError(f"size must be {{'shortest_edge': int}} for a resize-and-crop preset, got {size!r}")
        kwargs["shortest_edge"] = size["shortest_edge"]
    crop = kwargs.pop("crop_size", None)
    if crop is not None:
        if not (isinstance(crop, dict) and set(crop) == {"height", "width"}):
            raise SpecError(f"crop_size must be {{'height': int, 'width': int}}, got {crop!r}")
        kwargs["size"] = (crop["width"], crop["height"])
    return kwargs


register_processor_glue("fixed", ProcessorGlue(lambda p: ["pixel_values"], _fixed_attributes, translate=_fixed_kwargs,
                                               reference=lambda p: "CLIPImageProcessorPil",
                                               image_shaped=True))
register_processor_glue("fixed-crop", ProcessorGlue(lambda p: ["pixel_values"], _crop_attributes,
                                                    translate=_crop_kwargs, reference=lambda p: "CLIPImageProcessorPil",
                                                    image_shaped=True))
register_processor_glue("fixed-pad", ProcessorGlue(
    lambda p: ["pixel_values"], lambda p, px: {**_crop_attributes({**p, "shortest_edge": None}, px), "do_pad": True},
    translate=_crop_kwargs, reference=lambda p: "LlavaImageProcessorPil", image_shaped=True))
register_processor_glue("dynamic", ProcessorGlue(lambda p: ["pixel_values"], lambda p, px: {}))
def _anyres_reference(p: Any) -> str:
    return "LlavaNextImageProcessorPil" if p["max_views"] is None else "LlavaOnevisionImageProcessorPil"


def _anyres_unpad(ip: Any, data: dict, overrides: dict) -> dict:
    """LLaVA-NeXT / OneVision without padding: each image's own views (base + tiles), a list."""
    sizes = [tuple(int(v) for v in hw) for hw in data["image_sizes"]]
    pixels = [pv[: ip._patches(h, w, overrides)] for pv, (h, w) in zip(data["pixel_values"], sizes)]
    return {**data, "pixel_values": pixels, "image_sizes": sizes}


register_processor_glue("anyres", ProcessorGlue(_anyres_inputs, _anyres_attributes, nested=_onevision_samples,
                                                reference=_anyres_reference, fill_from_attribute=True,
                                                translate=_anyres_kwargs, unpad=_anyres_unpad,
                                                encoder_free={"patch_size": 1},
                                                as_processed=lambda ip, resolved: _without_do_pad(ip, resolved),
                                                image_shaped=True))
register_processor_glue("native", ProcessorGlue(lambda p: ["pixel_values", "image_grid_thw"], _native_attributes,
                                                image_patches=_native_patches, keeps_uint8=lambda data: False,
                                                reference=lambda p: "Qwen2VLImageProcessorPil"))
def _internvl_processed(ip: Any, resolved: dict) -> dict:
    """GotOcr2's processing path never reads ``do_pad`` (nor a centre crop)."""
    for name in ("do_pad", "pad_size", "do_center_crop", "crop_size"):
        resolved.pop(name, None)
    return resolved


register_processor_glue("internvl", ProcessorGlue(lambda p: ["pixel_values", "num_patches"], _internvl_attributes,
                                                  reference=lambda p: "GotOcr2ImageProcessorPil",
                                                  as_processed=_internvl_processed,
                                                  encoder_free={"patch_size": 1, "downsample_ratio": 1.0},
                                                  image_shaped=True, tiling_infers_channels="crop_to_patches"))
register_processor_glue("idefics3", ProcessorGlue(lambda p: ["pixel_values", "pixel_attention_mask"],
                                                  _idefics3_attributes, image_patches=_idefics3_patches,
                                                  nested=_split_idefics3_samples, on_request=("rows", "cols"),
                                                  reference=lambda p: "Idefics3ImageProcessorPil",
                                                  keeps_uint8=_no_empty_slot,
                                                  encoder_free={"patch_size": 1, "scale_factor": 1},
                                                  image_shaped=True))
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
                                                  _idefics2_attributes, nested=_split_idefics3_samples,
                                                  reference=lambda p: "Idefics2ImageProcessorPil",
                                                  keeps_uint8=_no_empty_slot, image_shaped=True))
def _naflex_processed(ip: Any, resolved: dict) -> dict:
    """SigLIP2's processing path sizes images by patch_size and max_num_patches only: the
    ``size`` (and crop) arguments every processor accepts are never read."""
    for name in ("size", "do_center_crop", "crop_size", "do_pad", "pad_size"):
        resolved.pop(name, None)
    return resolved


register_processor_glue("naflex", ProcessorGlue(lambda p: ["pixel_values", "pixel_attention_mask", "spatial_shapes"],
                                                _naflex_attributes, image_patches=lambda plan: plan.num_tokens,
                                                reference=lambda p: "Siglip2ImageProcessorPil",
                                                as_processed=_naflex_processed))


# --- Aria (fam-idefics) ---
def _aria_attributes(p: Any, px: Any) -> dict[str, Any]:
    return dict(max_image_size=p["max_image_size"], min_image_size=p["min_image_size"], split_image=p["split_image"],
                split_resolutions=[list(pair) for pair in p["split_resolutions"]])


def _aria_count(resolved: dict, height: int, width: int) -> int:
    """The reference's count: 1 crop, or with ``split_image`` the crops of the best split
    resolution cut in ``max_image_size`` squares (whatever max_image_size is)."""
    from .plan.strategies.aria import split_count
    from .plan.types import Size

    if not resolved.get("split_image"):
        return 1
    side = resolved["max_image_size"]
    if isinstance(side, bool) or not isinstance(side, int) or side < 1:
        raise SpecError(f"max_image_size must be a positive integer, got {side!r}")
    return split_count(Size(width, height), [tuple(pair) for pair in resolved["split_resolutions"]], side)


register_processor_glue("aria", ProcessorGlue(lambda p: ["pixel_values", "pixel_mask", "num_crops"], _aria_attributes,
                                              reference=lambda p: "AriaImageProcessorPil", count=_aria_count,
                                              image_shaped=True))

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


register_processor_glue("pan-and-scan", ProcessorGlue(lambda p: ["pixel_values", "num_crops"], _gemma3_attributes,
                                                      reference=lambda p: "Gemma3ImageProcessorPil",
                                                      encoder_free={"patch_size": 1, "image_seq_length": 1},
                                                      image_shaped=True))
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


def _without_do_pad(ip: Any, resolved: dict) -> dict:
    """``do_pad`` changes the output's form only (``unpad``), not the pixels of each image."""
    resolved.pop("do_pad", None)
    return resolved


def _pixtral_unpad(ip: Any, data: dict, overrides: dict) -> dict:
    """PixtralImageProcessor without padding: each image at its own (h, w), a list."""
    sizes = [tuple(int(v) for v in hw) for hw in data["image_sizes"]]
    pixels = [pv[:, :h, :w] for pv, (h, w) in zip(data["pixel_values"], sizes)]
    return {**data, "pixel_values": pixels, "image_sizes": sizes}


register_processor_glue("pixtral", ProcessorGlue(lambda p: ["pixel_values", "image_sizes"], _pixtral_attributes,
                                                 translate=_pixtral_kwargs, reference=lambda p: "PixtralImageProcessorPil",
                                                 as_processed=_without_do_pad, unpad=_pixtral_unpad,
                                                 image_shaped=True))


# Mllama and Llama 4 --------------------------------------------------------------------


def _mllama_attributes(p: Any, px: Any) -> dict[str, Any]:
    return dict(size=dict(p["size"]), max_image_tiles=p["max_image_tiles"], do_pad=True)


register_processor_glue("mllama", ProcessorGlue(
    lambda p: ["pixel_values", "num_tiles", "aspect_ratio_ids", "aspect_ratio_mask"], _mllama_attributes,
    image_patches=lambda plan: plan.info["num_tiles"], lists=("num_tiles",),
    reference=lambda p: "MllamaImageProcessorPil", keeps_uint8=lambda data: False, nested=_mllama_samples,
    encoder_free={"patch_size": 1}, image_shaped=True))
PROCESSOR_GLUE.unsupported(
    "llama4",
    "AnyresImageProcessor returns the transformers PIL processor's output, and Llama 4 has only a "
    "torchvision one in transformers 5.23",
)


def _gemma4_attributes(p: Any, px: Any) -> dict[str, Any]:
    return dict(patch_size=p["patch_size"], max_soft_tokens=p["max_soft_tokens"],
                pooling_kernel_size=p["pooling_kernel_size"], do_normalize=False)


register_processor_glue("gemma4", ProcessorGlue(
    lambda p: ["pixel_values", "image_position_ids", "num_soft_tokens_per_image"], _gemma4_attributes,
    reference=lambda p: "Gemma4ImageProcessorPil"))


# Ovis2, MiniCPM-V 4.6, HunYuan-VL, DeepSeek-OCR 2, DeepSeek-VL and Janus: anyres.hf_families
from . import hf_families  # noqa: E402,F401  (registers their glue)

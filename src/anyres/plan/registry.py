"""Presets: named bundles of a strategy, its parameters and the pixel settings.

A preset is data. ``register_preset`` adds one (built on any registered strategy, or on
another preset); a spec string ``"name(key=literal, ...)"`` overrides parameters
wherever a preset name is accepted. Overrides may also use the reference's own shapes:
a strategy's ``translate`` (``size={...}``) and the image processor's pixel keywords
(``image_mean``, ``image_std``, ``rescale_factor``, ``resample``; ``pixel_keys.py``).
A checkpoint folder stands for its family's preset with the checkpoint's values as
overrides (``checkpoint.py``), with or without ``(key=...)`` of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from ..errors import SpecError
from . import checkpoint
from .frozen import FrozenDict
from .limits import Limits, current_limits
from .pixel_keys import PIXEL_KEYS, with_pixel_keys
from .schema import check_params
from .spec import parse_spec
from .strategies import STRATEGIES

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class PixelSettings:
    """How the pixel layer executes a plan for this preset (as the reference does)."""

    resample: str = "bicubic"  # bicubic | bilinear | lanczos | nearest
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD
    rescale: float = 1 / 255
    sharpen: bool = False  # Pillow's SHARPEN filter on every view after resizing (document transform)
    # the mean a "mean" pad fill is taken from when it is not the normalisation mean: the
    # reference pads with int(image_mean * 255) even with do_normalize=False
    fill_mean: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class Preset:
    name: str
    strategy: str
    params: dict[str, Any] = field(default_factory=dict)
    pixels: PixelSettings = PixelSettings()
    description: str = ""
    reference: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.params, FrozenDict):  # shared by every plan: read-only
            object.__setattr__(self, "params", FrozenDict(self.params))

    def resolved(self) -> dict[str, Any]:
        """Every parameter of the strategy, with this preset's values applied."""
        return {**STRATEGIES[self.strategy].defaults, **self.params}


_PRESETS: dict[str, Preset] = {}


def _normalise(value: Any) -> Any:
    """Lists become tuples and dicts FrozenDicts, so that parameters are hashable and
    compare equal."""
    if isinstance(value, (list, tuple)):
        return tuple(_normalise(v) for v in value)
    if isinstance(value, dict):  # a reference-shaped override (size={...}): hashable, read-only
        return FrozenDict({k: _normalise(v) for k, v in value.items()})
    return value


def _translated(preset: Preset, overrides: dict[str, Any]) -> dict[str, Any]:
    """Overrides in the reference processor's names and shapes, as the strategy's own."""
    translate = STRATEGIES[preset.strategy].translate
    if translate is None or not overrides:
        return overrides
    try:
        translated = translate(dict(overrides), preset.resolved())
    except SpecError:
        raise
    except (TypeError, ValueError, ArithmeticError, KeyError, AttributeError) as exc:
        # a translation computes with values the schema has not checked yet
        given = ", ".join(f"{k}={v!r}" for k, v in overrides.items())
        raise SpecError(f"{preset.name}: overrides {given} cannot be read ({type(exc).__name__}: {exc})") from None
    return {k: _normalise(v) for k, v in translated.items()}


def register_preset(
    name: str,
    strategy: str | None = None,
    *,
    base: str | None = None,
    pixels: PixelSettings | None = None,
    description: str = "",
    reference: str = "",
    replace_existing: bool = False,
    **params: Any,
) -> Preset:
    """Register a preset: a strategy (or an existing preset, ``base``) plus parameters.

    >>> register_preset("internvl-6", base="internvl", max_tiles=6)
    """
    if not name or "(" in name or "," in name:
        raise SpecError(f"invalid preset name {name!r}")
    if name in _PRESETS and not replace_existing:
        raise SpecError(f"preset {name!r} is already registered (pass replace_existing=True)")
    if base is not None:
        parent = get_preset(base)
        strategy = strategy or parent.strategy
        merged = {**parent.params, **_translated(parent, {k: _normalise(v) for k, v in params.items()})}
        pixels = pixels or parent.pixels
        description = description or parent.description
        reference = reference or parent.reference
    else:
        merged = dict(params)
    if strategy not in STRATEGIES:
        raise SpecError(f"unknown strategy {strategy!r}; known: {', '.join(sorted(STRATEGIES))}")
    preset = Preset(name, strategy, {}, pixels or PixelSettings(), description, reference)
    if base is None:
        merged = _translated(preset, {k: _normalise(v) for k, v in merged.items()})
    params_all = _validated(preset, merged)
    preset = replace(preset, params=FrozenDict({k: v for k, v in params_all.items() if k in merged}))
    _PRESETS[name] = preset
    resolve.cache_clear()
    return preset


def unregister_preset(name: str) -> None:
    _PRESETS.pop(name, None)
    resolve.cache_clear()


def get_preset(name: str) -> Preset:
    try:
        return _PRESETS[name]
    except KeyError:
        raise SpecError(f"unknown preset {name!r} (and no checkpoint folder of that name); "
                        f"known presets: {', '.join(_PRESETS)}") from None


def presets() -> list[str]:
    """The names of the registered presets, in registration order."""
    return list(_PRESETS)


def _validated(preset: Preset, overrides: dict[str, Any], limits: Limits | None = None) -> dict[str, Any]:
    strategy = STRATEGIES[preset.strategy]
    unknown = sorted(set(overrides) - set(strategy.defaults))
    if unknown:
        raise SpecError(
            f"preset {preset.name!r} has no parameter {', '.join(unknown)}; "
            f"its parameters: {', '.join(strategy.defaults)}"
        )
    params = {**preset.resolved(), **{k: _normalise(v) for k, v in overrides.items()}}
    check_params(strategy, preset.name, params, current_limits() if limits is None else limits)
    return params


@lru_cache(maxsize=4096)
def _resolve_cached(
    spec: str, overrides: tuple, limits: Limits, types: tuple = (), folder: tuple | None = None
) -> tuple[Preset, FrozenDict, FrozenDict]:
    name, kwargs = parse_spec(spec)
    kwargs.update(dict(overrides))
    kwargs = {k: _normalise(v) for k, v in kwargs.items()}
    from_checkpoint: dict[str, Any] = {}
    if folder is not None:  # the checkpoint's values, then the spec's and the caller's on top
        name, from_checkpoint = checkpoint.checkpoint_overrides(folder[0])
        from_checkpoint = {k: _normalise(v) for k, v in from_checkpoint.items() if k not in kwargs}
    preset = get_preset(name)
    pixel = {k: v for k, v in {**from_checkpoint, **kwargs}.items() if k in PIXEL_KEYS}
    if pixel:
        preset = replace(preset, pixels=with_pixel_keys(preset.pixels, pixel))
    merged = _translated(preset, {k: v for k, v in {**from_checkpoint, **kwargs}.items() if k not in PIXEL_KEYS})
    params = _validated(preset, merged, limits)
    base = get_preset(name)
    defaults = base.resolved()
    given = {k: v for k, v in merged.items() if k in kwargs or defaults.get(k, _UNSET) != v}
    if preset.pixels != base.pixels:  # pixel keywords that changed something stay in the spec
        given.update(pixel)
    return preset, FrozenDict(params), FrozenDict(given)


_UNSET = object()


def _types(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(_types(v) for v in value)
    return type(value).__name__


def resolve(spec: str, **overrides: Any) -> tuple[Preset, FrozenDict, FrozenDict]:
    """(preset, every effective parameter, the parameters given on top of the preset).

    ``spec`` is a preset name, a spec string, or a checkpoint folder (optionally with
    ``(key=...)``). The two dicts are cached and shared by every plan of the spec, so
    they are read-only (``FrozenDict``); ``dict(params)`` is a copy to change. A
    folder's configs are read again when their modification times change.

    Every parameter is checked here, once per spec: its type and range, then the worst
    case the parameters imply against ``anyres.plan.limits`` (``SpecError`` naming the
    parameter, the value and the limit)."""
    limits = current_limits()
    if not overrides and type(spec) is str:  # the hot path of planning: a spec seen before
        hit = _PLAIN.get(spec)
        if hit is not None and hit[0] is limits:
            return hit[1]
    if not isinstance(spec, str):
        raise SpecError(f"a preset spec is a string, got {type(spec).__name__}")
    key: tuple = ()
    if overrides:
        try:
            key = tuple(sorted((k, _normalise(v)) for k, v in overrides.items()))
            hash((key, _types(key)))
        except TypeError:
            raise SpecError(f"override values must be literals, got {overrides!r}") from None
    folder = None
    head = spec.partition("(")[0].partition("+")[0].strip()
    if head not in _PRESETS:
        folder = checkpoint.stamp(head)  # None: get_preset says the name is unknown
    # the types are part of the key: True == 1 == 1.0 would otherwise share one entry,
    # and a value the schema refuses would be served the plan of one it accepts
    resolved = _resolve_cached(spec, key, limits, _types(key), folder)
    if not overrides and folder is None:  # a folder's configs may change: always re-stamped
        if len(_PLAIN) > 4096:
            _PLAIN.clear()
        _PLAIN[spec] = (limits, resolved)
    return resolved


# spec -> (the limits it was resolved under, resolve's result), for specs without keyword
# overrides: planning resolves its spec once a plan
_PLAIN: dict[str, tuple[Limits, tuple]] = {}


def _clear_resolved() -> None:
    _resolve_cached.cache_clear()
    _PLAIN.clear()


resolve.cache_clear = _clear_resolved  # type: ignore[attr-defined]

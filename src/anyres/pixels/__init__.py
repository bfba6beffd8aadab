"""anyres.pixels: execute plans on images; the tensors a vision encoder expects.

``preprocess(images, preset)`` loads each image safely, plans it, renders its views with
the reference's filters and order of operations, rescales and normalises them with the
preset's mean and std, and returns a shape-grouped batch (``output="anyres"``), the
transformers processor's own output (``output="hf"``) or one packed patch sequence
(``output="packed"``).
"""

from __future__ import annotations

from typing import Any

from ..errors import SpecError
from ..image.limits import DEFAULT_MAX_PIXELS
from ..plan import get_preset, resolve
from .batch import PackedBatch, PixelBatch, ViewGroup, group_views, pack
from .execute import render_views
from .render import Job, render_all

OUTPUTS = ("anyres", "hf", "packed")


def preprocess(
    images: Any,
    preset: str,
    *,
    return_tensors: str = "np",
    output: str = "anyres",
    num_workers: int = 0,
    exact: bool = True,
    on_error: str = "raise",
    max_image_pixels: int = DEFAULT_MAX_PIXELS,
    **overrides: Any,
):
    """Turn images (paths, bytes, file objects, PIL images, arrays) into encoder inputs.

    - ``output="anyres"``: a ``PixelBatch`` (plans + views grouped by shape);
      ``"hf"``: the dict the transformers processor of the preset returns (same keys,
      shapes, dtypes and values); ``"packed"``: a ``PackedBatch`` (one patch sequence).
    - ``exact=False``: the fast path (``anyres.pixels.fast``), within about one uint8
      level of the exact path.
    - ``num_workers=N`` (N > 1): decode and render in N worker processes; worth it for
      files and bytes (in-memory images would be copied to the workers).
    - ``max_image_pixels``: the decode limit (``load_image``'s ``max_pixels``; named
      apart so that a preset's own ``max_pixels``, qwen2-vl's, stays an override).
    - ``on_error="skip"``: refused inputs (``ImageError``, ``PlanError``) are listed in
      ``batch.errors`` instead of raised; ``batch.indices`` maps the rest to the input.
      Not available with ``output="hf"``, whose dict has no place to say which image
      is missing.
    """
    if return_tensors not in ("np", "pt"):
        raise SpecError(f"return_tensors must be 'np' or 'pt', got {return_tensors!r}")
    if output not in OUTPUTS:
        raise SpecError(f"output must be one of {', '.join(OUTPUTS)}, got {output!r}")
    if on_error not in ("raise", "skip"):
        raise SpecError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    if on_error == "skip" and output == "hf":
        raise SpecError("on_error='skip' cannot be used with output='hf' (its dict cannot say which image is missing)")
    if not isinstance(images, (list, tuple)):
        images = [images]
    if not images:
        raise SpecError("preprocess needs at least one image")
    resolve(preset, **overrides)  # a bad spec or override is the caller's error, raised once
    jobs = [Job(im, preset, overrides, exact, max_image_pixels) for im in images]
    plans, views, indices, errors = [], [], [], []
    for i, result in enumerate(render_all(jobs, num_workers)):
        if isinstance(result, Exception):
            if on_error == "raise":
                raise result
            errors.append((i, result))
            continue
        plans.append(result[0])
        views.append(result[1])
        indices.append(i)
    px = [get_preset(p.preset).pixels for p in plans]
    if output == "hf":
        from .hf import to_hf

        return to_hf(plans, views, px[0], return_tensors)
    if output == "packed":
        batch = pack(plans, views, px, return_tensors)
        batch.indices, batch.errors = indices, errors
        return batch
    groups = group_views(plans, views, px)
    if return_tensors == "pt":
        import torch

        for g in groups.values():
            g.pixel_values = torch.from_numpy(g.pixel_values)
    return PixelBatch(plans, groups, indices, errors, return_tensors)


__all__ = ["PackedBatch", "PixelBatch", "ViewGroup", "pack", "preprocess", "render_views"]

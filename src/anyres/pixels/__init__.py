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
from .batch import PackedBatch, PixelBatch, ViewGroup, group_layout, group_views, pack, pack_layout
from .execute import render_views
from .hf import fill_all, hf_layout
from .render import Job, plan_all_ahead, render_all, render_iter

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
      files and bytes (in-memory images would be copied to the workers). When every
      image can be planned from its header, the output is allocated first and each
      image is normalised into it as it arrives, while the workers render the next.
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

    def layout(plans: list) -> tuple[Any, Any]:
        px = [get_preset(p.preset).pixels for p in plans]
        if output == "hf":
            return hf_layout(plans, px[0], return_tensors)
        if output == "packed":
            return pack_layout(plans, px, return_tensors)
        return group_layout(plans, px)

    results, filled = None, None
    ahead = plan_all_ahead(jobs) if num_workers > 1 and len(jobs) > 1 else None
    if ahead is not None:  # fill each image's views as the workers deliver them
        filled, fill = layout(ahead)
        results = []
        for i, result in enumerate(render_iter(jobs, num_workers)):
            results.append(result)
            if filled is None or isinstance(result, Exception) or result[0] != ahead[i]:
                filled = None  # a refusal or a surprise: lay out again from what came back
                continue
            for j, v in enumerate(result[1]):
                fill(i, j, v)
    else:
        results = render_all(jobs, num_workers)
    plans, views, indices, errors = [], [], [], []
    for i, result in enumerate(results):
        if isinstance(result, Exception):
            if on_error == "raise":
                raise result
            errors.append((i, result))
            continue
        plans.append(result[0])
        views.append(result[1])
        indices.append(i)
    if filled is None:
        filled, fill = layout(plans)
        fill_all(fill, views)
    if output == "hf":
        return filled
    if output == "packed":
        filled.indices, filled.errors = indices, errors
        return filled
    if return_tensors == "pt":
        import torch

        for g in filled.values():
            g.pixel_values = torch.from_numpy(g.pixel_values)
    return PixelBatch(plans, filled, indices, errors, return_tensors)


__all__ = ["PackedBatch", "PixelBatch", "ViewGroup", "pack", "preprocess", "render_views"]

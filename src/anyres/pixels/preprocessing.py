"""``preprocess``: images in, the tensors a vision encoder (or a transformers model) takes.

Each image is loaded safely, planned, rendered with the reference's filters and order
of operations, rescaled and normalised with its plan's pixel settings, and placed in
one of three outputs (``anyres.pixels.outputs``): a shape-grouped ``PixelBatch``, the
transformers processor's own dict, or one packed patch sequence.
"""

from __future__ import annotations

from typing import Any

from ..errors import SpecError
from ..image.limits import DEFAULT_MAX_PIXELS
from ..plan import resolve
from ..workers import check_workers
from .outputs import OUTPUTS, Allocation
from .render import Job, plan_all_ahead, render_all, render_iter
from .threads import resolve_threads, scope


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
    num_threads: int | None = None,
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
    - ``num_threads``: kernel threads in this process (None: ``ANYRES_NUM_THREADS``,
      else 1), set for the call and restored after it (``anyres.pixels.threads``).
      Views are rendered single-threaded whatever it is; more threads only speed up the
      large whole-image resizes. Parallelism across images comes from ``num_workers``.
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
    num_workers = check_workers(num_workers)
    threads = resolve_threads(num_threads)
    if not isinstance(images, (list, tuple)):
        images = [images]
    if not images:
        raise SpecError("preprocess needs at least one image")
    resolve(preset, **overrides)  # a bad spec or override is the caller's error, raised once
    jobs = [Job(im, preset, overrides, exact, max_image_pixels) for im in images]
    with scope(threads, torch_too=not exact or return_tensors == "pt"):
        return _preprocess(jobs, OUTPUTS[output], return_tensors, num_workers, on_error)


def _preprocess(jobs: list[Job], allocate: Any, return_tensors: str, num_workers: int, on_error: str):
    ahead = plan_all_ahead(jobs) if num_workers > 1 and len(jobs) > 1 else None
    if ahead is None:
        results, filled = render_all(jobs, num_workers), None
    else:
        results, filled = _render_into(jobs, num_workers, allocate(ahead, return_tensors), ahead)
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
        filled = allocate(plans, return_tensors).fill_all(views)
    return filled.result(indices, errors)


def _render_into(jobs: list[Job], num_workers: int, allocation: Allocation, ahead: list) -> tuple[list, Any]:
    """Render in worker processes, normalising each image into ``allocation`` (laid out
    from the header plans ``ahead``) as it arrives. The allocation is returned only when
    every image came back with the plan it was laid out for; after a refusal or a plan
    that differs (a late EXIF orientation) the caller lays out again from the results."""
    results, intact = [], True
    for i, result in enumerate(render_iter(jobs, num_workers)):
        results.append(result)
        if intact and not isinstance(result, Exception) and result[0] == ahead[i]:
            for j, v in enumerate(result[1]):
                allocation.fill(i, j, v)
        else:
            intact = False
    return results, (allocation if intact else None)

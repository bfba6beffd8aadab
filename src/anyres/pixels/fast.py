"""The fast pixel path (``exact=False``): same plan, same crops, padding and
normalisation; cheaper resampling and decoding.

- Bicubic and bilinear presets resize with PyTorch's antialiased uint8 kernels (SIMD,
  a port of Pillow-SIMD's), which differ from Pillow's by at most one uint8 level.
- Lanczos presets (Idefics3), and any other filter torch lacks, resize with
  ``anyres.pixels.resample`` (Pillow's arithmetic in numba, SIMD; the exact path's
  own resampler), so their fast views equal the exact ones (0 levels). Pillow's
  ``reducing_gap=3`` shortcut was measured and left out: it differs by up to 3 levels
  (0.56% of values by more than one) on 1200x9000 and 9000x6000 images, which is
  outside the fast path's one-level promise. Idefics3's two consecutive resizes stay
  two resizes: the reference's first one loses resolution that a single combined
  resize would keep, so combining them gives a different (sharper) image, not the
  reference's (``docs/performance.md``).
- A PIL image that Pillow holds in several blocks (a user's photo over 16 MB) is never
  copied whole when a canvas can avoid it: a canvas resized width first over whole rows
  (photos) runs torch's horizontal pass block by block, each block's rows straight into
  their rows of the output (``_width_from_runs``: rows are independent, the same bits;
  1.26-1.43x the join-then-resize, CPU time); a canvas whose first resize runs height
  first (Pillow's order when the height shrinks much more than the width: tall images)
  and shrinks it ``IN_PLACE_MIN_SHRINK`` times or more reads the blocks in place with the
  exact resampler, whose vertical pass streams whole rows; any other canvas makes the
  image be joined once, block by block, into one numpy array (``memory.pixels``:
  huge-page backed) for torch (``benchmarks/bench_pixel_choices.py``, 3.).
- An RGB uint8 numpy array or torch tensor (H x W x 3 or 3 x H x W) is read in place
  (``image.arrays.RGBArray``): torch resizes its three interleaved channels directly;
  a channels-first one is interleaved once into RGBX (4 ms for 12 MP; torch's own
  conversion took ~45). Copying it into a Pillow image first cost ~35 ms for 12 MP,
  more than the rest of the preprocessing. The exact resampler's steps (Lanczos,
  fractional boxes, direct views) read it in place too (``execute``).
- Canvases whose source box is fractional (S2's centre crop) keep Pillow's exact
  box resampling: rounding the box would shift the content.
- JPEG files are decoded at a reduced DCT scale (1/2, 1/4, 1/8) when every canvas of
  the plan still downsamples the reduced image by at least ``DCT_MARGIN`` (6): DCT
  reduction smooths a little, and the later antialiased resize averages that out only
  when it shrinks far enough; text edges need the 6x (2x left 16 levels on a page).

``benchmarks/bench_preprocess.py`` measures the deviation from the exact path.
"""

from __future__ import annotations

import functools
import os
import warnings
from typing import Any, Callable

from ..errors import AnyresError
from ..image.arrays import RGBArray, write_rgbx
from ..plan import Plan
from ..plan.types import Canvas
from .execute import fill_colour, render_canvas, resample_filter
from .resample import horizontal_first

TORCH_MODES = {"bicubic": "bicubic", "bilinear": "bilinear"}
# measured on a text page (benchmarks/bench_jpeg_text.py): margin 2 left 16 levels
# (9.7% of values > 2 levels off, 3000x2000 under llava-next), 4 left 4 levels at
# 6000x4000; 6 keeps the README's bound (<= 2 levels, > 1 level on <= 0.01%) on text
DCT_MARGIN = 6.0
# a multi-block image's height-first canvas is resized in place by the exact resampler
# when its height shrinks this much or more, else joined and resized by torch
# (benchmarks/bench_pixel_choices.py, 3.: 800x6000 to 384 rows 1.73x in place, to 1008
# rows 1.24x, to 1232 even; to 2240 and 3584 rows joined + torch 1.29x and 1.69x)
IN_PLACE_MIN_SHRINK = 5.0


def _resize(t, w: int, h: int, mode: str):
    """``t`` (1, C, H, W) uint8 resized to w x h with torch's antialiased kernel, one axis a
    call, each into numpy memory (``_resize_axis``); channels-last (1, C, h, w) out."""
    height, width = t.shape[-2:]
    if (height, width) == (h, w):
        return t
    from .threads import torch_single_thread

    with torch_single_thread(w * h):  # a view-sized resize: one thread even when the call allows more
        if h != height and w != width:
            # Pillow's order: torch alone always runs the horizontal pass first, over every
            # source row (800x6000 -> 3072x384: 133 ms, against 10 ms height first) and
            # further from Pillow's values (4 levels against 2 on noise)
            t = _resize_axis(t, height, w, mode) if horizontal_first(width, height, w, h) else _resize_axis(t, h, width, mode)
        return _resize_axis(t, h, w, mode)


def _resize_axis(t, h: int, w: int, mode: str):
    """One call of torch's antialiased uint8 resize (``interpolate``'s own kernel, same
    bits) with its output in a new channels-last numpy array. Left to itself, torch
    allocates its intermediate row buffer and a planar output with its own allocator:
    fresh memory of 4 KB pages each call, 1.5 us a page fault on this VM (a 12 MP photo
    to 2800x2100: 14 000-20 000 faults, 60-65 ms against ~25 without them); numpy's large
    arrays are huge-page backed. One axis a call leaves torch no intermediate buffer, and a channels-last
    output no repacking. An input that is not channels-last contiguous (a crop of the
    image) is copied into numpy memory first, for the same reason."""
    import numpy as np
    import torch

    channels = t.shape[1]
    if not t.is_contiguous(memory_format=torch.channels_last):
        t = torch.from_numpy(np.ascontiguousarray(t[0].permute(1, 2, 0).numpy())).permute(2, 0, 1)[None]
    out = torch.from_numpy(np.empty((h, w, channels), dtype=np.uint8)).permute(2, 0, 1)[None]
    _aa_kernel(mode)(t, [h, w], False, None, None, out=out)
    return out


@functools.cache
def _aa_kernel(mode: str) -> Callable:
    """torch's antialiased uint8 resize for ``mode``, the out= form of the op that
    ``interpolate(..., antialias=True)`` calls."""
    import torch

    return getattr(torch.ops.aten, f"_upsample_{mode}2d_aa").out


def _integral(values, tol: float = 1e-6) -> bool:
    return all(abs(v - round(v)) <= tol for v in values)


def _rgbx(image: Any):
    """(1, 4, H, W) uint8 channels-last over the image's RGBX memory (no copy when Pillow
    exports it): PyTorch's SIMD resize works on four interleaved channels and pads
    three to four itself, so the fourth costs nothing and spares a repack."""
    import torch

    from ..image.memory import pixels

    if isinstance(image, RGBArray):  # the caller's array, three channels, read only
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch's note on read-only arrays: nothing writes
            return torch.from_numpy(image.interleaved()).permute(2, 0, 1)[None]
    return torch.from_numpy(pixels(image, 4)).permute(2, 0, 1)[None]


def render_views_fast(image: Any, plan: Plan) -> list[Any]:
    """The views of ``plan`` as (3, H, W) uint8 arrays. ``image`` is the oriented RGB
    image planned for (a PIL image or an ``RGBArray``), or a reduced decode of it (same
    aspect, smaller size)."""
    from ..plan.schema import check_canvases

    check_canvases(plan)  # before anything is allocated
    px = plan.pixels
    mode = TORCH_MODES.get(px.resample)
    if mode is None or px.sharpen:  # the exact path filters its views
        from ..image.memory import chw
        from .execute import render_views

        return [chw(v) for v in render_views(image, plan)]  # the exact resampler: no reducing_gap
    if _has_direct(plan) and (image.width, image.height) == tuple(plan.image):
        from ..image.memory import chw
        from .execute import render_views

        return [chw(v) for v in render_views(image, plan)]  # no canvas materialised
    sx, sy = image.width / plan.image.width, image.height / plan.image.height
    runs = _runs(image)
    full = functools.cache(lambda: _rgbx(image))  # a multi-block image is joined once, when a canvas needs it
    canvases = [_canvas(image, full, runs, c, sx, sy, mode, px) for c in plan.canvases]
    out = []
    for v in plan.views:
        l, t, r, b = (int(x) for x in v.crop)
        x = canvases[v.canvas][:, :, t:b, l:r]
        x = _resize(x, v.size.width, v.size.height, mode) if v.recrop is None else _recropped(x, v, mode)
        view = x[0, :3].numpy()  # (3, H, W) over the channels-last pixels: the normalisers read any strides
        view.flags.writeable = False
        out.append(view)
    return out


def _recropped(x, view, mode: str):
    """A resize-then-crop view (``View.recrop``): resized, then cut to the ``size`` window,
    zeros where the window reaches past the resized crop (negative padding crops)."""
    import torch

    r = view.recrop
    x = _resize(x, r.resized.width, r.resized.height, mode)
    w, h = view.size
    pads = (-r.left, r.left + w - r.resized.width, -r.top, r.top + h - r.resized.height)
    return torch.nn.functional.pad(x, pads) if any(pads) else x


def _runs(image: Any):
    """An RGB image that Pillow holds in several blocks, as its runs of rows read in place
    (``memory.row_runs``); None when it is one block (exported without a copy) or cannot
    be read so."""
    from ..image.memory import exportable, row_runs
    from .resample import numba_available

    if isinstance(image, RGBArray) or image.mode != "RGB" or not numba_available() or exportable(image):
        return None
    return row_runs(image)


def _from_runs(runs, box: tuple[int, int, int, int], step, flt: int) -> Any:
    """The crop ``box`` of a multi-block image resized to ``step`` by the exact resampler,
    reading the blocks in place: (1, 4, h, w) uint8 channels-last, the exact path's
    pixels."""
    import torch

    from .resample import resize_runs

    l, t, r, b = box
    cropped = [
        (max(r0, t) - t, arr[max(r0, t) - r0 : min(b, r0 + arr.shape[0]) - r0, l:r])
        for r0, arr in runs
        if r0 < b and r0 + arr.shape[0] > t
    ]
    out = resize_runs(cropped, r - l, b - t, (step.width, step.height), flt)
    return torch.from_numpy(out).permute(2, 0, 1)[None]


def _width_from_runs(runs, top: int, bottom: int, width: int, mode: str) -> Any:
    """Rows top..bottom of a multi-block image resized to ``width`` (torch's horizontal
    pass, rows are independent: the same bits as on the joined image), each block's rows
    straight into their rows of one channels-last output: the image is never joined
    (a 12 MP photo's join cost 3-8 ms, more than SigLIP2's whole resize)."""
    import numpy as np
    import torch

    from .threads import torch_single_thread

    out = np.empty((bottom - top, width, 4), dtype=np.uint8)
    kernel = _aa_kernel(mode)
    with torch_single_thread(out.shape[0] * width), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's note on read-only arrays: nothing writes
        for r0, arr in runs:
            a, e = max(r0, top), min(r0 + arr.shape[0], bottom)
            if a < e:
                src = torch.from_numpy(arr[a - r0 : e - r0]).permute(2, 0, 1)[None]
                dst = torch.from_numpy(out[a - top : e - top]).permute(2, 0, 1)[None]
                kernel(src, [e - a, width], False, None, None, out=dst)
    return torch.from_numpy(out).permute(2, 0, 1)[None]


def _canvas(image: Any, full: Callable[[], Any], runs, c: Canvas, sx: float, sy: float, mode: str, px) -> Any:
    import torch

    s = c.source
    box = (s.left * sx, s.top * sy, s.right * sx, s.bottom * sy)
    if not _integral(box):  # Pillow's exact fractional box resampling
        from ..plan.types import Box

        scaled = c._replace(source=Box(*box))
        return _rgbx(render_canvas(image, scaled, resample_filter(px.resample), px.fill_mean or px.mean))
    l, t, r, b = (int(round(v)) for v in box)
    steps = list(c.steps)
    first = steps[0] if steps else None
    width_first = first is not None and horizontal_first(r - l, b - t, first.width, first.height)
    if runs is not None and first is not None and not width_first and b - t >= IN_PLACE_MIN_SHRINK * first.height:
        x = _from_runs(runs, (l, t, r, b), steps.pop(0), resample_filter(px.resample))  # height first, in place
    elif runs is not None and width_first and (l, r) == (0, image.width) and first.width != r - l:
        x = _width_from_runs(runs, t, b, first.width, mode)  # width first, block by block: no join
    else:
        x = full()[:, :, t:b, l:r]
    for step in steps:
        x = _resize(x, step.width, step.height, mode)
    if c.padded != c.resized or c.offset != (0, 0):
        x = _padded(x, c, fill_colour(c, px.fill_mean or px.mean))
    return x


def _padded(x, c: Canvas, fill: tuple[int, int, int]) -> Any:
    """The canvas ``c``: ``x`` (1, C, h, w) channels-last (every resize's output and the
    image's own memory) at its offset on the fill colour, as a (1, 4, H, W) channels-last
    RGBX canvas: the fill a 4-byte pattern written only around the image (torch's
    broadcast fill and strided copy of the same took ~10 ms a 1120^2 canvas), the image
    whole rows of words."""
    import numpy as np
    import torch

    ox, oy = c.offset
    h, w = x.shape[2], x.shape[3]
    height, width = c.padded.height, c.padded.width
    canvas = np.empty((height, width, 4), dtype=np.uint8)
    words = canvas.view(np.uint32)[:, :, 0]
    colour = np.array((*fill, 255), dtype=np.uint8).view(np.uint32)[0]
    words[:oy] = colour
    words[oy + h :] = colour
    words[oy : oy + h, :ox] = colour
    words[oy : oy + h, ox + w :] = colour
    image = x[0].permute(1, 2, 0).numpy()
    if x.shape[1] == 4:
        canvas[oy : oy + h, ox : ox + w] = image
    else:  # three channels (an RGBArray): numpy's 3-of-4-bytes copy took 6 ms a 1120^2 canvas
        write_rgbx(image, canvas[oy : oy + h, ox : ox + w])
    return torch.from_numpy(canvas).permute(2, 0, 1)[None]


def _has_direct(plan: Plan) -> bool:
    from ..plan.schema import direct_views

    return any(direct_views(c, [v for v in plan.views if v.canvas == i]) for i, c in enumerate(plan.canvases))


def dct_scale(p: Plan) -> float:
    """The smallest decode scale (of 1, 1/2, 1/4, 1/8) at which every canvas of ``p``
    still shrinks the decoded image by ``DCT_MARGIN`` or more; 1 when any canvas keeps
    source resolution (no resize step) or the preset resizes with Lanczos."""
    if p.pixels.resample not in TORCH_MODES or _has_direct(p):
        return 1.0
    need = 0.0
    for c in p.canvases:
        if not c.steps:
            return 1.0
        target = c.steps[0]
        need = max(need, target.width / max(1e-9, c.source.width), target.height / max(1e-9, c.source.height))
    for scale in (0.125, 0.25, 0.5):
        if scale >= need * DCT_MARGIN:
            return scale
    return 1.0


def load_for_plan(source: Any, spec: str, overrides: dict, max_pixels: int | None = None) -> tuple[Any, Plan]:
    """Decode ``source`` for the fast path and plan it: a JPEG file or bytes at the DCT
    scale ``dct_scale`` allows; anything else as ``load_image`` does. The plan is
    always for the full oriented size (``probe``'s header). Presets that look at the
    content (the budget planner's ink map) need the full image, so they get no DCT
    reduction."""
    from ..image import load_image
    from ..image.decode import _oriented
    from ..image.limits import DEFAULT_MAX_PIXELS
    from ..image.memory import decode_into_one_block
    from ..image.modes import to_rgb
    from ..image.probe import open_image
    from ..plan import plan as make_plan
    from ..plan import resolve
    from ..plan.strategies import STRATEGIES

    limit = DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
    preset = resolve(spec, **overrides)[0]
    from .render import array_and_plan

    read = array_and_plan(source, spec, overrides, limit)  # an RGB uint8 array: read in place
    if read is not None:
        return read
    if isinstance(source, (str, os.PathLike, bytes, bytearray)) and STRATEGIES[preset.strategy].content is None:
        try:
            with open_image(source, max_pixels=limit) as (im, header):
                if header.format == "JPEG" and header.mode in ("RGB", "L"):
                    from ..image.decode import describe
                    from ..image.integrity import check_complete

                    if getattr(im, "fp", None) is not None:  # a frame larger than its data: refused
                        check_complete(im.fp, im, describe(source), before_decode=True)
                    p = make_plan(header.size, spec, **overrides)
                    from ..plan.schema import check_canvases

                    check_canvases(p)  # refused before decoding
                    scale = dct_scale(p)
                    if scale < 1.0:
                        im.draft(im.mode, (int(im.width * scale), int(im.height * scale)))
                    decode_into_one_block(im)
                    im.load()
                    return to_rgb(_oriented(im)), p
        except AnyresError:
            raise
        except Exception:
            pass  # anything unexpected: load_image decodes again and reports it properly
    image = load_image(source, max_pixels=limit)
    return image, make_plan(image, spec, **overrides)

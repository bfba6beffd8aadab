"""Execute a plan on an image with Pillow, in the reference's order of operations.

Each canvas: crop its source box (an integral box is cropped and then resized, as the
slicing references do; a fractional one is resampled directly with Pillow's ``box``),
resize through its steps with the preset's filter (``reducing_gap=None``, as the
references), paste on the padded canvas. Each view: crop the canvas, resize to the
encoder size if it differs. Resizing to the same size is a copy in Pillow, as it is in
the references that call resize on every view.

Every resize goes through ``resize``: with ``ANYRES_RESAMPLER=auto`` (the default) it
runs ``anyres.pixels.resample`` (Pillow's arithmetic in numba, the same pixels, SIMD
and threads) when numba is installed; ``ANYRES_RESAMPLER=pillow`` keeps Pillow's own.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

from ..image.arrays import RGBArray
from ..plan import Plan
from ..plan.types import Canvas

RESAMPLE = {"nearest": 0, "lanczos": 1, "bilinear": 2, "bicubic": 3, "box": 4, "hamming": 5}
RESAMPLERS = ("auto", "pillow")
RESAMPLER = os.environ.get("ANYRES_RESAMPLER", "auto")  # read once; tests may set it


def resize(image: Any, size: tuple[int, int], resample: int, box=None, reducing_gap: float | None = None) -> Any:
    """``image.resize(size, resample, box=box, reducing_gap=reducing_gap)``, by the
    resampler ``RESAMPLER`` names (both give the same pixels)."""
    if RESAMPLER == "pillow":
        return image.resize(size, resample, box=box, reducing_gap=reducing_gap)
    if RESAMPLER != "auto":
        from ..errors import SpecError

        raise SpecError(f"ANYRES_RESAMPLER must be one of {', '.join(RESAMPLERS)}, got {RESAMPLER!r}")
    from .resample import resize_image

    return resize_image(image, size, resample, box=box, reducing_gap=reducing_gap)


def resample_filter(name: str) -> int:
    try:
        return RESAMPLE[name]
    except KeyError:
        from ..errors import SpecError

        raise SpecError(f"unknown resample filter {name!r}; known: {', '.join(RESAMPLE)}") from None


def fill_colour(canvas: Canvas, mean: Sequence[float]) -> tuple[int, int, int]:
    """The RGB a canvas's padding shows (``Canvas.fill``)."""
    fill = canvas.fill
    if fill == "mean":
        return tuple(int(x * 255) for x in mean)  # type: ignore[return-value]
    if fill == "white":
        return (255, 255, 255)
    if isinstance(fill, tuple):
        return fill
    return (0, 0, 0)


def render_canvas(
    image: Any, canvas: Canvas, resample: int, mean: Sequence[float], reducing_gap: float | None = None
) -> Any:
    from PIL import Image

    im = image
    src = canvas.source
    box = (src.left, src.top, src.right, src.bottom)
    steps = list(canvas.steps)
    if box != (0, 0, image.width, image.height):
        if all(float(v).is_integer() for v in box) or not steps:
            from ..image.limits import pillow_allows

            with pillow_allows(image.width * image.height):  # Pillow re-checks its limit on crop
                im = im.crop(tuple(int(round(v)) for v in box))
        else:
            im = resize(im, tuple(steps.pop(0)), resample, box=box, reducing_gap=reducing_gap)
    for step in steps:
        if (im.width, im.height) != (step.width, step.height):  # Pillow's resize to the same size is a copy
            im = resize(im, (step.width, step.height), resample, reducing_gap=reducing_gap)
    if canvas.padded != canvas.resized or canvas.offset != (0, 0):
        im = im.pil() if isinstance(im, RGBArray) else im  # pasted: Pillow's
        colour: Any = fill_colour(canvas, mean)
        if im.mode != "RGB":  # an image kept with other channels (anyres.hf_channels): zero padding only
            if colour != (0, 0, 0):
                from ..errors import SpecError

                raise SpecError(f"a {im.mode} image can be padded with zeros only, this plan pads with {canvas.fill!r}")
            colour = 0
        padded = Image.new(im.mode, (canvas.padded.width, canvas.padded.height), colour)
        padded.paste(im, canvas.offset)
        im = padded
    return im


def render_views(
    image: Any, plan: Plan, resample: str | None = None, reducing_gap: float | None = None
) -> list[Any]:
    """The views of ``plan`` as RGB PIL images, exactly as the encoder sees them before
    rescaling and normalisation (the image must be the oriented RGB image planned for).

    ``reducing_gap`` (None: exact, as the references) lets Pillow reduce by an integer
    box first when downscaling by more than that factor (the fast path for Lanczos)."""
    if (image.width, image.height) != (plan.image.width, plan.image.height):
        from ..errors import PlanError

        raise PlanError(f"the plan is for {plan.image}, the image is {image.width}x{image.height}")
    from ..plan.schema import check_canvases, direct_views

    check_canvases(plan)  # before anything is allocated
    pixels = plan.pixels
    flt = resample_filter(resample or pixels.resample)
    direct = [direct_views(c, [v for v in plan.views if v.canvas == i]) for i, c in enumerate(plan.canvases)]
    canvases = [
        None if d else render_canvas(image, c, flt, pixels.fill_mean or pixels.mean, reducing_gap)
        for c, d in zip(plan.canvases, direct)
    ]
    out = []
    for v in plan.views:
        c = canvases[v.canvas]
        if c is None:
            out.append(render_direct(image, plan.canvases[v.canvas], v, flt, reducing_gap))
            continue
        crop = (int(v.crop.left), int(v.crop.top), int(v.crop.right), int(v.crop.bottom))
        im = c if crop == (0, 0, c.width, c.height) else c.crop(crop)
        im = finish_view(im, v, flt, reducing_gap)
        out.append(sharpened(im) if pixels.sharpen else im)
    return out


def finish_view(crop: Any, view: Any, resample: int, reducing_gap: float | None = None) -> Any:
    """A view's crop as the encoder sees it: resized to ``view.size``, or, for a
    resize-then-crop view (``View.recrop``), resized to ``recrop.resized`` and cut to the
    ``size`` window (Pillow fills the part of a crop box past the image with zeros, as
    the reference's centre crop pads)."""
    r = view.recrop
    target = (view.size.width, view.size.height) if r is None else (r.resized.width, r.resized.height)
    im = crop
    if (im.width, im.height) != target:
        im = resize(im, target, resample, reducing_gap=reducing_gap)
    if r is not None:
        box = (r.left, r.top, r.left + view.size.width, r.top + view.size.height)
        if box != (0, 0, im.width, im.height):
            im = im.crop(box)
    return im.pil() if isinstance(im, RGBArray) else im  # an unresized crop of an array: copied here


def sharpened(image: Any) -> Any:
    """Pillow's SHARPEN filter (3 x 3: centre 32, the eight around it -2, over 16; edges
    extended), the sharpen step of the seed's document transform."""
    from PIL import ImageFilter

    return image.filter(ImageFilter.SHARPEN)


def render_direct(image: Any, canvas: Canvas, view: Any, resample: int, reducing_gap: float | None = None) -> Any:
    """One view of a padding-free canvas with at most one resize step, resampled
    straight from the source without building the canvas (a 1 x 20000 image's CLIP
    canvas is 336 x 6,720,000). The source is cropped to the view's box plus a margin
    wider than any filter's reach (3 lobes at the downscale factor), then resampled
    over the box: every output pixel sees the taps the full resize gives it, so the
    view equals the full canvas's crop (measured: identical, tests/pixels)."""
    import math

    cl, ct, cr, cb = (int(x) for x in view.crop)
    src = canvas.source
    rw, rh = canvas.resized
    kx, ky = (src.right - src.left) / rw, (src.bottom - src.top) / rh
    box = (src.left + cl * kx, src.top + ct * ky, src.left + cr * kx, src.top + cb * ky)
    if canvas.steps:
        mx, my = 3 * math.ceil(max(kx, 1.0)) + 2, 3 * math.ceil(max(ky, 1.0)) + 2
        x0, y0 = max(0, math.floor(box[0]) - mx), max(0, math.floor(box[1]) - my)
        x1, y1 = min(image.width, math.ceil(box[2]) + mx), min(image.height, math.ceil(box[3]) + my)
        part = image.crop((x0, y0, x1, y1))
        shifted = (box[0] - x0, box[1] - y0, box[2] - x0, box[3] - y0)
        im = part.resize((cr - cl, cb - ct), resample, box=shifted, reducing_gap=reducing_gap)
    else:  # the canvas is the source box itself: a crop
        im = image.crop(tuple(int(round(x)) for x in box))
    return finish_view(im, view, resample, reducing_gap)

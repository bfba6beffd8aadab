"""Pictures of plans: the image with every view drawn on it (needs Pillow)."""

from __future__ import annotations

from typing import Any

from ..plan import Plan
from ..plan.types import Box

_LEVEL_COLOURS = [(0, 160, 255), (255, 140, 0), (0, 200, 120), (200, 60, 255), (255, 60, 120)]


def _unclipped(plan: Plan, view) -> Box:
    """The view's crop box in original pixels, padding included (may leave the image)."""
    return plan.canvases[view.canvas].to_source(view.crop, clip=False)


def render_plan(image: Any, plan: Plan, max_side: int = 1100):
    """Return a PIL image: the picture, tiles and slices outlined and labelled with their
    token counts, padding hatched, cut lines dashed, whole-image views listed in the
    caption with the total. The drawing is at most ``max_side`` pixels (plus margins
    and caption) whatever the plan's size: without an image, the grey stand-in is made
    at the drawing's size, never at the plan's."""
    from PIL import Image, ImageDraw, ImageFont

    tiled = [v for v in plan.views if v.level >= 1 or v.grid is not None]
    boxes = [_unclipped(plan, v) for v in tiled]
    left = min([0.0] + [b.left for b in boxes])
    top = min([0.0] + [b.top for b in boxes])
    right = max([float(plan.image.width)] + [b.right for b in boxes])
    bottom = max([float(plan.image.height)] + [b.bottom for b in boxes])
    scale = min(max_side / (right - left), max_side / (bottom - top))
    font = ImageFont.load_default(size=max(12, int(14 * max_side / 1100)))
    small = ImageFont.load_default(size=13)
    caption_lines = _caption(plan)
    cap_h = 20 * len(caption_lines) + 12
    width = int((right - left) * scale) + 20
    height = int((bottom - top) * scale) + 20 + cap_h
    out = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(out, "RGBA")

    def xy(x: float, y: float) -> tuple[float, float]:
        return (10 + (x - left) * scale, 10 + (y - top) * scale)

    # padding: the whole tiled area hatched, the image pasted over it
    if boxes:
        draw.rectangle([*xy(left, top), *xy(right, bottom)], fill=(200, 200, 200))
        for k in range(-int(height), int(width), 14):
            draw.line([(k, 0), (k + height, height)], fill=(170, 170, 170), width=1)
    shown_size = (max(1, int(plan.image.width * scale)), max(1, int(plan.image.height * scale)))
    if image is None:
        shown = Image.new("RGB", shown_size, (235, 235, 235))
    else:
        shown = image.resize(shown_size, reducing_gap=3.0)
        shown = shown if shown.mode == "RGB" else shown.convert("RGB")
    out.paste(shown, tuple(int(v) for v in xy(0, 0)))

    for v, b in zip(tiled, boxes):
        colour = _LEVEL_COLOURS[v.level % len(_LEVEL_COLOURS)]
        x0, y0 = xy(b.left, b.top)
        x1, y1 = xy(b.right, b.bottom)
        draw.rectangle([x0, y0, x1 - 1, y1 - 1], outline=colour + (255,), width=2)
        label = f"{v.tokens}" + (f" r{v.grid[0]}c{v.grid[1]}" if v.grid else "")
        draw.rectangle([x0 + 3, y0 + 3, x0 + 9 + 8 * len(label), y0 + 22], fill=(255, 255, 255, 200))
        draw.text((x0 + 6, y0 + 5), label, fill=colour + (255,), font=small)
    for line in plan.diagnostics.cut_lines:
        if line.orientation == "vertical":
            a, b2 = xy(line.position, line.start), xy(line.position, line.end)
        else:
            a, b2 = xy(line.start, line.position), xy(line.end, line.position)
        _dashed(draw, a, b2, (230, 0, 0, 255))
    y = height - cap_h + 6
    for text in caption_lines:
        draw.text((10, y), text, fill=(0, 0, 0), font=font)
        y += 20
    return out


def _caption(plan: Plan) -> list[str]:
    d = plan.diagnostics
    grid = f", grid {plan.grid[0]}x{plan.grid[1]}" if plan.grid else ""
    lines = [
        f"{plan.spec}  |  image {plan.image}  |  {len(plan.views)} views{grid}  |  total {plan.num_tokens} tokens"
        + (f" (layout {len(plan.layout)})" if len(plan.layout) != plan.num_tokens else "")
    ]
    whole = [v for v in plan.views if not (v.level >= 1 or v.grid is not None)]
    if whole:
        lines.append(
            "whole-image views: "
            + ", ".join(f"{v.role} {v.size} ({v.tokens} tok)" for v in whole)
            + (f"; {plan.newline_tokens} newline tokens" if plan.newline_tokens else "")
        )
    lines.append(
        f"padding {100 * d.padding_fraction:.1f}%  distortion {d.distortion:.2f}  "
        f"min scale {d.min_effective_scale:.3f}  overlap {100 * d.overlap:.1f}%  cut lines {len(d.cut_lines)}"
    )
    return lines


def _dashed(draw, a, b, colour, dash: float = 8.0) -> None:
    (x0, y0), (x1, y1) = a, b
    length = max(abs(x1 - x0), abs(y1 - y0))
    steps = max(1, int(length // dash))
    for i in range(0, steps, 2):
        t0, t1 = i / steps, min(1.0, (i + 1) / steps)
        draw.line([(x0 + (x1 - x0) * t0, y0 + (y1 - y0) * t0), (x0 + (x1 - x0) * t1, y0 + (y1 - y0) * t1)], fill=colour, width=2)

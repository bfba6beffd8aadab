"""Built-in sample images, drawn deterministically (no downloads, no committed binaries).

Each sample is a document-like picture with known text, at a size typical of its kind:
a receipt, an A4 page scan, a wide table, a screenshot, a tall infographic.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

WORDS = (
    "total amount invoice tax subtotal cash change item price quantity date order "
    "coffee bread milk apple orange sugar butter cheese rice pasta tomato onion garlic "
    "report revenue margin quarter growth region north south east west forecast budget "
    "model vision token image resolution tile patch encoder layer attention pixel"
).split()


@dataclass(frozen=True)
class Sample:
    name: str
    width: int
    height: int
    font_px: int
    kind: str


SAMPLES = (
    Sample("receipt", 600, 1800, 18, "receipt"),
    Sample("page", 1240, 1754, 18, "page"),
    Sample("table", 2400, 700, 16, "table"),
    Sample("screenshot", 1920, 1080, 15, "screenshot"),
    Sample("infographic", 800, 3000, 20, "infographic"),
)


def render_sample(sample: Sample, seed: int = 0):
    """(PIL image, the words drawn on it, in reading order)."""
    from PIL import Image, ImageDraw, ImageFont

    rng = random.Random(f"{sample.name}-{seed}")
    img = Image.new("RGB", (sample.width, sample.height), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=sample.font_px)
    words: list[str] = []
    margin = max(20, sample.width // 25)
    line_h = int(sample.font_px * 1.6)
    if sample.kind == "screenshot":
        draw.rectangle([0, 0, sample.width, 48], fill=(40, 60, 90))
        draw.rectangle([0, 48, 260, sample.height], fill=(235, 238, 242))
    if sample.kind == "infographic":
        for k in range(0, sample.height, 600):
            draw.rectangle([0, k, sample.width, k + 120], fill=(230, 240, 255))
    y = margin + (60 if sample.kind == "screenshot" else 0)
    cols = 6 if sample.kind == "table" else 1
    col_w = (sample.width - 2 * margin - (280 if sample.kind == "screenshot" else 0)) // cols
    x0 = margin + (280 if sample.kind == "screenshot" else 0)
    while y + line_h < sample.height - margin:
        for c in range(cols):
            x = x0 + c * col_w
            line = []
            while True:
                word = rng.choice(WORDS)
                if sample.kind in ("receipt", "table") and rng.random() < 0.3:
                    word = f"{rng.randint(1, 999)}.{rng.randint(0, 99):02d}"
                candidate = " ".join(line + [word])
                if draw.textlength(candidate, font=font) > col_w - 12:
                    break
                line.append(word)
            if line:
                draw.text((x, y), " ".join(line), fill=(0, 0, 0), font=font)
                words += line
            if cols > 1:
                draw.line([(x - 4, y - 2), (x - 4, y + line_h - 2)], fill=(180, 180, 180))
        if cols > 1:
            draw.line([(x0, y + line_h - 3), (sample.width - margin, y + line_h - 3)], fill=(200, 200, 200))
        y += line_h
    return img, words

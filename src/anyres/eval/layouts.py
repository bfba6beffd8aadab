"""How each kind of generated document is drawn.

Every layout takes a seeded ``random.Random`` and returns (PIL image, words in reading
order). Reading order is top to bottom, left to right within a line, and for tables
row by row across the columns.
"""

from __future__ import annotations

import random
from typing import Any

from . import backgrounds
from .fonts import font
from .words import CITIES, FIRST_NAMES, code, price, sentence, token, word

INK = (20, 20, 25)


class Writer:
    """Draws text on an image and records the words in the order they are drawn."""

    def __init__(self, image: Any):
        from PIL import ImageDraw

        self.image = image
        self.draw = ImageDraw.Draw(image)
        self.words: list[str] = []

    def line(self, x: float, y: float, words: list[str], face, fill=INK, **kw) -> float:
        """Draw words on one line; return its width."""
        text = " ".join(words)
        self.draw.text((x, y), text, font=face, fill=fill, **kw)
        self.words += words
        return self.draw.textlength(text, font=face)

    def width(self, words: list[str], face) -> float:
        return self.draw.textlength(" ".join(words), font=face)

    def paragraph(self, x, y, width, words, face, line_h, fill=INK, bottom=None) -> float:
        """Greedy word wrap; returns the y below the last line (stops at ``bottom``)."""
        line: list[str] = []
        for w in words:
            if line and self.width(line + [w], face) > width:
                if bottom is not None and y + line_h > bottom:
                    return y
                self.line(x, y, line, face, fill)
                y += line_h
                line = []
            line.append(w)
        if line and (bottom is None or y + line_h <= bottom):
            self.line(x, y, line, face, fill)
            y += line_h
        return y


def receipt(rng: random.Random, seed: int):
    from PIL import Image

    w, h = rng.randint(26, 32) * 20, rng.randint(55, 80) * 20
    img = backgrounds.paper(w, h, seed, tint=(252, 251, 247), grain=3.0)
    out = Writer(img)
    family = rng.choice(("mono", "mono", "sans"))
    size = rng.randint(11, 15)
    face, bold = font(family, size), font(family + "-bold", size + 8)
    margin = rng.randint(24, 40)
    y = margin
    out.line(margin, y, [rng.choice(CITIES).upper(), word(rng).upper()], bold)
    y += int(size * 3)
    for _ in range(2):
        out.line(margin, y, [str(rng.randint(1, 400)), word(rng).capitalize(), "Street"], face)
        y += int(size * 1.5)
    out.line(margin, y, [f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(2001, 2029)}", code(rng)], face)
    y += int(size * 2.5)
    line_h = int(size * rng.uniform(1.35, 1.7))
    total_y = h - margin - int(size * 9)
    while y < total_y:
        item = [word(rng).upper()] + ([word(rng).upper()] if rng.random() < 0.4 else [])
        out.line(margin, y, item, face)
        p = price(rng)
        out.line(w - margin - out.width([p], face), y, [p], face)
        y += line_h
    y += line_h
    for label in ("SUBTOTAL", "TAX", "TOTAL"):
        out.line(margin, y, [label], face)
        p = price(rng)
        out.line(w - margin - out.width([p], face), y, [p], face)
        y += line_h
    small = font(family, max(9, size - 3))
    out.paragraph(margin, y + line_h, w - 2 * margin, sentence(rng, 8, 14), small, int(size * 1.3), bottom=h - 8)
    return img, out.words


def page(rng: random.Random, seed: int, width: tuple[int, int] = (900, 1100), sizes: tuple[int, int] = (15, 19),
         paragraphs: tuple[int, int] = (4, 6)):
    """An A4 page: heading, paragraphs, a figure with its caption, a page number."""
    w = rng.randint(width[0] // 20, width[1] // 20) * 20
    h = round(w * 1.4142)
    img = backgrounds.paper(w, h, seed, tint=(255, 255, 253), grain=2.0)
    out = Writer(img)
    family = rng.choice(("serif", "sans", "stix"))
    size = rng.randint(*sizes)
    face = font(family, size)
    margin = int(w * rng.uniform(0.08, 0.13))
    line_h = int(size * rng.uniform(1.35, 1.6))
    y = margin
    title = sentence(rng, 3, 6)
    out.line(margin, y, title, font(family + "-bold", size * 2))
    y += size * 4
    bottom = h - margin - size * 2
    figure_at = rng.randint(1, 2)
    for k in range(rng.randint(*paragraphs)):
        if k == figure_at:
            fig_h = int(h * rng.uniform(0.15, 0.22))
            out.draw.rectangle([margin, y, w - margin, y + fig_h], fill=(225, 228, 235), outline=(150, 150, 160))
            y += fig_h + size // 2
            y = out.paragraph(margin, y, w - 2 * margin, ["Figure", str(k)] + sentence(rng, 5, 9),
                              font(family, size - 3), int(line_h * 0.9))
            y += line_h
        words = [t for _ in range(rng.randint(2, 4)) for t in sentence(rng, 6, 14)]
        y = out.paragraph(margin, y, w - 2 * margin, words, face, line_h, bottom=bottom)
        y += line_h
        if y > bottom:
            break
    out.line(w // 2 - size, h - margin, [str(rng.randint(1, 300))], face)
    return img, out.words


def table(rng: random.Random, seed: int):
    from PIL import Image

    w, h = rng.randint(90, 120) * 20, rng.randint(25, 38) * 20
    img = Image.new("RGB", (w, h), (255, 255, 255))
    out = Writer(img)
    family = rng.choice(("sans", "mono", "serif"))
    size = rng.randint(13, 16)
    face, bold = font(family, size), font(family + "-bold", size)
    cols = rng.randint(6, 9)
    margin = 30
    col_w = (w - 2 * margin) / cols
    row_h = int(size * rng.uniform(2.0, 2.6))
    rows = (h - 2 * margin) // row_h
    kinds = ["name"] + [rng.choice(("price", "word", "code", "int")) for _ in range(cols - 1)]
    for r in range(rows):
        y = margin + r * row_h
        if r % 2 == 1:
            out.draw.rectangle([margin, y, w - margin, y + row_h], fill=(240, 243, 248))
        out.draw.line([margin, y, w - margin, y], fill=(190, 190, 200))
        for c in range(cols):
            x = margin + c * col_w + 8
            if r == 0:
                cell, f = [word(rng).capitalize()], bold
            else:
                kind = kinds[c]
                cell = {
                    "name": lambda: [rng.choice(FIRST_NAMES), rng.choice(CITIES)],
                    "price": lambda: [price(rng)],
                    "word": lambda: [word(rng)],
                    "code": lambda: [code(rng)],
                    "int": lambda: [str(rng.randint(1, 99999))],
                }[kind]()
                f = face
            if out.width(cell, f) > col_w - 14:
                cell = cell[:1]
            out.line(x, y + (row_h - size) // 2 - 1, cell, f)
    for c in range(cols + 1):
        x = margin + c * col_w
        out.draw.line([x, margin, x, margin + rows * row_h], fill=(190, 190, 200))
    return img, out.words


def infographic(rng: random.Random, seed: int):
    from PIL import Image

    w, h = rng.randint(30, 40) * 20, rng.randint(110, 150) * 20
    img = Image.new("RGB", (w, h), tuple(rng.randint(235, 255) for _ in range(3)))
    out = Writer(img)
    family = rng.choice(("sans", "serif"))
    y = 40
    out.paragraph(40, y, w - 80, sentence(rng, 3, 6), font(family + "-bold", 34), 44)
    y += 120
    while y < h - 300:
        band = tuple(rng.randint(60, 200) for _ in range(3))
        out.draw.rectangle([0, y, w, y + 110], fill=band)
        out.line(40, y + 20, [f"{rng.randint(2, 98)}.{rng.randint(0, 9)}"], font(family + "-bold", 52), fill=(255, 255, 255))
        y += 140
        y = out.paragraph(40, y, w - 80, sentence(rng, 8, 20), font(family, rng.randint(15, 19)), 26)
        bars = rng.randint(2, 4)
        for _ in range(bars):
            y += 12
            length = rng.uniform(0.2, 0.6) * (w - 80)
            out.draw.rectangle([40, y, 40 + length, y + 22], fill=band)
            out.line(50 + length, y + 2, [word(rng), str(rng.randint(1, 999))], font(family, 15))
            y += 28
        y += rng.randint(60, 160)
    return img, out.words


def screenshot(rng: random.Random, seed: int, screens=((1280, 800), (1440, 900), (1600, 900), (1920, 1080))):
    """A desktop UI: title bar, sidebar, two columns of cards with titles and text."""
    from PIL import Image

    w, h = rng.choice(screens)
    img = Image.new("RGB", (w, h), (248, 249, 251))
    out = Writer(img)
    family = rng.choice(("sans", "sans", "mono"))
    size = rng.randint(12, 15)
    face = font(family, size)
    bar = tuple(rng.randint(30, 90) for _ in range(3))
    out.draw.rectangle([0, 0, w, 44], fill=bar)
    out.line(16, 12, [word(rng).capitalize(), word(rng).capitalize()], font(family + "-bold", 17), fill=(255, 255, 255))
    side = rng.randint(200, 260)
    out.draw.rectangle([0, 44, side, h], fill=(232, 235, 240))
    y = 70
    for _ in range(rng.randint(7, 11)):
        out.line(20, y, [word(rng).capitalize()], face)
        y += int(size * 2.4)
    x0, y = side + 30, 70
    card_w = (w - x0 - 30 - 20) // 2
    col = 0
    while y < h - 150:
        cx = x0 + col * (card_w + 20)
        card_h = rng.randint(120, 190)
        if y + card_h > h - 20:
            break
        out.draw.rectangle([cx, y, cx + card_w, y + card_h], fill=(255, 255, 255), outline=(210, 214, 220))
        out.line(cx + 14, y + 12, sentence(rng, 2, 4), font(family + "-bold", size + 2))
        words = [t for _ in range(2) for t in sentence(rng, 5, 10)]
        out.paragraph(cx + 14, y + 20 + size * 2, card_w - 28, words, face, int(size * 1.5), bottom=y + card_h - 8)
        col = 1 - col
        if col == 0:
            y += card_h + 20
    return img, out.words


def _text_blocks(out: Writer, rng: random.Random, w: int, h: int, family: str, fill, stroke=None) -> None:
    y = rng.randint(30, 80)
    while y < h - 80:
        size = rng.randint(16, 28)
        x = rng.randint(30, w // 4)
        kw = {"stroke_width": 2, "stroke_fill": stroke} if stroke else {}
        words = sentence(rng, 3, 8)
        if stroke is None and rng.random() < 0.5:  # a sign: text on a plate
            width = out.width(words, font(family, size))
            out.draw.rectangle([x - 10, y - 6, x + width + 10, y + size + 10], fill=(245, 245, 240))
        out.line(x, y, words, font(family, size), fill=fill, **kw)
        y += int(size * rng.uniform(2.2, 4.0))


def textured(rng: random.Random, seed: int):
    w, h = rng.randint(45, 65) * 20, rng.randint(35, 50) * 20
    img = backgrounds.texture(w, h, seed)
    out = Writer(img)
    _text_blocks(out, rng, w, h, rng.choice(("sans-bold", "serif-bold", "sans")), INK)
    return img, out.words


def photo(rng: random.Random, seed: int):
    w, h = rng.randint(50, 70) * 20, rng.randint(35, 50) * 20
    img = backgrounds.photo(w, h, seed)
    out = Writer(img)
    _text_blocks(out, rng, w, h, rng.choice(("sans-bold", "serif-bold")), (255, 255, 255), stroke=(0, 0, 0))
    return img, out.words


def scan(rng: random.Random, seed: int):
    """A page scanned at about 200 dpi: 1600-1760 x 2260-2490 px, 13-16 px text (the
    budgets that matter for documents are the ones that cannot show a page like this
    at full resolution)."""
    return page(rng, seed, width=(1600, 1760), sizes=(13, 16), paragraphs=(40, 40))  # text to the bottom


def hires_screenshot(rng: random.Random, seed: int):
    """A high-resolution desktop (2560x1440 or 3840x2160) with 12-15 px UI text."""
    return screenshot(rng, seed, screens=((2560, 1440), (3840, 2160)))


LAYOUTS = {
    "receipt": receipt,
    "page": page,
    "table": table,
    "infographic": infographic,
    "screenshot": screenshot,
    "textured": textured,
    "photo": photo,
    "scan": scan,
    "hires-screenshot": hires_screenshot,
}

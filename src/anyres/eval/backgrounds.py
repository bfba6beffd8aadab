"""Procedural backgrounds: paper grain, textures and photograph-like scenes.

Deterministic for a seed (numpy's PCG64 stream and Pillow's filters); nothing is
loaded from disk.
"""

from __future__ import annotations

from typing import Any


def _rng(seed: int):
    import numpy as np

    return np.random.default_rng(seed)


def _smooth_noise(rng, width: int, height: int, cell: int):
    """Value noise in [0, 1]: a coarse random grid upsampled with bicubic."""
    import numpy as np
    from PIL import Image

    gw, gh = max(2, width // cell + 2), max(2, height // cell + 2)
    grid = (rng.random((gh, gw)) * 255).astype(np.uint8)
    big = Image.fromarray(grid, "L").resize((gw * cell, gh * cell), Image.Resampling.BICUBIC)
    return np.asarray(big, dtype=np.float32)[:height, :width] / 255.0


def paper(width: int, height: int, seed: int, tint=(250, 248, 242), grain: float = 6.0) -> Any:
    """Off-white paper with fine grain and a faint large-scale shading."""
    import numpy as np
    from PIL import Image

    rng = _rng(seed)
    base = np.array(tint, dtype=np.float32)[None, None, :]
    shade = (_smooth_noise(rng, width, height, 300) - 0.5)[:, :, None] * 10.0
    noise = rng.normal(0.0, grain, (height, width, 1)).astype(np.float32)
    return Image.fromarray(np.clip(base + shade + noise, 0, 255).astype(np.uint8), "RGB")


def texture(width: int, height: int, seed: int) -> Any:
    """A light patterned texture (fabric, marble or stripes) that text sits on."""
    import numpy as np
    from PIL import Image

    rng = _rng(seed)
    kind = int(rng.integers(0, 3))
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    hue = rng.uniform(150, 235, 3).astype(np.float32)
    if kind == 0:  # woven fabric
        period = float(rng.uniform(5, 11))
        v = 0.5 + 0.25 * np.sin(xx * 2 * np.pi / period) * np.sin(yy * 2 * np.pi / period)
        v = v + 0.25 * _smooth_noise(rng, width, height, 40)
    elif kind == 1:  # marble veins
        n = _smooth_noise(rng, width, height, 120) * 12 + _smooth_noise(rng, width, height, 30) * 3
        v = 0.5 + 0.5 * np.sin(xx / float(rng.uniform(30, 80)) + n)
    else:  # diagonal stripes with grain
        period = float(rng.uniform(18, 40))
        v = 0.5 + 0.4 * (np.sin((xx + yy) * 2 * np.pi / period) > 0) + 0.2 * _smooth_noise(rng, width, height, 15)
    v = (v - v.min()) / max(1e-6, float(v.max() - v.min()))
    contrast = float(rng.uniform(35, 60))
    rgb = hue[None, None, :] + (v[:, :, None] - 0.5) * contrast + rng.normal(0, 4, (height, width, 1))
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def photo(width: int, height: int, seed: int) -> Any:
    """A photograph-like scene: sky-to-ground gradient, soft blobs, sensor noise, blur."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    rng = _rng(seed)
    top = rng.uniform(60, 200, 3)
    bottom = rng.uniform(20, 140, 3)
    t = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    rgb = top[None, None, :] * (1 - t) + bottom[None, None, :] * t
    rgb = np.broadcast_to(rgb, (height, width, 3)).astype(np.float32)
    img = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(12, 24))):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        rx, ry = rng.uniform(0.03, 0.25) * width, rng.uniform(0.03, 0.25) * height
        colour = tuple(int(c) for c in rng.uniform(10, 245, 3))
        if rng.random() < 0.5:
            draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=colour)
        else:
            draw.rectangle([cx - rx, cy - ry, cx + rx, cy + ry], fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(6, 14))))
    arr = np.asarray(img, dtype=np.float32) + rng.normal(0, 5, (height, width, 1))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")

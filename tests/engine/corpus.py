"""A generated corpus for dataset-job tests: images of mixed sizes and formats, and
about 5% bad files of several kinds."""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
from PIL import Image

from ..image.test_hostile import _bomb_png


def make_corpus(root: Path, n: int, seed: int = 0, bad_share: float = 0.05) -> tuple[list[str], list[str]]:
    """Write ``n`` files under ``root`` (some in sub-folders); returns (good keys, bad keys)."""
    rng = random.Random(seed)
    good, bad = [], []
    n_bad = max(1, round(n * bad_share))
    bad_at = set(rng.sample(range(n), n_bad))
    for k in range(n):
        sub = root / f"part{k % 3}"
        sub.mkdir(parents=True, exist_ok=True)
        if k in bad_at:
            kind = rng.choice(["text", "empty", "truncated", "bomb"])
            name = f"{k:04d}.{'png' if kind == 'bomb' else 'jpg'}"
            path = sub / name
            if kind == "text":
                path.write_text("this is not an image")
            elif kind == "empty":
                path.write_bytes(b"")
            elif kind == "truncated":
                path.write_bytes(_jpeg(rng, 200, 150)[:300])
            else:
                path.write_bytes(_bomb_png(20000, 10000))
            bad.append(f"part{k % 3}/{name}")
            continue
        w, h = rng.randint(8, 400), rng.randint(8, 400)
        fmt = rng.choice(["png", "jpg"])
        (sub / f"{k:04d}.{fmt}").write_bytes(_jpeg(rng, w, h) if fmt == "jpg" else _png(rng, w, h))
        good.append(f"part{k % 3}/{k:04d}.{fmt}")
    return good, bad


def _pixels(rng: random.Random, w: int, h: int) -> Image.Image:
    g = np.random.default_rng(rng.randrange(2**32))
    return Image.fromarray(g.integers(0, 256, size=(h, w, 3), dtype=np.uint8))


def _jpeg(rng, w, h) -> bytes:
    buf = io.BytesIO()
    _pixels(rng, w, h).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _png(rng, w, h) -> bytes:
    buf = io.BytesIO()
    _pixels(rng, w, h).save(buf, "PNG")
    return buf.getvalue()

"""Deterministic size samples for parity tests: 1x1 to 20000x20000, extreme aspect ratios."""

from __future__ import annotations

import random

EDGE_SIZES = [
    (1, 1), (1, 2), (2, 1), (1, 20000), (20000, 1), (20000, 20000), (19999, 20000), (13, 2600),
    (2600, 13), (14, 2800), (27, 5400), (5400, 27), (100, 20000), (20000, 100), (1000, 600),
    (1240, 1754), (336, 336), (335, 337), (672, 336), (336, 672), (1008, 336), (448, 448),
    (447, 449), (896, 448), (364, 364), (1456, 1456), (1457, 729), (729, 1457), (28, 28),
    (56, 56), (55, 57), (4032, 3024), (3024, 4032), (1920, 1080), (800, 6000), (300, 200),
]


def sample_sizes(n: int = 2000, seed: int = 0, max_side: int = 20000, max_aspect: float | None = None) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    out = list(EDGE_SIZES)
    while len(out) < n:
        kind = rng.random()
        if kind < 0.45:  # independent log-uniform sides: every aspect ratio
            w = int(round(10 ** rng.uniform(0, 4.30103)))
            h = int(round(10 ** rng.uniform(0, 4.30103)))
        elif kind < 0.8:  # realistic photos and documents
            long = int(10 ** rng.uniform(1.5, 4.0))
            ar = 10 ** rng.uniform(-0.7, 0.7)
            w, h = (long, max(1, round(long / ar))) if ar >= 1 else (max(1, round(long * ar)), long)
        else:  # multiples of tile sizes, and one off
            base = rng.choice([14, 28, 336, 364, 384, 448, 512])
            w = base * rng.randint(1, 12) + rng.choice([-1, 0, 0, 1])
            h = base * rng.randint(1, 12) + rng.choice([-1, 0, 0, 1])
        w, h = min(max(1, w), max_side), min(max(1, h), max_side)
        out.append((w, h))
    if max_aspect is not None:
        out = [(w, h) for w, h in out if max(w, h) / min(w, h) <= max_aspect] + [
            s for s in EDGE_SIZES if max(s) / min(s) > max_aspect
        ]
    return out[: max(n, len(EDGE_SIZES))]

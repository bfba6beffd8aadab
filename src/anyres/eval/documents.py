"""Evaluation documents: generated (seeded, with known words) or loaded from a folder.

Seeds are split once and for all: ``dev`` documents (seeds from 0) are the ones to look
at and tune on; ``heldout`` documents (seeds from 100000) are only ever measured.
The n-th document of a split cycles through the categories, so any n >= 9 covers all.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..errors import AnyresError
from .layouts import LAYOUTS

CATEGORIES = tuple(LAYOUTS)
SPLITS = {"dev": 0, "heldout": 100_000}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")


@dataclass(frozen=True)
class Document:
    name: str  # file stem, unique in a run
    category: str
    split: str  # dev | heldout | user
    seed: int | None
    image: Any  # RGB PIL image
    words: tuple[str, ...]  # ground truth, in reading order

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size


def generate(category: str, seed: int, split: str = "dev") -> Document:
    """One generated document; the same (category, seed) always gives the same pixels."""
    if category not in LAYOUTS:
        from ..errors import SpecError

        raise SpecError(f"unknown document category {category!r}; known: {', '.join(CATEGORIES)}")
    rng = random.Random(f"anyres-eval-{category}-{seed}")
    image, words = LAYOUTS[category](rng, seed)
    return Document(f"{split}-{seed:06d}-{category}", category, split, seed, image.convert("RGB"), tuple(words))


def split_seeds(split: str, n: int, seed: int = 0) -> list[int]:
    """The seeds of the first ``n`` documents of a split (``seed`` shifts the start)."""
    if split not in SPLITS:
        from ..errors import SpecError

        raise SpecError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    return [SPLITS[split] + seed + i for i in range(n)]


def generated(n: int, split: str = "dev", seed: int = 0, categories: tuple[str, ...] = CATEGORIES) -> Iterator[Document]:
    """``n`` documents of a split, cycling through ``categories``."""
    for i, s in enumerate(split_seeds(split, n, seed)):
        yield generate(categories[i % len(categories)], s, split)


class DataError(AnyresError, ValueError):
    """A user data folder is missing, empty or lacks ground truth."""


def load_folder(folder: str | Path) -> list[Document]:
    """Every image in ``folder`` with a same-named ``.txt`` file of its text (words in
    reading order, whitespace-separated). Images without a ``.txt`` are refused."""
    from ..image import load_image

    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    images = sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise DataError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)})")
    docs = []
    for path in images:
        truth = path.with_suffix(".txt")
        if not truth.exists():
            raise DataError(f"{path}: no ground truth {truth.name} beside it")
        words = tuple(truth.read_text(encoding="utf-8").split())
        docs.append(Document(path.stem, "user", "user", None, load_image(path), words))
    return docs

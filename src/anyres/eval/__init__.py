"""anyres.eval: a model-free legibility benchmark.

How much text survives in what the encoder actually sees: generated documents with
known words (or a folder of images with ``.txt`` ground truth) are planned with each
preset and token budget, every view is rendered exactly as the encoder receives it
(``anyres.render_views``), read by an OCR model with bundled weights, and the words
recognised across an image's views are pooled and scored.

>>> from anyres.eval import generated, ViewReader, score_plan
>>> doc = next(generated(1, "dev"))
>>> score_plan(doc, "budget(max_tokens=1152)", ViewReader())["recall"]

Command line: ``anyres eval legibility --out out/legibility``.
"""

from __future__ import annotations

from .benchmark import DEFAULT_BUDGETS, DEFAULT_PRESETS, evaluate, score_plan
from .cache import ViewReader
from .documents import CATEGORIES, SPLITS, DataError, Document, generate, generated, load_folder
from .legibility import run_legibility
from .metrics import cer, char_errors, match_words, normalise, word_recall
from .readers import READERS, ReaderError, tesseract_available

__all__ = [
    "CATEGORIES",
    "DEFAULT_BUDGETS",
    "DEFAULT_PRESETS",
    "DataError",
    "Document",
    "READERS",
    "ReaderError",
    "SPLITS",
    "ViewReader",
    "cer",
    "char_errors",
    "evaluate",
    "generate",
    "generated",
    "load_folder",
    "match_words",
    "normalise",
    "run_legibility",
    "score_plan",
    "tesseract_available",
    "word_recall",
]

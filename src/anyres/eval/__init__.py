"""anyres.eval: a model-free legibility benchmark.

How much text survives in what the encoder actually sees: generated documents with
known words (or a folder of images with ``.txt`` ground truth) are planned with each
preset and token budget, every view is rendered exactly as the encoder receives it
(``anyres.render_views``), read by an OCR model with bundled weights, and the words
recognised across an image's views are pooled and scored.

>>> from anyres.eval import generated, ViewReader, score_plan
>>> doc = next(generated(1, "dev"))
>>> score_plan(doc, "budget(max_tokens=1152)", ViewReader())["recall"]

Command line: ``anyres eval legibility --out out/legibility``; every preset ranked by
words read per 1,000 tokens and per encoder GFLOP, at its defaults and fitted to token
budgets: ``anyres eval ranking --out docs/results`` (``anyres.eval.ranking``; fitted
against naive caps: ``anyres.eval.fitted``).
"""

from __future__ import annotations

from .benchmark import DEFAULT_BUDGETS, DEFAULT_FITTED, DEFAULT_PRESETS, Run, evaluate, score_plan
from .cache import ViewReader
from .documents import CATEGORIES, SPLITS, DataError, Document, generate, generated, load_folder
from .fitted import naive_setting, naive_spec
from .legibility import run_legibility, run_ranking
from .metrics import cer, char_errors, match_words, normalise, word_recall
from .ranking import fitted_vs_naive, ranking
from .readers import READERS, ReaderError, tesseract_available

__all__ = [
    "CATEGORIES",
    "DEFAULT_BUDGETS",
    "DEFAULT_FITTED",
    "DEFAULT_PRESETS",
    "DataError",
    "Document",
    "READERS",
    "ReaderError",
    "Run",
    "SPLITS",
    "ViewReader",
    "cer",
    "char_errors",
    "evaluate",
    "fitted_vs_naive",
    "generate",
    "generated",
    "load_folder",
    "match_words",
    "naive_setting",
    "naive_spec",
    "normalise",
    "ranking",
    "run_legibility",
    "run_ranking",
    "score_plan",
    "tesseract_available",
    "word_recall",
]

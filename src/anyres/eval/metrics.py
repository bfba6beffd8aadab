"""Word recall and character error rate of pooled, unordered views.

Both compare normalised text: NFKC, case-folded, every character that is not a letter
or a digit removed (``"Total:"`` and ``"total"`` are the same word, ``"12.50"`` is
``"1250"``).

**Word recall** is a multiset recall: each ground-truth word occurrence can be matched
once, by any view. A recognised token that equals a remaining ground-truth word
matches it. OCR models often drop or add spaces (PP-OCR reads a line of large text as
``"totalamountdue"``), so the tokens of a line left unmatched are joined per run and
segmented into remaining ground-truth words, choosing the segmentation that covers the
most characters (unmatched characters are skipped); only words of at least
``MIN_SUBSTRING`` characters are matched inside a run, so that short words are not
found by chance in misread text.

**CER** (character error rate) for unordered, possibly overlapping views: every
recognised line (spaces removed) is aligned to its best-matching span of the
ground-truth text (spaces removed, reading order) by a semi-global edit distance,
located with a 3-gram vote. Each ground-truth character takes the best status any
alignment gives it: correct, substituted, or deleted (covered by no alignment).
Recognised characters aligned to no ground-truth character count as insertions, as do
whole lines that match nothing. ``CER = (S + D + I) / N`` with ``N`` ground-truth
characters. Reading the same text twice in overlapping views is not an error; reading
it wrong in one view and right in another counts as right.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from typing import Iterable, Sequence

MIN_SUBSTRING = 3
_DROP = re.compile(r"[\W_]+", re.UNICODE)


def normalise(word: str) -> str:
    """NFKC, case-folded, letters and digits only."""
    return _DROP.sub("", unicodedata.normalize("NFKC", word).casefold())


def words_of(text: str) -> list[str]:
    """The normalised, non-empty words of a text (split on whitespace)."""
    return [w for w in (normalise(t) for t in text.split()) if w]


def _segment(run: str, remaining: Counter) -> list[str]:
    """The remaining words that cover the most characters of ``run`` without overlap."""
    lengths = sorted({len(w) for w, c in remaining.items() if c > 0 and len(w) >= MIN_SUBSTRING})
    if not lengths:
        return []
    n = len(run)
    best = [0] * (n + 1)
    back: list[tuple[int, str | None]] = [(0, None)] * (n + 1)
    for i in range(1, n + 1):
        best[i], back[i] = best[i - 1], (i - 1, None)
        for k in lengths:
            if k > i:
                break
            piece = run[i - k : i]
            if remaining.get(piece, 0) > 0 and best[i - k] + k > best[i]:
                best[i], back[i] = best[i - k] + k, (i - k, piece)
    found = []
    i = n
    while i > 0:
        j, piece = back[i]
        if piece is not None:
            found.append(piece)
        i = j
    return found[::-1]


def match_words(truth: Sequence[str], lines: Iterable[str]) -> tuple[int, int]:
    """(matched, total) ground-truth word occurrences found in the recognised lines."""
    remaining = Counter(w for w in (normalise(t) for t in truth) if w)
    total = sum(remaining.values())
    matched = 0
    runs: list[str] = []
    for line in lines:
        run: list[str] = []
        for token in words_of(line):
            if remaining.get(token, 0) > 0:
                remaining[token] -= 1
                matched += 1
                if run:
                    runs.append("".join(run))
                run = []
            else:
                run.append(token)
        if run:
            runs.append("".join(run))
    for run in sorted(runs, key=len, reverse=True):  # long runs first: they carry most
        for piece in _segment(run, remaining):
            if remaining[piece] > 0:
                remaining[piece] -= 1
                matched += 1
    return matched, total


def word_recall(truth: Sequence[str], lines: Iterable[str]) -> float:
    matched, total = match_words(truth, lines)
    return matched / total if total else 1.0


# --- character error rate -----------------------------------------------------------

CORRECT, SUBSTITUTED, DELETED = 2, 1, 0


def _anchor(query: str, index: dict[str, list[int]], status, k: int = 3) -> int | None:
    """The ground-truth offset where ``query`` most likely starts (3-gram vote);
    among equal votes the offset whose span is least covered already."""
    votes: Counter = Counter()
    for i in range(len(query) - k + 1):
        for pos in index.get(query[i : i + k], ()):
            votes[(pos - i) // 4] += 1  # bins of 4 absorb small insertions/deletions
    if not votes:
        return None
    top = max(votes.values())
    if top < 2 and len(query) > k + 1:
        return None
    candidates = sorted(b for b, v in votes.items() if v == top)

    def covered(b: int) -> int:
        lo = max(0, b * 4)
        return sum(1 for s in status[lo : lo + len(query)] if s == CORRECT)

    return min(candidates, key=covered) * 4


def _align(query: str, target: str):
    """Semi-global edit distance of ``query`` inside ``target`` (free target ends).

    Returns (ops over target positions, insertions): ops maps each aligned target index
    to CORRECT or SUBSTITUTED, or DELETED for a target character skipped inside the
    aligned span."""
    import numpy as np

    q = np.frombuffer(query.encode("utf-32-le"), dtype=np.uint32)
    t = np.frombuffer(target.encode("utf-32-le"), dtype=np.uint32)
    m, n = len(q), len(t)
    d = np.zeros((m + 1, n + 1), dtype=np.int32)
    d[:, 0] = np.arange(m + 1)
    j = np.arange(n + 1, dtype=np.int32)
    for i in range(1, m + 1):
        v = np.empty(n + 1, dtype=np.int32)
        v[0] = i
        v[1:] = np.minimum(d[i - 1, :-1] + (t != q[i - 1]), d[i - 1, 1:] + 1)
        # horizontal moves (target characters deleted): d[i, j] = min_k<=j v[k] + (j - k)
        d[i] = np.minimum.accumulate(v - j) + j
    end = int(np.argmin(d[m]))
    ops: dict[int, int] = {}
    inserted = 0
    i, jj = m, end
    while i > 0:
        if jj > 0 and d[i, jj] == d[i - 1, jj - 1] + (t[jj - 1] != q[i - 1]):
            ops[jj - 1] = CORRECT if t[jj - 1] == q[i - 1] else SUBSTITUTED
            i, jj = i - 1, jj - 1
        elif d[i, jj] == d[i - 1, jj] + 1:
            inserted += 1
            i -= 1
        else:
            ops[jj - 1] = DELETED
            jj -= 1
    return ops, inserted


def char_errors(truth: Sequence[str], lines: Iterable[str]) -> tuple[int, int, int, int]:
    """(substituted, deleted, inserted, N) as defined in the module docstring."""
    target = "".join(w for w in (normalise(t) for t in truth) if w)
    n = len(target)
    status = [DELETED] * n
    index: dict[str, list[int]] = {}
    for i in range(n - 2):
        index.setdefault(target[i : i + 3], []).append(i)
    inserted = 0
    queries = sorted((q for q in ("".join(words_of(line)) for line in lines) if q), key=len, reverse=True)
    for query in queries:
        start = _anchor(query, index, status) if n else None
        if start is None:
            inserted += len(query)
            continue
        slack = 4 + len(query) // 4
        lo = max(0, start - slack)
        hi = min(n, start + len(query) + slack)
        ops, ins = _align(query, target[lo:hi])
        inserted += ins
        for k, op in ops.items():
            if op > status[lo + k]:
                status[lo + k] = op
    substituted = sum(1 for s in status if s == SUBSTITUTED)
    deleted = sum(1 for s in status if s == DELETED)
    return substituted, deleted, inserted, n


def cer(truth: Sequence[str], lines: Iterable[str]) -> float:
    s, d, i, n = char_errors(truth, list(lines))
    return (s + d + i) / n if n else 0.0

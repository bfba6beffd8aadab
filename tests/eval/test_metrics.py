"""Word recall and CER of pooled, unordered OCR lines."""

from __future__ import annotations

from anyres.eval.metrics import cer, char_errors, match_words, normalise, word_recall

TRUTH = "The total amount due is 12.50 for the coffee and bread".split()


def test_normalise_folds_case_and_drops_punctuation():
    assert normalise("Total:") == "total"
    assert normalise("12.50") == "1250"
    assert normalise("ＡＢＣ") == "abc"  # NFKC
    assert normalise("--") == ""


def test_exact_reading_is_full_recall_and_zero_cer():
    assert word_recall(TRUTH, [" ".join(TRUTH)]) == 1.0
    assert cer(TRUTH, [" ".join(TRUTH)]) == 0.0


def test_nothing_read_is_zero_recall_and_full_cer():
    assert word_recall(TRUTH, []) == 0.0
    assert cer(TRUTH, []) == 1.0


def test_dropped_and_extra_spaces_are_forgiven():
    lines = ["thetotalamountdue", "is 12.50 for the cof fee", "and bread"]
    assert match_words(TRUTH, lines) == (11, 11)


def test_misread_words_are_missed():
    matched, total = match_words(TRUTH, ["the totalamountdue", "is 12.5O for thecoffee", "and brcad"])
    assert (matched, total) == (9, 11)


def test_recall_is_a_multiset():
    truth = ["cash", "cash", "cash"]
    assert match_words(truth, ["cash cash"]) == (2, 3)
    assert match_words(truth, ["cash cash cash cash"]) == (3, 3)  # reading twice finds no fourth


def test_short_words_are_not_found_inside_garbage():
    assert match_words(["an", "tax"], ["xxanxx"]) == (0, 2)
    assert match_words(["an", "tax"], ["an xxtaxx"]) == (2, 2)


def test_overlapping_views_reading_the_same_text_cost_nothing():
    base = " ".join(TRUTH)
    assert cer(TRUTH, [base, base, "total amount due"]) == 0.0
    # a wrong reading in one view and a right one in another counts as right
    assert cer(TRUTH, ["the totel amount", base]) == 0.0


def test_cer_counts_substitutions_deletions_insertions():
    s, d, i, n = char_errors(TRUTH, ["the total amount due is 12.5O for the coffee and brcad"])
    assert (s, d, i) == (2, 0, 0) and n == len("".join(normalise(w) for w in TRUTH))
    s, d, i, n = char_errors(TRUTH, ["the total amount due"])
    assert s == 0 and i == 0 and d == n - len("thetotalamountdue")
    s, d, i, n = char_errors(TRUTH, [" ".join(TRUTH), "qqqzzzxxx"])
    assert (s, d, i) == (0, 0, 9)

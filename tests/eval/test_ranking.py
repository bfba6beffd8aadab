"""The ranking and the fitted-against-naive summary, on hand-made records and on a run
through a fake reader (no OCR)."""

from __future__ import annotations

import json

import pytest

from anyres.eval.benchmark import evaluate, fitted_runs, runs
from anyres.eval.documents import generated
from anyres.eval.ranking import fitted_markdown, fitted_vs_naive, ranking, ranking_markdown, summarise
from anyres.eval.summary import comparison


def rec(preset, image, read, tokens, gflops=None, words=100, fit=None, error=None, scale=1.0):
    r = {"image": image, "split": "dev", "category": "page", "preset": preset, "budget": None, "words": words}
    if fit is not None:
        r["fit"] = fit
    if error is not None:
        return {**r, "error": error, "tokens": None, "recall": None}
    return {**r, "spec": preset, "tokens": tokens, "matched_words": read, "recall": read / words,
            "encoder_gflops": gflops, "tower": None if gflops is None else "vit", "diagnostics": {"min_effective_scale": scale}}


def fitted(base, budget):
    return {"budget": budget, "how": "fitted", "base": base}


RECORDS = [
    # a: 150 of 200 words for 1,000 tokens (150 per 1k), 300 GFLOPs (0.5 per GFLOP)
    rec("a", "d1", 100, 600, 200.0), rec("a", "d2", 50, 400, 100.0),
    # b: 180 words for 3,000 tokens (60 per 1k), 90 GFLOPs (2.0 per GFLOP)
    rec("b", "d1", 90, 1500, 45.0), rec("b", "d2", 90, 1500, 45.0),
    # c: no tower size known
    rec("c", "d1", 10, 50), rec("c", "d2", 10, 50),
    # fitted to 1,024: a unchanged, b shrinks, c cannot reach it on one document
    rec("a, max_tokens=1024", "d1", 100, 600, 200.0, fit=fitted("a", 1024)),
    rec("a, max_tokens=1024", "d2", 50, 400, 100.0, fit=fitted("a", 1024)),
    rec("b, max_tokens=1024", "d1", 60, 1000, 30.0, fit=fitted("b", 1024)),
    rec("b, max_tokens=1024", "d2", 60, 1000, 30.0, fit=fitted("b", 1024)),
    rec("c, max_tokens=1024", "d1", 10, 50, fit=fitted("c", 1024)),
    rec("c, max_tokens=1024", "d2", 0, 0, fit=fitted("c", 1024),
        error="c: no max_tiles setting fits max_tokens=1024 for image 9000x9000; the smallest reachable count is 1280 "
              "tokens (max_tiles=1)"),
]


def test_summarise_counts_words_read_over_tokens_and_gflops_summed_over_documents():
    table = summarise(RECORDS)
    a, b, c = table[("a", None)], table[("b", None)], table[("c", None)]
    assert (a["read"], a["tokens"], a["per_1k_tokens"], a["per_gflop"]) == (150, 1000, 150.0, 0.5)
    assert (b["per_1k_tokens"], b["per_gflop"], b["recall"]) == (60.0, 2.0, 0.9)
    assert c["per_1k_tokens"] == 200.0 and "per_gflop" not in c
    blocked = table[("c", 1024)]
    assert blocked["failed"] == 1 and blocked["needs"] == 1280 and "per_1k_tokens" not in blocked
    assert table[("b", 1024)]["per_1k_tokens"] == 60.0 and table[("b", 1024)]["gflops"] == 60.0


def test_ranking_orders_each_column_and_skips_what_cannot_be_ranked():
    by_tokens = ranking(RECORDS, (1024,), "per_1k_tokens")
    assert [r["preset"] for r in by_tokens] == ["c", "a", "b"]
    assert [r["settings"][None]["rank"] for r in by_tokens] == [1, 2, 3]
    assert [r["settings"][1024]["rank"] for r in by_tokens] == [None, 1, 2]  # c cannot reach 1,024 everywhere
    by_gflop = ranking(RECORDS, (1024,), "per_gflop")
    assert [r["preset"] for r in by_gflop] == ["b", "a", "c"] and by_gflop[2]["settings"][None]["rank"] is None
    text = ranking_markdown(RECORDS, (1024,))
    assert "| `c` | **200.0** #1 (10%, 100 tok) | cannot reach on 1/2 docs; fewest 1,280 |" in text
    assert "| `b` | vit | **2.000** #1 (90%, 90 GFLOPs) | **2.000** #1 (60%, 60 GFLOPs) |" in text
    assert "| `c` | unknown | no tower size | cannot reach on 1/2 docs; fewest 1,280 |" in text


def test_fitted_against_naive_reports_the_difference_in_words_and_points():
    fit = {"budget": 512, "base": "m"}
    records = [
        rec("m, max_tokens=512", "d1", 80, 500, fit={**fit, "how": "fitted"}, scale=0.6),
        rec("m, max_tokens=512", "d2", 40, 510, fit={**fit, "how": "fitted"}, scale=0.5),
        rec("m(cap=1)", "d1", 70, 480, fit={**fit, "how": "naive"}, scale=0.55),
        rec("m(cap=1)", "d2", 40, 500, fit={**fit, "how": "naive"}, scale=0.5),
    ]
    (row,) = fitted_vs_naive(records)
    assert (row["fitted"]["read"], row["naive"]["read"], row["more_words"]) == (120, 110, 10)
    assert row["recall_points"] == pytest.approx(5.0) and row["verdict"] == "more"
    assert row["naive_spec"] == "m(cap=1)" and row["fitted"]["tokens"] == 1010
    assert "| `m` | 512 | `m(cap=1)` | 110 / 200, 55.0%, 980 | 120 / 200, 60.0%, 1,010 | +10 words (+5.0 points) |" \
        in fitted_markdown(records)
    # the planner's comparison still counts presets at their own settings only
    assert comparison(records + RECORDS[:2], "dev", 2000)["fitting"] == {"a": 0.75}


class FakeReader:
    """Reads the first words of the document, more of them the more pixels a view has."""

    name, upscale = "fake", 1.0

    def __init__(self, words):
        self.words, self.misses, self.hits = words, 0, 0

    def read(self, view):
        self.misses += 1
        return [" ".join(self.words[: view.width * view.height // 4000])]


def test_fitted_and_naive_runs_are_planned_read_and_scored():
    doc = next(generated(1, "dev"))  # a 620x1240 receipt
    columns = runs(["fixed"], [576, 1152], fitted=["internvl"])
    assert [c.label for c in columns] == [
        "fixed", "budget(max_tokens=576)", "budget(max_tokens=1152)", "internvl, max_tokens=576",
        "internvl(max_tiles=1), naive for 576", "internvl, max_tokens=1152", "internvl(max_tiles=3), naive for 1152"]
    assert [c.budget for c in columns[:3]] == [None, 576, 1152] and columns[3].max_tokens == 576
    columns = [runs(["fixed"], [])[0]] + fitted_runs(["qwen2.5-vl"], [512])
    records = evaluate([doc], plan_runs=columns, reader=FakeReader(doc.words), progress=False)
    by = {r["preset"]: r for r in records}
    assert set(by) == {"fixed", "qwen2.5-vl, max_tokens=512", "qwen2.5-vl(max_pixels=402191), naive for 512"}
    assert by["qwen2.5-vl, max_tokens=512"]["fit"] == {"budget": 512, "how": "fitted", "base": "qwen2.5-vl"}
    assert by["qwen2.5-vl, max_tokens=512"]["tokens"] <= 512 and by["qwen2.5-vl, max_tokens=512"]["spec"].startswith(
        "qwen2.5-vl(max_pixels=")
    assert by["fixed"]["encoder_gflops"] == pytest.approx(381.92, abs=0.01)  # CLIP-L/14 on one 336 view
    assert all(r["matched_words"] > 0 for r in records)


def test_run_ranking_writes_the_results_the_readme_reads(tmp_path):
    from anyres.eval.legibility import run_ranking

    doc = next(generated(1, "dev"))
    result = run_ranking(tmp_path, presets=["fixed", "internvl", "gpt4v"], budgets=[1024], images=1,
                         fitted=["internvl"], fit_budgets=[1024], view_reader=FakeReader(doc.words), progress=False)
    data = json.loads((tmp_path / "legibility_ranking.json").read_text())
    assert data["meta"]["presets"] == ["fixed", "internvl", "gpt4v"] and len(data["records"]) == len(result["records"])
    labels = [r["preset"] for r in data["records"]]
    assert labels == ["fixed", "internvl", "gpt4v", "fixed, max_tokens=1024", "internvl, max_tokens=1024",
                      "gpt4v, max_tokens=1024", "internvl(max_tiles=3), naive for 1024"]
    report = (tmp_path / "ranking.md").read_text()
    assert "words read per 1,000 visual tokens" in report and "`internvl(max_tiles=3)`" in report
    assert (tmp_path / "cost.png").stat().st_size > 10_000


def test_the_short_fitted_table_keeps_the_named_presets_and_every_difference():
    def pair(base, budget, fitted_read, naive_read):
        fit = {"budget": budget, "base": base}
        return [rec(f"{base}, max_tokens={budget}", "d1", fitted_read, 500, fit={**fit, "how": "fitted"}),
                rec(f"{base}(cap={budget})", "d1", naive_read, 400, fit={**fit, "how": "naive"})]

    records = pair("q", 1024, 50, 50) + pair("p", 1024, 70, 40) + pair("s", 2048, 30, 30)
    text = fitted_markdown(records, always=("q",))
    assert "| `q` | 1,024 |" in text and "| `p` | 1,024 |" in text and "+30 words (+30.0 points)" in text
    assert "| `s` |" not in text and "The same words read fitted and naive: `s` (2,048)." in text
    assert text.count("\n| `") == 2 and "| `s` | 2,048 |" in fitted_markdown(records)

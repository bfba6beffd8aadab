"""The field's claim, measured: on a 1000x1414 page of 18 px text (Times-like STIX), fixed 336x336 reads far
less than AnyRes tiling, which reads less than native resolution.

Cost: three plans, seven views, about 1,100 characters of text read (about 20 s on 2
cores without the cache; the page carries three paragraphs rather than a full page to
keep it so). Measured: fixed 19%, llava-next 89%, native 100% of the words.
"""

from __future__ import annotations

import random

import anyres
from anyres.eval.documents import Document
from anyres.eval.benchmark import score_plan
from anyres.eval.fonts import font
from anyres.eval.layouts import Writer
from anyres.eval.words import token

NATIVE = "qwen2-vl(max_pixels=2000000)"  # 1000x1414 -> 1008x1400: native resolution


def page_of_18px_text() -> Document:
    from PIL import Image

    rng = random.Random("claim-page")
    img = Image.new("RGB", (1000, 1414), "white")
    out = Writer(img)
    face = font("stix", 18)  # STIX General: a Times-like body font, as documents use
    for top in (90, 560, 1030):  # three paragraphs spread over the page
        words = [token(rng) for _ in range(60)]
        out.paragraph(90, top, 820, words, face, 27)
    return Document("claim-page", "page", "test", None, img, tuple(out.words))


def test_fixed_reads_far_less_than_anyres_which_reads_less_than_native(reader):
    doc = page_of_18px_text()
    assert anyres.plan(doc.image, NATIVE).info["resized"] == anyres.Size(1008, 1400)
    recall = {spec: score_plan(doc, spec, reader)["recall"] for spec in ("fixed", "llava-next", NATIVE)}
    assert recall["fixed"] < 0.7 * recall["llava-next"], recall
    assert recall["llava-next"] < recall[NATIVE], recall
    assert recall[NATIVE] > 0.9, recall

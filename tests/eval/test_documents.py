"""Generated documents are deterministic and carry their words; user folders load."""

from __future__ import annotations

import pytest

from anyres.eval import CATEGORIES, DataError, generate, generated, load_folder
from anyres.eval.documents import split_seeds


@pytest.mark.parametrize("category", CATEGORIES)
def test_same_seed_same_pixels_and_words(category):
    a, b = generate(category, 3), generate(category, 3)
    assert a.image.tobytes() == b.image.tobytes() and a.words == b.words
    assert a.image.mode == "RGB" and len(a.words) >= 20
    c = generate(category, 4)
    assert c.image.tobytes() != a.image.tobytes() or c.words != a.words


def test_splits_never_share_seeds_and_cycle_categories():
    dev, held = set(split_seeds("dev", 500)), set(split_seeds("heldout", 500))
    assert not dev & held
    docs = list(generated(len(CATEGORIES) + 1, "heldout"))
    assert [d.category for d in docs] == list(CATEGORIES) + [CATEGORIES[0]]
    assert all(d.split == "heldout" and d.name.startswith("heldout-") for d in docs)
    assert len({d.name for d in docs}) == len(docs)


def test_words_are_drawn_where_the_page_has_ink():
    doc = generate("page", 0)
    gray = doc.image.convert("L")
    assert gray.getextrema()[0] < 60  # dark text on light paper
    blank = generate("page", 0).image.crop((0, 0, 40, 40)).convert("L")
    assert blank.getextrema()[0] > 200  # the margin is blank


def test_unknown_category_and_split_are_refused():
    with pytest.raises(Exception, match="unknown document category"):
        generate("poster", 0)
    with pytest.raises(Exception, match="unknown split"):
        split_seeds("test", 3)


def test_load_folder(tmp_path):
    from PIL import Image

    Image.new("RGB", (64, 32), "white").save(tmp_path / "a.png")
    (tmp_path / "a.txt").write_text("hello  world\nagain\n")
    docs = load_folder(tmp_path)
    assert [(d.name, d.words, d.split) for d in docs] == [("a", ("hello", "world", "again"), "user")]
    Image.new("RGB", (64, 32), "white").save(tmp_path / "b.jpg")
    with pytest.raises(DataError, match="b.txt"):
        load_folder(tmp_path)
    with pytest.raises(DataError, match="not a folder"):
        load_folder(tmp_path / "missing")

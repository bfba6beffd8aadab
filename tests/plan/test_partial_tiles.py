"""The AnyRes reference cut (``tile_size`` / ``resize_side`` / ``resize_shortest_edge``):
partial tiles of the pinpoint and resize-then-crop views (``View.recrop``). Pixel parity
with transformers is in tests/hf_compat/test_llava_partial_tiles.py; here, the geometry."""

from __future__ import annotations

import math
import random

import pytest

import anyres
from anyres import PlanError, SpecError
from anyres.plan import raised_limits, resolve
from anyres.plan.strategies import STRATEGIES
from anyres.plan.strategies.partial_tiles import tile_boxes, tile_count
from anyres.plan.types import Box, Recrop, Size

TOY = "llava-next(base_size=18, tile_size=18, resize_side=20)"


def test_tile_boxes_cover_the_canvas_row_major_with_partial_last_tiles():
    rng = random.Random(7)
    for _ in range(200):
        canvas, tile = Size(rng.randint(1, 300), rng.randint(1, 300)), rng.randint(1, 80)
        boxes = tile_boxes(canvas, tile)
        assert len(boxes) == tile_count(canvas, tile) == math.ceil(canvas.width / tile) * math.ceil(canvas.height / tile)
        assert sum(b.area for b in boxes) == canvas.area
        assert all(0 < b.width <= tile and 0 < b.height <= tile for b in boxes)
        assert boxes == sorted(boxes, key=lambda b: (b.top, b.left))  # row-major
        assert boxes[-1].right == canvas.width and boxes[-1].bottom == canvas.height


@pytest.mark.parametrize("preset, extra", [("llava-next", "tile_size=336, resize_side=336"),
                                           ("llava-onevision", "tile_size=384, resize_shortest_edge=False")])
def test_whole_tiles_plan_as_the_preset(preset, extra):
    """With tiles of the view side that divide the pinpoints (every checkpoint), the reference
    cut is the preset's own plan: same views, no second resize, same tokens."""
    rng = random.Random(preset)
    spec = f"{preset}({extra})"
    for _ in range(60):
        size = (rng.randint(1, 3000), rng.randint(1, 3000))
        a, b = anyres.plan(size, preset), anyres.plan(size, spec)
        assert b.views == a.views, size
        assert b.num_tokens == a.num_tokens and b.layout == a.layout and not b.warnings
        assert all(v.recrop is None for v in b.views)


def test_base_view_is_resized_then_centre_cropped():
    with raised_limits(max_views=4096):
        p = anyres.plan((400, 300), TOY)
        base = p.views[0]
        assert (base.crop, base.size, base.recrop) == (Box(0, 0, 20, 20), Size(18, 18), Recrop(Size(20, 20), 1, 1))
        assert tuple(base.source) == (20.0, 15.0, 380.0, 285.0) and tuple(base.padding) == (0, 0, 0, 0)
        # a smaller resize than the view: the window reaches past it, the reference pads with zeros
        q = anyres.plan((400, 300), "llava-next(base_size=18, tile_size=18, resize_side=15)")
        small = q.views[0]
        assert small.recrop == Recrop(Size(15, 15), -2, -2)
        assert tuple(small.padding) == (2, 2, 1, 1) and tuple(small.source) == (0, 0, 400, 300)


def test_partial_tiles_and_the_grid_the_model_reads():
    with raised_limits(max_views=4096):
        p = anyres.plan((400, 300), TOY)
    best_w, best_h = p.info["best_resolution"]
    tiles = p.views[1:]
    assert len(tiles) == math.ceil(best_w / 18) * math.ceil(best_h / 18)
    rows, cols = p.grid
    assert (rows, cols) == (best_h // 18, best_w // 18)  # the model's grid: whole views of the pinpoint
    assert [v.grid for v in tiles[: rows * cols]] == [(r, c) for r in range(rows) for c in range(cols)]
    assert all(v.grid is None and v.tokens == 0 for v in tiles[rows * cols:])
    assert sum(v.tokens for v in p.views) + p.newline_tokens == p.num_tokens
    last = tiles[-1]  # the bottom-right corner tile, 6 x 12 of the 672 x 336 pinpoint
    assert (last.crop.width, last.crop.height) == (best_w % 18, best_h % 18)
    assert last.recrop.resized == Size(20, 40) and last.size == Size(18, 18)
    assert any("partial" in w for w in p.warnings)


def test_refusals_say_what_and_the_limit():
    with pytest.raises(SpecError, match="multiples of base_size"):
        resolve("llava-next(image_grid_pinpoints=((300, 600),))")
    resolve("llava-next(image_grid_pinpoints=((300, 600),), tile_size=336)")  # partial tiles: fine
    with pytest.raises(SpecError, match="max_views"):
        resolve(TOY)  # 1,445 views of 18 px: past the default limit of 256 views
    with pytest.raises(PlanError, match="no plan can say where its tokens come from"):
        anyres.plan((100, 100), "llava-next(base_size=15, tile_size=224, image_grid_pinpoints=((30, 30),))")
    with pytest.raises(PlanError, match="shortest edge"):  # a 10 x 30 tile kept 1:3, not a square view
        anyres.plan((100, 300), "llava-next(base_size=30, tile_size=30, image_grid_pinpoints=((30, 10),))")


def test_cost_counts_the_partial_tiles_and_the_long_resized_tile():
    p = dict(STRATEGIES["anyres"].defaults, base_size=18, tile_size=18, resize_side=20,
             image_grid_pinpoints=((336, 672), (1000, 37)))
    cost = STRATEGIES["anyres"].cost(p)
    assert cost.views == 1 + max(tile_count(Size(672, 336), 18), tile_count(Size(37, 1000), 18))
    # the 1-px column of the 37 px pinpoint, 18 px tall, resized to a 20 px short side: 360 x 20
    assert cost.canvas_pixels >= 20 * 360

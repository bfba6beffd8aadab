"""A strategy defined outside the package, with the public API only, runs end to end.

"grid2x3": the image resized to 3 x 2 tiles of 224 px plus a 224 px thumbnail first,
each tile's 16 x 16 patch map pooled 2 x 2 (64 tokens a view), a ``<sep>`` text token
after each row of tiles. Nothing in ``src/anyres`` knows about it: it is registered
here, in every layer, and planned, preprocessed (all three outputs), encoded by a tiny
saved CLIP through ``VisionPipeline`` and served by ``AnyresImageProcessor``.
"""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest

import anyres
from anyres.plan import (
    Box,
    Connector,
    Layout,
    PlanParts,
    Segment,
    Size,
    Strategy,
    grid_views,
    make_view,
    register_preset,
    register_strategy,
    resize_canvas,
    whole,
)

from .tolerance import assert_close_rel

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

NAME = "grid2x3"
TILE = 224


def plan_grid(image: Size, p: dict) -> PlanParts:
    t = p["tile_size"]
    tokens = (t // p["patch_size"] // 2) ** 2
    canvases = [resize_canvas(image, Size(t, t)), resize_canvas(image, Size(3 * t, 2 * t))]
    views = [make_view(canvases, 0, whole(Size(t, t)), None, "thumbnail", tokens)]
    views += grid_views(canvases, 1, 2, 3, Size(t, t), tokens)
    return PlanParts(tuple(canvases), tuple(views), (2, 3))


def layout_grid(plan) -> Layout:
    token = plan.params["image_token"]
    segs = [Segment(token, plan.views[0].tokens, "visual", 0)]
    for r in range(2):
        segs += [Segment(token, plan.views[1 + 3 * r + c].tokens, "visual", 1 + 3 * r + c) for c in range(3)]
        segs.append(Segment("<sep>", 1, "text"))
    return Layout(tuple(segs))


GRID = Strategy(
    NAME,
    plan_grid,
    layout_grid,
    {"tile_size": TILE, "patch_size": 14, "image_token": "<image>"},
    "A 2x3 grid of tiles after a thumbnail, 2x2 pooled, a separator after each row.",
    connector=lambda p, info: Connector("pool", 2, patch_size=p["patch_size"]),
)


@pytest.fixture(scope="module")
def grid_preset():
    from anyres.hf import PROCESSOR_GLUE, ProcessorGlue, register_processor_glue
    from anyres.pipeline import ENCODER_CHECKS, check_tower
    from anyres.pixels import HF_OUTPUTS, register_hf_output
    from anyres.tokens import ASSEMBLY, per_view, register_assembly

    register_strategy(GRID)
    register_preset(NAME, NAME)
    register_hf_output(NAME, HF_OUTPUTS.get("internvl"))  # every tile stacked, with num_patches
    register_assembly(NAME, per_view)
    ENCODER_CHECKS.register(NAME, check_tower)
    register_processor_glue(NAME, ProcessorGlue(lambda p: ["pixel_values", "num_patches"], lambda p, px: {}))
    yield NAME
    for registry in (HF_OUTPUTS, ASSEMBLY, ENCODER_CHECKS, PROCESSOR_GLUE):
        registry.unregister(NAME)
    anyres.plan.unregister_preset(NAME)
    anyres.plan.unregister_strategy(NAME)


@pytest.fixture(scope="module")
def clip224(tmp_path_factory):
    from transformers import CLIPVisionConfig, CLIPVisionModel

    from .encode.conftest import randomize, save

    config = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                              image_size=TILE, patch_size=14)
    model = randomize(CLIPVisionModel(config), 5)
    return save(model, tmp_path_factory.mktemp("clip224"))


def _image(w: int, h: int):
    from PIL import Image

    rng = np.random.default_rng(w * 7 + h)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def test_outside_strategy_plans(grid_preset):
    plan = anyres.plan((1000, 600), grid_preset)
    assert len(plan.views) == 7 and plan.grid == (2, 3)
    assert all(v.features == (16, 16) and v.token_grid == (8, 8) for v in plan.views)
    assert plan.num_tokens == 7 * 64 and len(plan.layout) == 7 * 64 + 2
    assert plan.layout.text().count("<sep>") == 2


def test_outside_strategy_preprocesses_to_every_output(grid_preset):
    images = [_image(640, 480), _image(300, 900)]
    batch = anyres.preprocess(images, grid_preset)
    assert [len(p.views) for p in batch.plans] == [7, 7]
    assert list(batch.groups) == [(TILE, TILE)] and batch.groups[(TILE, TILE)].pixel_values.shape == (14, 3, TILE, TILE)
    packed = anyres.preprocess(images, grid_preset, output="packed")
    assert packed.patches.shape == (14 * 256, 3 * 14 * 14)
    hf = anyres.preprocess(images, grid_preset, output="hf")
    assert hf["pixel_values"].shape == (14, 3, TILE, TILE) and hf["num_patches"].tolist() == [7, 7]
    # the three outputs hold the same normalised pixels
    assert np.array_equal(hf["pixel_values"], batch.groups[(TILE, TILE)].pixel_values)


def test_outside_strategy_runs_through_the_pipeline(grid_preset, clip224):
    from anyres.pipeline import VisionPipeline

    pipe = VisionPipeline.from_preset(grid_preset, clip224)
    images = [_image(640, 480), _image(300, 900), _image(50, 50)]
    tokens = pipe(images)
    for t in tokens:
        assert t.embeddings.shape[0] == t.plan.num_tokens == 7 * 64
        assert t.prompt().count("<image>") == t.plan.num_tokens
    # packed and one by one give the same tokens
    packed = VisionPipeline.from_preset(grid_preset, clip224, packing="packed")(images)
    for a, b in zip(tokens, packed):
        # float32 attention over different batch shapes: rounding of the values' size (tests/tolerance.py)
        assert_close_rel(b.embeddings, a.embeddings, 64, "packed vs shape groups")


def test_outside_strategy_serves_as_a_transformers_image_processor(grid_preset):
    from anyres.hf import AnyresImageProcessor

    proc = AnyresImageProcessor(grid_preset)
    out = proc([_image(640, 480)], return_tensors="pt")
    assert tuple(out["pixel_values"].shape) == (7, 3, TILE, TILE) and proc.get_number_of_image_patches(480, 640) == 7


def test_a_pickled_plan_needs_no_registered_strategy(grid_preset, tmp_path):
    plan = anyres.plan((1000, 600), grid_preset)
    path = tmp_path / "plan.pkl"
    path.write_bytes(pickle.dumps(plan))
    code = (
        "import pickle, sys; p = pickle.load(open(sys.argv[1], 'rb')); "
        "print(p.num_tokens, len(p.layout), p.connector.kind, p.views[0].token_grid, p.pixels.resample)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(7 * 64), str(7 * 64 + 2), "pool", "(8,", "8)", "bicubic"]


def test_an_unregistered_layer_names_itself(grid_preset):
    from anyres.tokens import ASSEMBLY, Assembler

    ASSEMBLY.unregister(grid_preset)
    try:
        with pytest.raises(anyres.SpecError, match="tokens assembly has no entry for strategy 'grid2x3'"):
            Assembler.for_plan(grid_preset, 32)
    finally:
        from anyres.tokens import per_view, register_assembly

        register_assembly(grid_preset, per_view)

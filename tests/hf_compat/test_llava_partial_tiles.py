"""LLaVA-NeXT / OneVision for any ``size`` / ``crop_size`` / pinpoints: the drop-in against
``LlavaNextImageProcessorPil`` / ``LlavaOnevisionImageProcessorPil`` over seeded random
settings (toy 8-40 px views as transformers' own tests use, the checkpoints' 336 / 384 px,
the reference classes' 224 px defaults over 336-multiple pinpoints) and random image
sizes: the same outcome, and when both process, the same keys, shapes, dtypes and values
(max difference 0). Where the model processor defines the token count from the view
size (LLaVA-NeXT always; OneVision when its views give 27 x 27 patches, its
``num_image_tokens``), the drop-in's plan reserves as many tokens as the processor inserts.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from PIL import Image  # noqa: E402

from anyres.hf import drop_in_class  # noqa: E402
from anyres.plan import raised_limits  # noqa: E402

from .compare import outcome  # noqa: E402
from .test_processors import _build_with_stubs, tokenizer  # noqa: E402,F401  (the fixture)

REFERENCE = {"llava-next": "LlavaNextImageProcessorPil", "llava-onevision": "LlavaOnevisionImageProcessorPil"}
CASES = 300
VIEWS = 1 << 16  # toy tiles are many (1,445 of 18 px for a 400 px image); the limit is not what is tested


def _pinpoints(rng: random.Random, unit: int, whole: bool, least: int | None = None) -> list[list[int]]:
    """1-3 (height, width) pinpoints of 1-3 units a side, or any sides in [least, 3 units]
    (``least``: half a unit unless given)."""
    if whole:
        return [[unit * rng.randint(1, 3), unit * rng.randint(1, 3)] for _ in range(rng.randint(1, 3))]
    lo = unit // 2 if least is None else least
    return [[rng.randint(lo, 3 * unit), rng.randint(lo, 3 * unit)] for _ in range(rng.randint(1, 3))]


def _settings(rng: random.Random, preset: str) -> tuple[dict, int]:
    """Constructor arguments, and the largest image side to try with them."""
    kind = rng.choice(["toy", "toy", "toy", "checkpoint", "reference"])
    if kind == "reference":  # the class's own defaults: 224 px views, 336/384-multiple pinpoints
        return {}, 500
    if kind == "checkpoint":
        unit = 336 if preset == "llava-next" else 384
        kw = {"image_grid_pinpoints": _pinpoints(rng, unit, rng.random() < 0.5)}
        if preset == "llava-next":
            kw.update(size={"shortest_edge": unit}, crop_size={"height": unit, "width": unit})
        else:
            kw.update(size={"height": unit, "width": unit})
        return kw, 700
    side, crop = rng.randint(8, 40), rng.randint(8, 40)
    size = {"shortest_edge": side} if rng.random() < 0.5 else {"height": side, "width": side}
    centre = rng.random() < (0.8 if preset == "llava-next" else 0.3)
    kw = {"size": size, "do_center_crop": centre}
    if centre or (preset == "llava-next" and rng.random() < 0.5):
        kw["crop_size"] = {"height": crop, "width": crop}
    tile = crop if "crop_size" in kw else side
    kw["image_grid_pinpoints"] = _pinpoints(rng, tile, rng.random() < 0.3)
    return kw, 160


def _image(rng: random.Random, largest: int) -> Image.Image:
    w, h = rng.randint(1, largest), rng.randint(1, largest)
    if rng.random() < 0.2:  # thin
        w, h = (w, rng.randint(1, 4)) if rng.random() < 0.5 else (rng.randint(1, 4), h)
    data = np.random.default_rng(rng.randrange(1 << 30)).integers(0, 256, (h, w, 3), dtype=np.uint8)
    return Image.fromarray(data)


def _unreadable_grid(exc: Exception) -> bool:
    """anyres' one refusal where the reference processes: tiles larger than the views (LLaVA-NeXT
    without its centre crop, a crop_size above size) cut fewer tiles than the grid the model
    reads, so the plan cannot place the tokens (the model itself could not run on them)."""
    from anyres import PlanError

    return isinstance(exc, PlanError) and "no plan can say where its tokens come from" in str(exc)


def _identical(ours, ref, what: str) -> None:
    assert sorted(ours) == sorted(ref), (what, sorted(ours), sorted(ref))
    for key in ref:
        got, want = np.asarray(ours[key]), np.asarray(ref[key])
        assert got.shape == want.shape, (what, key, got.shape, want.shape)
        assert got.dtype == want.dtype, (what, key, got.dtype, want.dtype)
        assert np.array_equal(got, want), (what, key, float(np.abs(got.astype(np.float64) - want).max()))


@pytest.mark.parametrize("preset", sorted(REFERENCE))
def test_same_pixels_as_the_reference_for_any_size_and_crop(preset):
    rng = random.Random(f"llava partial tiles {preset}")
    reference = getattr(transformers, REFERENCE[preset])
    processed = refused = 0
    for k in range(CASES // 2):
        kw, largest = _settings(rng, preset)
        images = [_image(rng, largest) for _ in range(rng.randint(1, 2))]
        what = f"{preset} case {k}: {kw} images {[im.size for im in images]}"
        ref = outcome(lambda: reference(**kw)(images, return_tensors="np"))
        with raised_limits(max_views=VIEWS):
            ours = outcome(lambda: drop_in_class(preset, "reference")(**kw)(images, return_tensors="np"))
        if ours[0] == "error" and ref[0] == "ok" and _unreadable_grid(ours[1]):
            refused += 1
            continue
        assert ours[0] == ref[0], (what, ours, ref)
        if ours[0] == "ok":
            _identical(ours[1], ref[1], what)
            processed += 1
        else:
            refused += 1
    assert processed >= CASES // 2 - CASES // 10, f"{preset}: only {processed} cases processed ({refused} refused)"


def _processor(preset: str, image_processor, tok):
    if preset == "llava-next":
        return _build_with_stubs(transformers.LlavaNextProcessor, image_processor=image_processor, tokenizer=tok,
                                 patch_size=14, image_token="<image>", num_additional_image_tokens=1,
                                 vision_feature_select_strategy="default")
    return _build_with_stubs(transformers.LlavaOnevisionProcessor, image_processor=image_processor, tokenizer=tok,
                             image_token="<image>", num_image_tokens=729, vision_feature_select_strategy="full")


@pytest.mark.parametrize("preset", sorted(REFERENCE))
def test_tokens_the_model_processor_inserts(tokenizer, preset):  # noqa: F811
    rng = random.Random(f"llava partial tile tokens {preset}")
    image_token = tokenizer.convert_tokens_to_ids("<image>")
    for k in range(20):
        # the processor divides by the grid it reads: views of at least one 14 px patch, pinpoints of one view
        if preset == "llava-next":
            side = rng.randint(14, 40)
            kw = {"size": {"shortest_edge": rng.randint(8, 40)}, "crop_size": {"height": side, "width": side},
                  "image_grid_pinpoints": _pinpoints(rng, side, rng.random() < 0.3, least=side)}
            largest = 160
        else:  # its count assumes 27 x 27 patches a view: 384 px views (patch 14), any pinpoints
            kw, largest = {"image_grid_pinpoints": _pinpoints(rng, 384, rng.random() < 0.3, least=384)}, 900
        image = _image(rng, largest)
        with raised_limits(max_views=VIEWS):
            ip = drop_in_class(preset, "reference")(**kw)
            ids = _processor(preset, ip, tokenizer)(images=[image], text=["describe <image>"])["input_ids"][0]
            planned = ip.plan_for(image.height, image.width)
        inserted = sum(1 for t in ids if t == image_token)
        assert planned.num_tokens == inserted, (preset, k, kw, image.size, planned.num_tokens, inserted)
        assert sum(v.tokens for v in planned.views) + planned.newline_tokens == planned.num_tokens

"""HunYuan-VL, DeepSeek-OCR 2, DeepSeek-VL (and its hybrid) and Janus against transformers 5.23 on >= 2,000
sizes a preset (geometry only: the reference's own helpers on zero-stride arrays, resize
stubbed to shapes); the new strategies' worst-case formulas; their checkpoint folders."""

from __future__ import annotations

import pytest

import anyres
from anyres import PlanError, SpecError

from .oracles import _bare, fake_image, shape_only_resize
from .sizes import sample_sizes

SIZES = sample_sizes(2000)


def _no_mismatch(bad: list, preset: str) -> None:
    assert not bad, f"{preset}: {len(bad)} mismatches, first: {bad[:5]}"


# ---------------------------------------------------------------- HunYuan-VL
def _hunyuan_refs():
    from transformers.models.hunyuan_vl.image_processing_pil_hunyuan_vl import HunYuanVLImageProcessorPil
    from transformers.models.hunyuan_vl.processing_hunyuan_vl import HunYuanVLProcessor

    ip = HunYuanVLImageProcessorPil()
    return ip, _bare(HunYuanVLProcessor, image_processor=ip, cat_extra_token=True, image_token="<image>")


def test_hunyuan_vl_matches_processor_and_prompt():
    """Grid (get_number_of_image_patches), the processor's placeholder count
    (replace_image_token) and the 200:1 refusal, on >= 2000 sizes within the limit."""
    import numpy as np

    ip, proc = _hunyuan_refs()
    bad, refused = [], 0
    sizes = SIZES + sample_sizes(600, seed=1, max_aspect=200)
    for w, h in sizes:
        try:
            gh, gw = ip.get_number_of_image_patches(h, w)
        except ValueError:
            refused += 1
            with pytest.raises(PlanError, match="aspect ratio"):
                anyres.plan((w, h), "hunyuan-vl")
            continue
        text = proc.replace_image_token({"image_grid_thw": np.array([[1, gh, gw]])}, 0)
        p = anyres.plan((w, h), "hunyuan-vl")
        got = (p.info["image_grid_thw"], len(p.layout), p.layout.text(), p.num_tokens)
        want = ((1, gh, gw), len(text) // len("<image>"), text, len(text) // len("<image>"))
        if got != want or p.views[0].size != (gw * 16, gh * 16):
            bad.append(((w, h), got[:2], want[:2]))
    _no_mismatch(bad, "hunyuan-vl")
    assert refused > 10 and len(sizes) - refused >= 2000


def test_hunyuan_vl_processing_path_agrees():
    """The sizes _preprocess resizes to (resize stubbed to shapes) are the grid above,
    with overrides in the reference's shapes (size={...})."""
    ip, _ = _hunyuan_refs()
    spec = 'hunyuan-vl(size={"shortest_edge": 65536, "longest_edge": 1048576})'
    for w, h in SIZES[:150]:
        if max(w, h) / min(w, h) > 200:
            continue
        with shape_only_resize():
            out = ip._preprocess([fake_image(w, h)], do_resize=True, size=_size_dict(65536, 1048576), resample=None,
                                 do_rescale=False, rescale_factor=1 / 255, do_normalize=False, image_mean=None,
                                 image_std=None, patch_size=16, temporal_patch_size=1, merge_size=2,
                                 return_tensors=None)
        assert tuple(out["image_grid_thw"][0].tolist()) == anyres.plan((w, h), spec).info["image_grid_thw"], (w, h)


def test_hunyuan_vl_as_is_matches_do_resize_false():
    """resize=False (the reference's do_resize=False): the reference's own _preprocess keeps
    the image's size (any aspect ratio, any area); off the patch x merge grid both refuse."""
    ip, _ = _hunyuan_refs()
    sizes = [(32, 32), (64, 32), (32 * 300, 32), (32, 32 * 250), (96, 4096)] + [
        (32 * (1 + w % 40), 32 * (1 + h % 40)) for w, h in SIZES[:100]]
    for w, h in sizes:
        out = ip._preprocess([fake_image(w, h)], do_resize=False, size=None, resample=None, do_rescale=False,
                             rescale_factor=1 / 255, do_normalize=False, image_mean=None, image_std=None,
                             patch_size=16, temporal_patch_size=1, merge_size=2, return_tensors=None)
        p = anyres.plan((w, h), "hunyuan-vl(resize=False)")
        assert tuple(out["image_grid_thw"][0].tolist()) == p.info["image_grid_thw"], (w, h)
        assert tuple(p.views[0].size) == (w, h) and not p.canvases[0].steps
    for w, h in [(33, 32), (32, 17), (1, 1)]:
        with pytest.raises(ValueError):
            ip._preprocess([fake_image(w, h)], do_resize=False, size=None, resample=None, do_rescale=False,
                           rescale_factor=1 / 255, do_normalize=False, image_mean=None, image_std=None,
                           patch_size=16, temporal_patch_size=1, merge_size=2, return_tensors=None)
        with pytest.raises(PlanError, match=f"{w}x{h}"):
            anyres.plan((w, h), "hunyuan-vl(resize=False)")


def _size_dict(lo: int, hi: int):
    from transformers.image_utils import SizeDict

    return SizeDict(shortest_edge=lo, longest_edge=hi)


# ---------------------------------------------------------------- DeepSeek-OCR 2
def deepseek_ocr2_oracle(ip, proc, width: int, height: int, **kwargs) -> dict:
    """The reference's own _preprocess with resize and pad_to_square stubbed to shapes
    (the resize sizes recorded), and DeepseekOcr2Processor.replace_image_token."""
    from unittest import mock

    from transformers.image_processing_backends import PilBackend
    from transformers.models.deepseek_ocr2.image_processing_pil_deepseek_ocr2 import DeepseekOcr2ImageProcessorPil

    resized = []

    def fake_resize(self, image, size, *args, **kw):
        resized.append((size.width, size.height))
        return fake_image(size.width, size.height)

    def fake_pad(self, image, background_color=0):
        side = max(image.shape[-2:])
        return fake_image(side, side)

    args = dict(crop_to_patches=True, min_patches=2, max_patches=6, tile_size=768)
    args.update(kwargs)
    with mock.patch.object(PilBackend, "resize", fake_resize), \
            mock.patch.object(DeepseekOcr2ImageProcessorPil, "pad_to_square", fake_pad):
        out = ip._preprocess([fake_image(width, height)], size=ip.size, resample=None, do_rescale=False,
                             rescale_factor=1 / 255, do_normalize=False, image_mean=None, image_std=None,
                             return_tensors=None, **args)
    text = proc.replace_image_token(out, 0)
    return {"global": resized[-1], "tiles": out["num_local_patches"][0], "canvas": resized[0] if len(resized) > 1
            else None, "tokens": len(text) // len("<image>"), "text": text,
            "global_side": out["pixel_values"][0].shape[-1]}


@pytest.mark.parametrize("spec,kwargs,n", [
    ("deepseek-ocr2", {}, 2000),
    ("deepseek-ocr2(max_patches=9, min_patches=1)", dict(max_patches=9, min_patches=1), 400),
])
def test_deepseek_ocr2_matches_processor_and_prompt(spec, kwargs, n):
    from unittest import mock

    import numpy as np

    from transformers.models.deepseek_ocr2.image_processing_pil_deepseek_ocr2 import DeepseekOcr2ImageProcessorPil
    from transformers.models.deepseek_ocr2.processing_deepseek_ocr2 import DeepseekOcr2Processor

    ip = DeepseekOcr2ImageProcessorPil()
    proc = _bare(DeepseekOcr2Processor, image_processor=ip, patch_size=16, downsample_ratio=4, image_token="<image>")
    no_tiles = mock.patch.object(DeepseekOcr2ImageProcessorPil, "crop_image_to_patches", lambda self, im, **kw: [])
    bad, planned = [], 0
    for w, h in SIZES[:n]:
        scale = 1024 / max(w, h)
        if round(w * scale) < 1 or round(h * scale) < 1:  # the reference's resize refuses a 0 px side
            with pytest.raises(ValueError, match="width"), no_tiles:  # its global resize raises
                ip(np.zeros((h, w, 3), dtype=np.uint8), input_data_format="channels_last", **kwargs)
            with pytest.raises(PlanError, match="0 px"):
                anyres.plan((w, h), spec)
            continue
        ref = deepseek_ocr2_oracle(ip, proc, w, h, **kwargs)
        p = anyres.plan((w, h), spec)
        planned += 1
        got = (tuple(p.info["global_resized"]), len(p.views) - 1, p.num_tokens, p.layout.text(),
               p.views[0].size.width, tuple(p.canvases[1].resized) if len(p.canvases) > 1 else None)
        want = (ref["global"], ref["tiles"], ref["tokens"], ref["text"], ref["global_side"], ref["canvas"])
        if got != want:
            bad.append(((w, h), got[:3], want[:3]))
    _no_mismatch(bad, spec)
    assert planned >= 0.95 * n  # a few thin sizes are refused (checked above)


def test_deepseek_ocr2_without_crops_warns_of_its_token_count():
    p = anyres.plan((1000, 600), "deepseek-ocr2(crop_to_patches=False)")
    assert (len(p.views), p.views[0].size, p.num_tokens) == (1, (768, 768), 257)  # counted at size=1024
    assert any("reserves 256" in w for w in p.diagnostics.warnings)
    assert not anyres.plan((1000, 600), "deepseek-ocr2").diagnostics.warnings


def test_deepseek_ocr2_count_path_is_recorded_where_it_disagrees():
    """get_number_of_image_patches (what serving engines call) picks the grid with
    size=1024 as the tile and tiles images the processing path leaves whole."""
    from transformers.models.deepseek_ocr2.image_processing_pil_deepseek_ocr2 import DeepseekOcr2ImageProcessorPil

    ip = DeepseekOcr2ImageProcessorPil()
    differ = 0
    for w, h in SIZES[:1000]:
        if round(1024 * min(w, h) / max(w, h)) < 1:
            continue
        p = anyres.plan((w, h), "deepseek-ocr2")
        counted = ip.get_number_of_image_patches(h, w)
        assert p.info.get("reference_count_path", len(p.views)) == counted, (w, h)
        differ += counted != len(p.views)
        assert (counted != len(p.views)) == any("get_number_of_image_patches" in x for x in p.diagnostics.warnings)
    assert differ > 100  # e.g. every image whose sides are both at most 768 px
    q = anyres.plan((1000, 600), 'deepseek-ocr2(size={"height": 1024, "width": 1024})')
    assert q.num_tokens == 256 + 6 * 144 + 1


# ---------------------------------------------------------------- worst cases
@pytest.mark.parametrize("spec", ["ovis2", "ovis2(crop_to_patches=True)", "minicpm-v-4.6",
                                  'minicpm-v-4.6(downsample_mode="4x")', "hunyuan-vl", "deepseek-ocr2",
                                  "deepseek-ocr2(max_patches=9, min_patches=1)"])
def test_cost_formula_bounds_the_plans(spec):
    """Strategy.cost (what resolve checks against the limits before planning) bounds the
    views, the largest view and all views' pixels of every plan of 600 sizes, at aspect
    ratios up to 20:1 (MiniCPM-V 4.6's thin views beyond are bounded per image by plan(),
    as its formula says); worst_case finds the most prompt positions the plans take."""
    from anyres.plan import worst_case
    from anyres.plan.registry import resolve
    from anyres.plan.strategies import STRATEGIES

    chosen, params, _ = resolve(spec)
    cost = STRATEGIES[chosen.strategy].cost(dict(params))
    most = 0
    for w, h in sample_sizes(600, seed=3, max_side=12000, max_aspect=20):
        if max(w, h) > 20 * min(w, h):  # sample_sizes keeps its thin edge sizes
            continue
        try:
            p = anyres.plan((w, h), spec)
        except PlanError:
            continue
        px = [v.size.width * v.size.height for v in p.views]
        assert len(px) <= cost.views and max(px) <= cost.view_pixels and sum(px) <= cost.total_pixels, (w, h)
        most = max(most, len(p.layout))
    n, size = worst_case(spec)
    # worst_case searches a geometric grid of sides: for MiniCPM-V 4.6 "4x" it finds 2701
    # positions where these samples reach 2722 (its slice rounding peaks between grid sides)
    assert len(anyres.plan(size, spec).layout) == n and n >= 0.98 * most


# ---------------------------------------------------------------- DeepSeek-VL and Janus
def deepseek_vl_oracle(ip, module: str, width: int, height: int) -> dict:
    """The reference's _preprocess with its resize stubbed to shapes (sizes recorded) and
    its own pad_to_square on a black image: the content is where the pad colour is not."""
    from unittest import mock

    from transformers.image_utils import SizeDict

    resized = []

    def fake_resize(image, size, **kw):
        resized.append((size[1], size[0]))
        return np.zeros((3, size[0], size[1]), dtype=np.uint8)

    import numpy as np

    with mock.patch(f"{module}.np_resize", fake_resize):
        out = ip._preprocess([fake_image(width, height)], do_resize=True, size=SizeDict(height=384, width=384),
                             resample=None, do_rescale=False, rescale_factor=1 / 255, do_normalize=False,
                             image_mean=None, image_std=None, min_size=14, return_tensors=None, do_pad=True)
    content = out["pixel_values"][0][0] == 0
    rows, cols = np.flatnonzero(content.any(axis=1)), np.flatnonzero(content.any(axis=0))
    return {"resized": resized[0], "side": out["pixel_values"][0].shape[-1], "offset": (int(cols[0]), int(rows[0]))}


@pytest.mark.parametrize("preset,n", [("deepseek-vl", 2000), ("janus", 300)])
def test_deepseek_vl_and_janus_match_processor_and_prompt(preset, n):
    from transformers.models.deepseek_vl.image_processing_pil_deepseek_vl import DeepseekVLImageProcessorPil
    from transformers.models.deepseek_vl.processing_deepseek_vl import DeepseekVLProcessor
    from transformers.models.janus.image_processing_pil_janus import JanusImageProcessorPil
    from transformers.models.janus.processing_janus import JanusProcessor

    if preset == "janus":
        ip, module = JanusImageProcessorPil(), "transformers.models.janus.image_processing_pil_janus"
        proc = _bare(JanusProcessor, num_image_tokens=576, image_token="<image_placeholder>",
                     image_start_token="<begin_of_image>", image_end_token="<end_of_image>")
    else:
        ip, module = DeepseekVLImageProcessorPil(), "transformers.models.deepseek_vl.image_processing_pil_deepseek_vl"
        proc = _bare(DeepseekVLProcessor, num_image_tokens=576, image_token="<image_placeholder>")
    bad = []
    for w, h in SIZES[:n]:
        ref = deepseek_vl_oracle(ip, module, w, h)
        p = anyres.plan((w, h), preset)
        c = p.canvases[0]
        got = (tuple(c.resized), c.padded.width, tuple(c.offset), p.layout.text())
        want = (ref["resized"], ref["side"], ref["offset"], proc.replace_image_token({}, 0))
        if got != want or p.num_tokens != 576:
            bad.append(((w, h), got[:3], want[:3]))
    _no_mismatch(bad, preset)


def test_deepseek_vl_token_count_follows_its_patches():
    with pytest.raises(SpecError, match="num_image_tokens=576"):
        anyres.plan((10, 10), "deepseek-vl(patch_size=14)")
    p = anyres.plan((1000, 600), 'janus(size={"height": 336, "width": 336}, patch_size=14)')
    assert (p.views[0].size, p.num_tokens, len(p.layout)) == ((336, 336), 576, 578)


def deepseek_vl_hybrid_oracle(ip, width: int, height: int) -> dict:
    """The hybrid's _preprocess with np_resize stubbed to shapes (every resize recorded:
    the high-res one, then the low-res one of the padded square) and its own pad_to_square
    on black content: the high-res content is where the pad colour is not."""
    from unittest import mock

    import numpy as np
    from transformers.image_utils import SizeDict

    resized = []

    def fake_resize(image, size, **kw):
        resized.append((size[1], size[0]))
        return np.zeros((3, size[0], size[1]), dtype=np.uint8)

    module = "transformers.models.deepseek_vl_hybrid.image_processing_pil_deepseek_vl_hybrid"
    with mock.patch(f"{module}.np_resize", fake_resize):
        out = ip._preprocess([fake_image(width, height)], do_resize=True, size=SizeDict(height=384, width=384),
                             high_res_size=SizeDict(height=1024, width=1024), min_size=14, resample=None,
                             high_res_resample=None, do_rescale=False, rescale_factor=1 / 255, do_normalize=False,
                             image_mean=None, image_std=None, high_res_image_mean=None, high_res_image_std=None,
                             return_tensors=None, do_pad=True)
    high = out["high_res_pixel_values"][0]
    content = high[0] == 0
    rows, cols = np.flatnonzero(content.any(axis=1)), np.flatnonzero(content.any(axis=0))
    return {"resized": resized[0], "high": high.shape[-1], "offset": (int(cols[0]), int(rows[0])),
            "low": resized[1], "low_out": out["pixel_values"][0].shape[-2:]}


def test_deepseek_vl_hybrid_matches_processor_and_prompt():
    """Both resizes, the padded high-res square and its offset, the low-res view's size,
    and the processor's placeholders (replace_image_token), on >= 2000 sizes."""
    from transformers.models.deepseek_vl_hybrid.image_processing_pil_deepseek_vl_hybrid import (
        DeepseekVLHybridImageProcessorPil,
    )
    from transformers.models.deepseek_vl_hybrid.processing_deepseek_vl_hybrid import DeepseekVLHybridProcessor

    ip = DeepseekVLHybridImageProcessorPil()
    proc = _bare(DeepseekVLHybridProcessor, num_image_tokens=576, image_token="<image_placeholder>")
    bad = []
    for w, h in SIZES:
        ref = deepseek_vl_hybrid_oracle(ip, w, h)
        p = anyres.plan((w, h), "deepseek-vl-hybrid")
        c, low, high = p.canvases[0], p.views[0], p.views[1]
        got = (tuple(c.resized), c.padded.width, tuple(c.offset), tuple(low.size), tuple(high.size), p.layout.text())
        want = (ref["resized"], ref["high"], ref["offset"], ref["low"], (ref["high"], ref["high"]),
                proc.replace_image_token({}, 0))
        if got != want or tuple(ref["low_out"]) != (low.size.height, low.size.width) or p.num_tokens != 576:
            bad.append(((w, h), got[:5], want[:5]))
    _no_mismatch(bad, "deepseek-vl-hybrid")
    assert len(SIZES) >= 2000


def test_deepseek_vl_hybrid_overrides():
    """The processor's own argument shapes; a smaller high-res square keeps the rule."""
    p = anyres.plan((1000, 600), 'deepseek-vl-hybrid(high_res_size={"height": 768, "width": 768})')
    assert [v.size for v in p.views] == [(384, 384), (768, 768)] and p.num_tokens == 576
    with pytest.raises(SpecError, match="square"):
        anyres.plan((10, 10), 'deepseek-vl-hybrid(high_res_size={"height": 768, "width": 512})')
    q = anyres.plan((1000, 600), "deepseek-vl-hybrid(do_pad=False)")
    assert [v.size for v in q.views] == [(384, 230), (1024, 614)]


# ---------------------------------------------------------------- checkpoint folders
def _saved(tmp_path, ip, model_type: str, name: str) -> str:
    import json

    path = tmp_path / name
    path.mkdir()
    ip.save_pretrained(path)
    (path / "config.json").write_text(json.dumps({"model_type": model_type}))
    return str(path)


def test_checkpoint_folders_of_the_new_families(tmp_path):
    """A folder with the reference image processor's saved config plans as the preset
    with the saved values (the family from config.json's model_type)."""
    from transformers.models.deepseek_ocr2.image_processing_pil_deepseek_ocr2 import DeepseekOcr2ImageProcessorPil
    from transformers.models.hunyuan_vl.image_processing_pil_hunyuan_vl import HunYuanVLImageProcessorPil
    from transformers.models.deepseek_vl_hybrid.image_processing_pil_deepseek_vl_hybrid import (
        DeepseekVLHybridImageProcessorPil,
    )
    from transformers.models.janus.image_processing_pil_janus import JanusImageProcessorPil
    from transformers.models.minicpmv4_6.image_processing_pil_minicpmv4_6 import MiniCPMV4_6ImageProcessorPil
    from transformers.models.ovis2.image_processing_pil_ovis2 import Ovis2ImageProcessorPil

    cases = [
        (Ovis2ImageProcessorPil(size={"height": 448, "width": 448}, crop_to_patches=True, max_patches=9), "ovis2",
         'ovis2(tile_size=448, crop_to_patches=True, max_patches=9)'),
        (MiniCPMV4_6ImageProcessorPil(max_slice_nums=4, downsample_mode="4x"), "minicpmv4_6",
         'minicpm-v-4.6(max_slice_nums=4, downsample_mode="4x")'),
        (HunYuanVLImageProcessorPil(max_pixels=1024 * 1024), "hunyuan_vl", "hunyuan-vl(max_pixels=1048576)"),
        (DeepseekOcr2ImageProcessorPil(max_patches=4), "deepseek_ocr2", "deepseek-ocr2(max_patches=4)"),
        (JanusImageProcessorPil(), "janus", "janus"),
        (DeepseekVLHybridImageProcessorPil(high_res_size={"height": 768, "width": 768}), "deepseek_vl_hybrid",
         "deepseek-vl-hybrid(high_res_size=768)"),
    ]
    for ip, model_type, spec in cases:
        folder = _saved(tmp_path, ip, model_type, model_type)
        for size in [(1000, 600), (1240, 1754), (37, 41), (3000, 200)]:
            a, b = anyres.plan(size, folder), anyres.plan(size, spec)
            assert (a.strategy, a.num_tokens, len(a.layout), [v.size for v in a.views]) == \
                   (b.strategy, b.num_tokens, len(b.layout), [v.size for v in b.views]), (model_type, size)
            assert a.pixels == b.pixels, model_type

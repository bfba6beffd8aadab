"""Exact agreement with transformers' processors and models on >= 2,000 sizes a preset."""

from __future__ import annotations

import pytest

import anyres
from anyres import PlanError

from . import oracles
from .sizes import sample_sizes

SIZES = sample_sizes(2000)


def _assert_no_mismatch(mismatches: list, preset: str) -> None:
    assert not mismatches, f"{preset}: {len(mismatches)} mismatches, first: {mismatches[:5]}"


def test_llava_next_matches_processor():
    proc = oracles.llava_next_processor()
    bad = []
    for w, h in SIZES:
        ref = oracles.llava_next_oracle(proc, w, h)
        p = anyres.plan((w, h), "llava-next")
        got = {"views": len(p.views), "grid": p.grid, "tokens": p.num_tokens}
        if got != ref or len(p.layout) != ref["tokens"]:
            bad.append(((w, h), got, ref))
    _assert_no_mismatch(bad, "llava-next")
    assert len(SIZES) >= 2000


def test_llava_onevision_matches_processor():
    proc = oracles.onevision_processor()
    bad = []
    for w, h in SIZES:
        ref = oracles.onevision_oracle(proc, w, h)
        p = anyres.plan((w, h), "llava-onevision")
        got = {"grid": p.grid, "tokens": p.num_tokens}
        if got != ref:
            bad.append(((w, h), got, ref))
    _assert_no_mismatch(bad, "llava-onevision")


@pytest.mark.parametrize("preset", ["llava-next", "llava-onevision"])
def test_anyres_matches_model_packing(preset):
    """The model's own pack_image_features (unpad, OneVision shrink, newline) emits
    exactly plan.num_tokens feature rows: the processor/model mismatch bug class."""
    torch = pytest.importorskip("torch")  # noqa: F841
    from transformers import LlavaNextConfig, LlavaOnevisionConfig
    from transformers.models.llava_next.modeling_llava_next import LlavaNextModel
    from transformers.models.llava_onevision.modeling_llava_onevision import LlavaOnevisionModel

    sizes = SIZES[:400]
    plans = [anyres.plan(s, preset) for s in sizes]
    if preset == "llava-next":
        cfg = LlavaNextConfig(
            vision_config={"model_type": "clip_vision_model", "image_size": 336, "patch_size": 14},
            image_grid_pinpoints=[list(x) for x in plans[0].params["image_grid_pinpoints"]],
        )
        lens = oracles.pack_features_oracle(
            LlavaNextModel, cfg, [(h, w) for w, h in sizes], [len(p.views) for p in plans], 24,
            vision_feature_select_strategy="default",
        )
    else:
        cfg = LlavaOnevisionConfig(
            vision_config={"model_type": "siglip_vision_model", "image_size": 384, "patch_size": 14},
            image_grid_pinpoints=[list(x) for x in plans[0].params["image_grid_pinpoints"]],
        )
        lens = oracles.pack_features_oracle(
            LlavaOnevisionModel, cfg, [(h, w) for w, h in sizes], [len(p.views) for p in plans], 27,
            vision_aspect_ratio="anyres_max_9",
        )
    bad = [(s, p.num_tokens, n) for s, p, n in zip(sizes, plans, lens) if p.num_tokens != n]
    _assert_no_mismatch(bad, preset)


def test_qwen2_vl_matches_processor():
    bad = []
    errors = 0
    for w, h in SIZES:
        try:
            ref = oracles.qwen2_vl_oracle(w, h)
        except ValueError:
            errors += 1
            with pytest.raises(PlanError, match="aspect ratio"):
                anyres.plan((w, h), "qwen2-vl")
            continue
        p = anyres.plan((w, h), "qwen2-vl")
        got = {"grid_thw": p.info["grid_thw"], "patches": p.info["grid_thw"][1] * p.info["grid_thw"][2], "tokens": p.num_tokens}
        if got != ref or len(p.layout) != ref["tokens"]:
            bad.append(((w, h), got, ref))
    _assert_no_mismatch(bad, "qwen2-vl")
    assert 0 < errors < len(SIZES) // 2  # the >200 aspect limit was exercised


@pytest.mark.parametrize("max_pixels", [16384 * 28 * 28, 256 * 28 * 28])
def test_qwen2_vl_overrides_match_processor(max_pixels):
    for w, h in SIZES[:400]:
        if max(w, h) / min(w, h) > 200:
            continue
        ref = oracles.qwen2_vl_oracle(w, h, max_pixels=max_pixels)
        p = anyres.plan((w, h), f"qwen2-vl(max_pixels={max_pixels})")
        assert p.info["grid_thw"] == ref["grid_thw"], (w, h)


@pytest.mark.parametrize("max_tiles", [12, 6])
def test_internvl_matches_got_ocr2_and_processor(max_tiles):
    ip = oracles.internvl_image_processor(max_tiles)
    proc = oracles.internvl_processor()
    bad = []
    for w, h in SIZES if max_tiles == 12 else SIZES[:500]:
        ref = oracles.internvl_oracle(ip, proc, w, h)
        p = anyres.plan((w, h), f"internvl(max_tiles={max_tiles})")
        got_grid = p.grid if p.grid else (1, 1)
        if (got_grid, len(p.views), p.num_tokens, p.layout.text()) != (ref["grid"], ref["views"], ref["tokens"], ref["text"]):
            bad.append(((w, h), got_grid, len(p.views), ref["grid"], ref["views"]))
        elif len(p.layout) != ref["tokens"] + 2:
            bad.append(((w, h), "layout length", len(p.layout)))
    _assert_no_mismatch(bad, "internvl")


def test_idefics3_matches_processing_path_and_prompt():
    ip = oracles.idefics3_image_processor()
    proc = oracles.idefics3_processor()
    bad = []
    disagreements = []
    for w, h in SIZES:
        ref = oracles.idefics3_oracle(ip, proc, w, h)
        p = anyres.plan((w, h), "idefics3")
        got_grid = p.grid if p.grid else (0, 0)
        if (
            got_grid != ref["grid"]
            or len(p.views) != ref["views"]
            or p.num_tokens != ref["tokens"]
            or p.layout.text() != ref["text"]
            or len(p.layout) != ref["layout_len"]
            or tuple(p.info["resized"]) != ref["resized"]
        ):
            bad.append(((w, h), got_grid, ref["grid"]))
        count_path = ref["count_path"][1:]
        if count_path != ref["grid"]:
            disagreements.append((w, h))
            assert p.info["reference_count_path"] == list(count_path)
    _assert_no_mismatch(bad, "idefics3")


def test_idefics3_unmerged_newlines_add_one_token():
    p = anyres.plan((1000, 600), "idefics3(merge_double_newline=False)")
    q = anyres.plan((1000, 600), "idefics3")
    assert len(p.layout) == len(q.layout) + 1
    assert p.layout.text() == q.layout.text()


def test_onevision_multi_image_matches_processor_and_model():
    """Several images in one prompt: the processor reserves 729 + 1 and the model keeps
    the base view and one newline."""
    torch = pytest.importorskip("torch")  # noqa: F841
    from transformers import LlavaOnevisionConfig
    from transformers.models.llava_onevision.modeling_llava_onevision import LlavaOnevisionModel

    sizes = SIZES[:50]
    plans = [anyres.plan(s, "llava-onevision(multi_image=True)") for s in sizes]
    assert {p.num_tokens for p in plans} == {730} and {len(p.layout) for p in plans} == {730}
    cfg = LlavaOnevisionConfig(vision_config={"model_type": "siglip_vision_model", "image_size": 384, "patch_size": 14})
    lens = oracles.pack_features_oracle(LlavaOnevisionModel, cfg, [(h, w) for w, h in sizes], [1] * len(sizes), 27)
    assert lens == [730] * len(sizes)

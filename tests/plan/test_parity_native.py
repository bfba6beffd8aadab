"""The native family (Qwen2.5-VL, Qwen3-VL, GLM-4.1V, GLM-4.6V, PaddleOCR-VL, ERNIE-4.5-VL, VideoLLaMA3) against transformers
on >= 2,000 sizes a preset: image_grid_thw, token count, layout length."""

from __future__ import annotations

import pytest

import anyres
from anyres import PlanError, SpecError

from . import native_oracles as no
from .sizes import sample_sizes

SIZES = sample_sizes(2000)
PRESETS = ["qwen2.5-vl", "qwen3-vl", "glm4v", "glm46v", "paddleocr-vl", "ernie4.5-vl", "videollama3"]
WRAPPERS = {
    "qwen2.5-vl": ("<|vision_start|>", "<|vision_end|>"),
    "qwen3-vl": ("<|vision_start|>", "<|vision_end|>"),
    "glm4v": ("<|begin_of_image|>", "<|end_of_image|>"),
    "glm46v": ("<|begin_of_image|>", "<|end_of_image|>"),
    "paddleocr-vl": ("<|IMAGE_START|>", "<|IMAGE_END|>"),
    "ernie4.5-vl": None,  # its processor inserts the placeholders only (no wrappers in the layout)
    "videollama3": None,
}


def _sweep(preset: str, spec: str, ip, sizes) -> tuple[list, int]:
    proc = no.processor(preset, ip)
    bad, refused = [], 0
    for w, h in sizes:
        try:
            ref = no.native_oracle(preset, ip, proc, w, h)
        except ValueError:  # the reference refuses the size (aspect ratio above 200): so does anyres
            refused += 1
            with pytest.raises(PlanError, match="aspect ratio"):
                anyres.plan((w, h), spec)
            continue
        p = anyres.plan((w, h), spec)
        thw = p.info["image_grid_thw"]
        got = (thw, thw[1] * thw[2], p.num_tokens)
        if got != (ref["grid_thw"], ref["count_path"], ref["tokens"]) or ref["patches"] != ref["count_path"]:
            bad.append(((w, h), got, ref))
        # the processor's placeholders, inside the two wrappers the chat template writes around them
        elif WRAPPERS[preset] is None:
            if len(p.layout) != ref["tokens"] or len(p.layout.text()) != ref["text_len"]:
                bad.append(((w, h), "layout", len(p.layout), ref["tokens"]))
        elif len(p.layout) != ref["tokens"] + 2 or p.layout.tokens()[:: len(p.layout) - 1] != list(WRAPPERS[preset]):
            bad.append(((w, h), "layout", len(p.layout), ref["tokens"]))
    return bad, refused


@pytest.mark.parametrize("preset", PRESETS)
def test_native_family_matches_processor(preset):
    bad, refused = _sweep(preset, preset, no.image_processor(preset), SIZES)
    assert not bad, f"{preset}: {len(bad)} mismatches, first: {bad[:5]}"
    assert 0 < refused < len(SIZES) // 2  # the aspect-ratio limit was exercised
    assert len(SIZES) >= 2000


@pytest.mark.parametrize(
    "preset,spec_args,ref_kwargs",
    [
        ("qwen2.5-vl", "size={'shortest_edge': 200704, 'longest_edge': 1003520}",
         {"size": {"shortest_edge": 200704, "longest_edge": 1003520}}),
        ("qwen2.5-vl", "min_pixels=12544, max_pixels=200704", {"min_pixels": 12544, "max_pixels": 200704}),
        ("qwen3-vl", "size={'shortest_edge': 4096, 'longest_edge': 262144}, merge_size=1",
         {"size": {"shortest_edge": 4096, "longest_edge": 262144}, "merge_size": 1}),
        ("glm4v", "size={'shortest_edge': 12544, 'longest_edge': 9633792}",  # GLM-4.1V-9B's preprocessor_config
         {"size": {"shortest_edge": 12544, "longest_edge": 9633792}}),
        ("glm4v", "patch_size=16", {"patch_size": 16}),
        ("paddleocr-vl", "size={'shortest_edge': 3136, 'longest_edge': 200704}",
         {"size": {"shortest_edge": 3136, "longest_edge": 200704}}),
    ],
)
def test_reference_shaped_overrides_match_processor(preset, spec_args, ref_kwargs):
    bad, _ = _sweep(preset, f"{preset}({spec_args})", no.image_processor(preset, **ref_kwargs), SIZES[:400])
    assert not bad, f"{preset}({spec_args}): {len(bad)} mismatches, first: {bad[:5]}"


def test_size_dict_and_flat_names_agree():
    a = anyres.plan((1000, 600), "qwen2.5-vl", size={"shortest_edge": 3136, "longest_edge": 200704})
    b = anyres.plan((1000, 600), "qwen2.5-vl(max_pixels=200704)")
    assert a.info["image_grid_thw"] == b.info["image_grid_thw"] and a.spec == b.spec == "qwen2.5-vl(max_pixels=200704)"
    # a flat name given with size wins, as min_pixels/max_pixels win over size in the reference
    c = anyres.plan((1000, 600), "qwen2.5-vl", size={"shortest_edge": 3136, "longest_edge": 200704}, max_pixels=401408)
    assert c.params["max_pixels"] == 401408


@pytest.mark.parametrize("bad,message", [
    ("qwen3-vl(size={'longest_edge': 1000000})", "both shortest_edge and longest_edge"),
    ("qwen3-vl(size={'height': 448, 'width': 448})", "height, width"),
    ("qwen3-vl(size=448)", "must be a dict"),
    ("glm4v(small_sides='grow')", "small_sides"),
    ("qwen2.5-vl(image_mean=(0.5, 0.5))", "three finite numbers"),
    ("qwen2.5-vl(resample=7)", "resample"),
    ("qwen2.5-vl(do_resize=False)", "always resizes"),
])
def test_bad_reference_overrides_raise_spec_error(bad, message):
    with pytest.raises(SpecError, match=message):
        anyres.plan((100, 100), bad)


def test_pixel_keywords_change_the_plans_pixel_settings():
    p = anyres.plan((100, 100), "qwen2.5-vl(image_mean=0.5, image_std=[0.5, 0.5, 0.5], resample=2)")
    assert p.pixels.mean == p.pixels.std == (0.5, 0.5, 0.5) and p.pixels.resample == "bilinear"
    assert anyres.plan((100, 100), p.spec).pixels == p.pixels  # the spec reproduces them
    assert anyres.plan((100, 100), "qwen2.5-vl(do_normalize=False)").pixels.std == (1.0, 1.0, 1.0)

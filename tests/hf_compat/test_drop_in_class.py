"""``anyres.hf.drop_in_class(preset)``: a class that takes the reference class's place
(transformers' own test files construct, ``from_dict`` and ``from_pretrained`` the class)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from anyres.errors import PlanError, SpecError
from anyres.hf import AnyresImageProcessor, drop_in_class


def test_the_class_builds_the_presets_drop_in_with_the_reference_arguments():
    cls = drop_in_class("qwen2-vl")
    ip = cls(max_pixels=200704)
    assert isinstance(ip, AnyresImageProcessor) and ip.preset == "qwen2-vl"
    out = ip(np.zeros((400, 800, 3), dtype=np.uint8), return_tensors="np")
    assert out["image_grid_thw"].tolist() == [[1, 22, 44]]  # the reference's grid for these arguments
    assert cls.from_dict(ip.to_dict()).to_dict() == ip.to_dict()
    assert drop_in_class("qwen2-vl") is cls


def test_the_class_refuses_another_preset_and_positional_arguments():
    cls = drop_in_class("qwen2-vl")
    with pytest.raises(SpecError, match="bound to preset 'qwen2-vl'"):
        cls(preset="llava-next")
    with pytest.raises(TypeError):
        cls(3136)


def test_each_drop_in_module_names_its_call_argument_type():
    import transformers

    ip = AnyresImageProcessor("idefics3")
    module = sys.modules[type(ip).__module__]
    assert module.AnyresImageProcessorKwargs is transformers.Idefics3ImageProcessorPil.valid_kwargs
    assert type(drop_in_class("idefics3")()).__module__ == type(ip).__module__


def test_views_the_encoder_cannot_encode_keep_the_reference_pixels():
    import transformers

    kwargs = {"size": {"longest_edge": 40}, "max_image_size": {"longest_edge": 20}}  # 20 px tiles, 14 px patches
    image = np.random.default_rng(0).integers(0, 256, (35, 31, 3), dtype=np.uint8)
    ours = AnyresImageProcessor("idefics3", **kwargs)(image, return_tensors="np")
    ref = transformers.Idefics3ImageProcessorPil(**kwargs)(image, return_tensors="np")
    assert ours["pixel_values"].shape == ref["pixel_values"].shape == (1, 5, 3, 20, 20)
    np.testing.assert_array_equal(ours["pixel_values"], ref["pixel_values"])
    np.testing.assert_array_equal(ours["pixel_attention_mask"], ref["pixel_attention_mask"])


def test_llava_onevision_view_side_is_its_size():
    import transformers

    image = np.random.default_rng(1).integers(0, 256, (300, 500, 3), dtype=np.uint8)
    kwargs = {"size": {"height": 384, "width": 384}, "image_mean": [0.5] * 3, "image_std": [0.5] * 3}
    ours = AnyresImageProcessor("llava-onevision", **kwargs)(image, return_tensors="np")
    ref = transformers.LlavaOnevisionImageProcessorPil(**kwargs)(image, return_tensors="np")
    assert ours["pixel_values"].shape == ref["pixel_values"].shape
    assert np.abs(ours["pixel_values"] - ref["pixel_values"]).max() < 1e-5
    # 20 px tiles of 384 px pinpoints, partial at the edges: up to 13,457 views, past the default view limit
    toy = {"size": {"height": 20, "width": 20}}
    ip = AnyresImageProcessor("llava-onevision", **{**kwargs, **toy})
    with pytest.raises(SpecError, match="max_views"):
        ip(image)
    from anyres.plan import raised_limits

    with raised_limits(max_views=16384):
        ours = ip(image, return_tensors="np")
    ref = transformers.LlavaOnevisionImageProcessorPil(**{**kwargs, **toy})(image, return_tensors="np")
    assert ours["pixel_values"].shape == ref["pixel_values"].shape
    np.testing.assert_array_equal(ours["pixel_values"], ref["pixel_values"])


@pytest.mark.parametrize("preset, reference, kwargs, shapes", [
    ("pixtral", "PixtralImageProcessorPil", {"size": {"longest_edge": 24}, "patch_size": {"height": 8, "width": 8}},
     [(60, 30), (30, 60)]),
    ("llava-next", "LlavaNextImageProcessorPil", {}, [(300, 600), (300, 300)]),
    ("llava-onevision", "LlavaOnevisionImageProcessorPil", {}, [(300, 600), (300, 300)]),
])
def test_do_pad_false_gives_each_images_own_views_as_the_reference(preset, reference, kwargs, shapes):
    import transformers

    rng = np.random.default_rng(2)
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in shapes]
    ip = drop_in_class(preset)(**kwargs)
    anyres_keys = {"preset", "exact", "num_workers", "apply_exif", "scale_high_bit_depth", "image_processor_type"}
    config = {k: v for k, v in ip.to_dict().items() if k not in anyres_keys}  # the same arguments
    ours = ip(images, do_pad=False)
    ref = getattr(transformers, reference)(**config)(images, do_pad=False)
    assert isinstance(ours["pixel_values"], list) and ours["image_sizes"] == ref["image_sizes"]
    assert [p.shape for p in ours["pixel_values"]] == [p.shape for p in ref["pixel_values"]]
    for a, b in zip(ours["pixel_values"], ref["pixel_values"]):
        assert np.abs(a - b).max() < 1e-5


def test_aria_split_image_counts_and_pixels_as_the_reference():
    """split_image=True through the drop-in: the reference's crops (pixels, masks, num_crops),
    and its crop count for any max_image_size (its helper does not check it; its processing does)."""
    import transformers

    cls = drop_in_class("aria", "reference")
    rng = np.random.default_rng(5)
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for w, h in [(40, 30), (300, 1470), (1000, 300)]]
    for kwargs in ({"split_image": True, "max_image_size": 490}, {"split_image": True}):
        got = cls(**kwargs)(images, return_tensors="np")
        want = transformers.AriaImageProcessorPil(**kwargs)(images, return_tensors="np")
        for key in ("pixel_values", "pixel_mask", "num_crops"):
            assert np.array_equal(got[key], want[key]), (kwargs, key)
    ours, ref = cls(split_image=True, split_resolutions=[[980, 980]]), transformers.AriaImageProcessorPil(
        split_image=True, split_resolutions=[[980, 980]])
    for h, w, extra in [(100, 100, {}), (100, 100, {"max_image_size": 200}), (50, 60, {"split_image": False}),
                        (300, 1470, {"split_resolutions": [[490, 1470], [980, 980]]})]:
        assert ours.get_number_of_image_patches(h, w, extra) == ref.get_number_of_image_patches(h, w, extra)
    with pytest.raises(SpecError, match="490 or 980"):
        ours(images, max_image_size=200)


def test_hunyuan_vl_do_resize_false_processes_the_image_at_its_size():
    import transformers

    kwargs = dict(min_pixels=32 * 32, max_pixels=64 * 64, patch_size=16, temporal_patch_size=1, merge_size=1)
    ours, ref = drop_in_class("hunyuan-vl", "reference")(**kwargs), transformers.HunYuanVLImageProcessorPil(**kwargs)
    image = np.random.default_rng(2).integers(0, 256, (3, 48, 80), dtype=np.uint8)
    got, want = ours(image, do_resize=False, return_tensors="np"), ref(image, do_resize=False, return_tensors="np")
    assert got["image_grid_thw"].tolist() == want["image_grid_thw"].tolist() == [[1, 3, 5]]
    assert np.array_equal(got["pixel_values"], want["pixel_values"])
    with pytest.raises(PlanError, match="multiple of 16"):
        ours(image[:, :47], do_resize=False)


def test_deepseek_vl_hybrid_refuses_views_with_different_settings():
    """anyres gives the hybrid's two views one filter, mean and std: a call that sets them apart is refused,
    one that sets both alike is served."""
    cls = drop_in_class("deepseek-vl-hybrid")
    image = np.zeros((30, 50, 3), dtype=np.uint8)
    with pytest.raises(SpecError, match="high_res_resample"):
        cls(resample=2)(image)
    with pytest.raises(SpecError, match="high_res_image_mean"):
        cls()(image, image_mean=[0.1, 0.2, 0.3])
    served = cls(resample=2, high_res_resample=2)(image, return_tensors="np")
    assert served["high_res_pixel_values"].shape == (1, 3, 1024, 1024)

"""A checkpoint folder wherever a preset spec goes: the family from config.json's
model_type or the image processor's type, the checkpoint's values as overrides."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import anyres
from anyres import SpecError

from . import native_oracles, oracles

pytest.importorskip("transformers")

SIZES = [(1, 1), (37, 41), (500, 300), (1000, 600), (1240, 1754), (4032, 3024), (20, 3000)]


def _folder(tmp_path, ip=None, model_type=None, name="ckpt", **config):
    path = tmp_path / name
    path.mkdir()
    if ip is not None:
        ip.save_pretrained(path)
    if model_type is not None:
        (path / "config.json").write_text(json.dumps({"model_type": model_type, **config}))
    return str(path)


def _qwen2_vl(**kwargs):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    return Qwen2VLImageProcessorPil(**kwargs)


def test_qwen2_vl_folder_equals_its_image_processor(tmp_path):
    ip = _qwen2_vl(max_pixels=200704)
    folder = _folder(tmp_path, ip, "qwen2_vl")
    for w, h in SIZES:
        p = anyres.plan((w, h), folder)
        ref = oracles.qwen2_vl_oracle(w, h, max_pixels=200704)
        assert p.preset == "qwen2-vl" and p.info["image_grid_thw"] == ref["grid_thw"], (w, h)
    assert anyres.plan((1000, 600), folder).spec == "qwen2-vl(max_pixels=200704)"


@pytest.mark.parametrize("preset", ["qwen2.5-vl", "qwen3-vl", "glm4v", "paddleocr-vl"])
def test_native_family_folders(tmp_path, preset):
    """Non-default values in the saved image processor reach the plan and the pixels."""
    model_type = {"qwen2.5-vl": "qwen2_5_vl", "qwen3-vl": "qwen3_vl", "glm4v": "glm4v",
                  "paddleocr-vl": "paddleocr_vl"}[preset]
    size = {"shortest_edge": 3136 * 4, "longest_edge": 401408}
    ip = native_oracles.image_processor(preset, size=size, image_mean=[0.25, 0.5, 0.75])
    folder = _folder(tmp_path, ip, model_type)
    proc = native_oracles.processor(preset, ip)
    for w, h in SIZES[:-1]:
        p = anyres.plan((w, h), folder)
        assert p.preset == preset
        assert p.info["image_grid_thw"] == native_oracles.native_oracle(preset, ip, proc, w, h)["grid_thw"], (w, h)
    from anyres.pixels import preprocess

    from ..pixels.test_hf_parity import make_image

    images = [make_image(333, 250, 0), make_image(20, 21, 1)]
    ours, ref = preprocess(images, folder, output="hf"), ip(images, return_tensors="np")
    assert np.array_equal(ours["image_grid_thw"], ref["image_grid_thw"])
    assert np.array_equal(ours["pixel_values"], ref["pixel_values"])


def test_family_from_image_processor_type_alone(tmp_path):
    folder = _folder(tmp_path, _qwen2_vl(min_pixels=200704, max_pixels=401408))
    p = anyres.plan((100, 100), folder)
    assert p.preset == "qwen2-vl" and (p.params["min_pixels"], p.params["max_pixels"]) == (200704, 401408)


def test_model_type_wins_over_image_processor_type(tmp_path):
    """Qwen3-VL checkpoints ship a Qwen2VLImageProcessor: config.json names the family."""
    ip = native_oracles.image_processor("qwen3-vl")
    p = anyres.plan((1000, 600), _folder(tmp_path, ip, "qwen3_vl"))
    assert p.preset == "qwen3-vl" and p.spec == "qwen3-vl" and p.pixels == anyres.get_preset("qwen3-vl").pixels
    assert anyres.plan((1000, 600), _folder(tmp_path, ip, name="bare")).preset == "qwen2-vl"


def test_processor_config_nests_the_image_processor(tmp_path):
    folder = tmp_path / "nested"
    folder.mkdir()
    image = {"image_processor_type": "Qwen2VLImageProcessorFast",
             "size": {"shortest_edge": 3136, "longest_edge": 50176}}
    (folder / "processor_config.json").write_text(json.dumps({"image_processor": image, "processor_class": "X"}))
    assert anyres.plan((1000, 600), str(folder)).params["max_pixels"] == 50176


def test_existing_families(tmp_path):
    from transformers.models.got_ocr2.image_processing_pil_got_ocr2 import GotOcr2ImageProcessorPil
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil
    from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil
    from transformers.models.llava_onevision.image_processing_pil_llava_onevision import (
        LlavaOnevisionImageProcessorPil,
    )

    pins = [[336, 672], [672, 336], [672, 672]]
    nxt_ip = LlavaNextImageProcessorPil(image_grid_pinpoints=pins, crop_size={"height": 336, "width": 336})
    nxt = _folder(tmp_path, nxt_ip, "llava_next", name="next", vision_feature_select_strategy="full",
                  vision_config={"patch_size": 14})
    p = anyres.plan((1000, 600), nxt)
    assert p.preset == "llava-next" and p.params["image_grid_pinpoints"] == ((336, 672), (672, 336), (672, 672))
    assert p.params["feature_select_strategy"] == "full"
    ov = _folder(tmp_path, LlavaOnevisionImageProcessorPil(), "llava_onevision", name="ov",
                 vision_aspect_ratio="anyres_max_4")
    assert anyres.plan((1000, 600), ov).params["max_views"] == 4
    ivl = _folder(tmp_path, GotOcr2ImageProcessorPil(crop_to_patches=True, max_patches=6,
                                                     size={"height": 448, "width": 448}),
                  "internvl", name="ivl", downsample_ratio=0.5, vision_config={"patch_size": [14, 14]})
    ref = oracles.internvl_oracle(oracles.internvl_image_processor(6), oracles.internvl_processor(), 1000, 600)
    p = anyres.plan((1000, 600), ivl)
    assert p.preset == "internvl" and p.params["max_tiles"] == 6 and p.num_tokens == ref["tokens"]
    idf = _folder(tmp_path, Idefics3ImageProcessorPil(size={"longest_edge": 728}), "idefics3", name="idf")
    p = anyres.plan((1000, 600), idf)
    assert p.preset == "idefics3" and p.params["longest_edge"] == 728 and p.grid == (2, 2)


def test_unknown_family_names_what_it_found(tmp_path):
    folder = _folder(tmp_path, None, "my_new_vlm")
    with pytest.raises(SpecError, match="model_type='my_new_vlm'"):
        anyres.plan((100, 100), folder)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SpecError, match="no model_type, no image_processor_type"):
        anyres.plan((100, 100), str(empty))
    with pytest.raises(SpecError, match="unknown preset .*no checkpoint folder"):
        anyres.plan((100, 100), str(tmp_path / "missing"))
    for bad in ("{not json", "[" * 100000 + "]" * 100000, "[1, 2]"):
        (empty / "config.json").write_text(bad)
        with pytest.raises(SpecError, match="cannot read|JSON object"):
            anyres.plan((100, 100), str(empty))


def test_spec_arguments_apply_on_top_and_edits_are_seen(tmp_path):
    folder = _folder(tmp_path, _qwen2_vl(max_pixels=200704), "qwen2_vl")
    assert anyres.plan((1000, 600), f"{folder}(max_pixels=100352)").params["max_pixels"] == 100352
    assert anyres.plan((1000, 600), folder, max_pixels=50176).params["max_pixels"] == 50176
    before = anyres.plan((1000, 600), folder)
    path = os.path.join(folder, "preprocessor_config.json")
    data = json.load(open(path))
    data["size"]["longest_edge"] = 100352
    with open(path, "w") as f:
        json.dump(data, f)
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 10**9))
    after = anyres.plan((1000, 600), folder)
    assert (before.params["max_pixels"], after.params["max_pixels"]) == (200704, 100352)


def test_every_api_takes_a_folder(tmp_path):
    from anyres.hf import AnyresImageProcessor
    from anyres.pixels import preprocess

    from ..pixels.test_hf_parity import make_image

    ip = native_oracles.image_processor("qwen3-vl", size={"shortest_edge": 3136, "longest_edge": 200704})
    folder = _folder(tmp_path, ip, "qwen3_vl")
    images = [make_image(640, 480, 0)]
    ref = ip(images, return_tensors="np")
    assert np.array_equal(AnyresImageProcessor(folder)(images, return_tensors="np")["pixel_values"],
                          ref["pixel_values"])
    batch = preprocess(images, folder)  # output="anyres"
    assert batch.plans[0].info["image_grid_thw"] == tuple(ref["image_grid_thw"][0])


def test_cli_plans_a_folder(tmp_path, capsys):
    from anyres.cli import main

    folder = _folder(tmp_path, _qwen2_vl(max_pixels=200704), "qwen2_vl")
    assert main(["plan", "--size", "1000x600", "--preset", folder, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["spec"] == "qwen2-vl(max_pixels=200704)"
    assert out["info"]["image_grid_thw"] == list(oracles.qwen2_vl_oracle(1000, 600, max_pixels=200704)["grid_thw"])
    assert main(["plan", "--size", "10x10", "--preset", str(tmp_path / "missing")]) != 0

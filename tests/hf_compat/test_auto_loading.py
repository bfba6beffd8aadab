"""A saved AnyresImageProcessor loads through AutoImageProcessor and AutoProcessor in a
fresh process after ``import anyres`` (and ``import anyres`` alone imports neither
transformers nor torch)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from anyres.hf import AnyresImageProcessor  # noqa: E402

from ..test_hf import _build  # noqa: E402

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _fresh(code: str) -> str:
    """Run ``code`` in a new interpreter with this checkout's anyres first on the path."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_import_anyres_stays_light():
    out = _fresh("""
        import sys, anyres
        print(sorted(m for m in ("torch", "transformers") if m in sys.modules))
    """)
    assert out.strip() == "[]"


def test_auto_image_processor_and_auto_processor_load_the_saved_config(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlavaNextProcessor, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["<unk>", "<pad>", "describe", "this"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>")
    tokenizer.add_tokens(["<image>"], special_tokens=True)
    ip = AnyresImageProcessor("llava-next", image_grid_pinpoints=[[336, 672], [672, 336]], apply_exif=True)
    processor = _build(LlavaNextProcessor, image_processor=ip, tokenizer=tokenizer, patch_size=14,
                       image_token="<image>", vision_feature_select_strategy="default", num_additional_image_tokens=1)
    processor.save_pretrained(tmp_path)  # transformers 5 nests the image processor in processor_config.json
    saved = json.loads((tmp_path / "processor_config.json").read_text())["image_processor"]
    assert saved["image_processor_type"] == "AnyresImageProcessor" and saved["preset"] == "llava-next"
    ip.save_pretrained(tmp_path / "ip")  # an image processor alone: preprocessor_config.json

    from PIL import Image

    Image.new("RGB", (500, 300), (10, 200, 30)).save(tmp_path / "im.png")
    expected = processor(images=[Image.open(tmp_path / "im.png")], text=["describe <image> this"], return_tensors="np")
    out = _fresh(f"""
        import json, warnings
        warnings.simplefilter("ignore")
        import anyres
        from PIL import Image
        from transformers import AutoImageProcessor, AutoProcessor
        ip = AutoImageProcessor.from_pretrained({str(tmp_path / 'ip')!r})
        proc = AutoProcessor.from_pretrained({str(tmp_path)!r})
        got = proc(images=[Image.open({str(tmp_path / 'im.png')!r})], text=["describe <image> this"], return_tensors="np")
        print(json.dumps(dict(ip_type=type(ip).__name__, proc_ip=type(proc.image_processor).__name__,
                              pinpoints=ip.image_grid_pinpoints, exif=ip.apply_exif,
                              ids=got["input_ids"].tolist(), pixels=float(got["pixel_values"].sum()),
                              shape=list(got["pixel_values"].shape))))
    """)
    got = json.loads(out.strip().splitlines()[-1])
    assert got["ip_type"] == got["proc_ip"] == "AnyresImageProcessor"
    assert got["pinpoints"] == [[336, 672], [672, 336]] and got["exif"] is True
    assert got["ids"] == expected["input_ids"].tolist()
    assert got["shape"] == list(expected["pixel_values"].shape)
    # the same float32 sum, up to summation order over ~1e6 values of magnitude <= 2.2
    assert abs(got["pixels"] - float(expected["pixel_values"].sum())) <= 1e-3 * max(1.0, abs(got["pixels"]))


NEWEST = {"ovis2": {"crop_to_patches": True, "max_patches": 4}, "minicpm-v-4.6": {"max_slice_nums": 4},
          "hunyuan-vl": {"min_pixels": 32 * 32 * 4, "max_pixels": 32 * 32 * 16}, "deepseek-ocr2": {"background_color": [0, 255, 10]},
          "deepseek-vl": {"min_size": 64}, "janus": {"do_convert_rgb": True}}


def test_the_newest_families_load_through_auto_image_processor(tmp_path):
    """Ovis2, MiniCPM-V 4.6, HunYuan-VL, DeepSeek-OCR 2, DeepSeek-VL and Janus: a saved
    drop-in comes back in a fresh process as the same drop-in (its reference's subclass,
    the same config and pixels)."""
    import numpy as np

    image = np.random.default_rng(0).integers(0, 256, (90, 150, 3), dtype=np.uint8)
    np.save(tmp_path / "image.npy", image)
    expected = {}
    for preset, kwargs in NEWEST.items():
        ip = AnyresImageProcessor(preset, **kwargs)
        ip.save_pretrained(tmp_path / preset)
        expected[preset] = (ip.to_dict(), float(np.asarray(ip(image, return_tensors="np")["pixel_values"]).sum()))
    out = _fresh(f"""
        import json, warnings
        warnings.simplefilter("ignore")
        import numpy as np
        import anyres
        from transformers import AutoImageProcessor
        image = np.load({str(tmp_path / 'image.npy')!r})
        got = {{}}
        for preset in {sorted(NEWEST)!r}:
            ip = AutoImageProcessor.from_pretrained({str(tmp_path)!r} + "/" + preset)
            got[preset] = dict(type=type(ip).__name__, reference=ip._reference_cls.__name__,
                               is_reference=isinstance(ip, ip._reference_cls), config=ip.to_dict(),
                               pixels=float(np.asarray(ip(image, return_tensors="np")["pixel_values"]).sum()))
        print(json.dumps(got))
    """)
    got = json.loads(out.strip().splitlines()[-1])
    for preset, (config, pixels) in expected.items():
        g = got[preset]
        assert g["type"] == "AnyresImageProcessor" and g["is_reference"], (preset, g["type"], g["reference"])
        assert g["config"] == json.loads(json.dumps(config)), preset
        assert g["pixels"] == pixels, preset  # the same computation on the same image: bit-identical sums

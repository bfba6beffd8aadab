"""Random inputs and keyword arguments for the transformers drop-in checks.

``FAMILIES`` maps each preset with a transformers PIL image processor to keyword
arguments its reference class takes (constructor or call alike) that change the
output: the differential test draws from them. ``reference_for(ip)`` is the reference
class loaded from the drop-in's own saved config (what a user who swaps classes in a
model folder compares against).
"""

from __future__ import annotations

import io
import random

import numpy as np

GENERIC = [
    {"do_normalize": False},
    {"image_mean": [0.1, 0.2, 0.3], "image_std": [0.3, 0.2, 0.1]},
    {"rescale_factor": 1 / 127.5},
    {"resample": 2},
    {"do_rescale": False},
]
# kwargs chosen to keep images small (the reference is slow on large tiles); images kept with their own channels
# (do_convert_rgb=False) go untiled in GotOcr2 / Ovis2, whose tiling fails on 4 channels (test_kept_channels.py)
FAMILIES: dict[str, list[dict]] = {
    "fixed": [{"size": {"height": 224, "width": 160}}, {"resample": 2}],
    "fixed-crop": [{"size": {"shortest_edge": 256}, "crop_size": {"height": 224, "width": 224}}, {"resample": 0}],
    "fixed-pad": [{"do_normalize": False}, {"image_mean": [0.2, 0.5, 0.9]}],
    "llava-next": [{"image_grid_pinpoints": [[336, 672], [672, 336]]}, {"image_grid_pinpoints": [[336, 336]]}],
    "llava-onevision": [{"image_grid_pinpoints": [[384, 768], [768, 384]]}, {"image_grid_pinpoints": [[384, 384]]}],
    "internvl": [{"max_patches": 2}, {"min_patches": 2, "max_patches": 4}, {"crop_to_patches": False},
                 {"size": {"height": 224, "width": 224}, "max_patches": 2},
                 {"do_convert_rgb": False, "do_normalize": False, "crop_to_patches": False}],
    "internvl3.5": [{"max_patches": 2}, {"crop_to_patches": False}, {"size": {"height": 224, "width": 224}}],
    "qwen2-vl": [{"max_pixels": 56 * 56 * 8}, {"min_pixels": 56 * 56 * 4, "max_pixels": 56 * 56 * 6},
                 {"size": {"shortest_edge": 3136, "longest_edge": 40000}}],
    "qwen2.5-vl": [{"max_pixels": 56 * 56 * 8}, {"size": {"shortest_edge": 3136, "longest_edge": 30000}}],
    "qwen3-vl": [{"size": {"shortest_edge": 4096, "longest_edge": 65536}}, {"min_pixels": 4096, "max_pixels": 40000}],
    "glm4v": [{"size": {"shortest_edge": 12544, "longest_edge": 50000}}],
    "glm46v": [{"size": {"shortest_edge": 12544, "longest_edge": 50000}}],
    "ernie4.5-vl": [{"size": {"shortest_edge": 3136, "longest_edge": 40000}},
                    {"size": {"shortest_edge": 6272, "longest_edge": 60000}}],
    "videollama3": [{"size": {"shortest_edge": 3136, "longest_edge": 40000}},
                    {"min_pixels": 3136, "max_pixels": 60000}],
    "paddleocr-vl": [{"min_pixels": 3136, "max_pixels": 60000}, {"min_pixels": 20000, "max_pixels": 40000}],
    "idefics3": [{"do_image_splitting": False}, {"size": {"longest_edge": 546}, "max_image_size": {"longest_edge": 182}}],
    "smolvlm": [{"do_image_splitting": False}, {"size": {"longest_edge": 576}, "max_image_size": {"longest_edge": 192}}],
    "idefics2": [{"do_image_splitting": True}, {"size": {"shortest_edge": 224, "longest_edge": 448}}],
    "siglip2": [{"max_num_patches": 64}, {"max_num_patches": 144}],
    "aria": [{"max_image_size": 490}, {"min_image_size": 336, "max_image_size": 490}, {"split_image": True},
             {"split_image": True, "split_resolutions": [[490, 980], [980, 490], [980, 980]]},
             {"do_convert_rgb": False, "do_normalize": False}],
    "gemma3": [{"do_pan_and_scan": True}, {"size": {"height": 224, "width": 224}}],
    "pixtral": [{"size": {"longest_edge": 256}}, {"size": {"longest_edge": 128}}],
    "mistral3": [{"size": {"longest_edge": 224}}],
    "mllama": [{"max_image_tiles": 2}, {"size": {"height": 224, "width": 224}}],
    "gemma4": [{"max_soft_tokens": 70}, {"max_soft_tokens": 140}],
    "ovis2": [{"crop_to_patches": True, "max_patches": 4},
              {"crop_to_patches": True, "use_covering_area_grid": False, "min_patches": 2, "max_patches": 4},
              {"size": {"height": 224, "width": 224}},
              {"do_convert_rgb": False, "do_normalize": False, "crop_to_patches": False}],
    "minicpm-v-4.6": [{"scale_resolution": 112, "max_slice_nums": 4}, {"slice_mode": False},
                      {"downsample_mode": "4x", "scale_resolution": 112}],
    "hunyuan-vl": [{"min_pixels": 32 * 32 * 2, "max_pixels": 32 * 32 * 12},
                   {"size": {"shortest_edge": 32 * 32 * 8, "longest_edge": 32 * 32 * 16}}, {"resample": 0}],
    "deepseek-ocr2": [{"crop_to_patches": False}, {"min_patches": 1, "max_patches": 3},
                      {"background_color": [0, 255, 10]}, {"tile_size": 64}],
    "deepseek-vl": [{"size": {"height": 224, "width": 224}}, {"min_size": 64}, {"do_pad": False}, {"resample": 0}],
    "janus": [{"size": {"height": 224, "width": 224}}, {"min_size": 64}, {"resample": 0}],
    "deepseek-vl-hybrid": [{"size": {"height": 224, "width": 224}}, {"high_res_size": {"height": 448, "width": 448}},
                           {"min_size": 64}],
}
# constructor arguments every case adds: where a family's defaults are too large for a quick check (or, below,
# refuse most inputs)
SMALL = {
    "qwen2-vl": {"max_pixels": 56 * 56 * 16}, "qwen2.5-vl": {"max_pixels": 56 * 56 * 16},
    "qwen3-vl": {"max_pixels": 64 * 64 * 16}, "glm4v": {"size": {"shortest_edge": 12544, "longest_edge": 80000}},
    "glm46v": {"size": {"shortest_edge": 12544, "longest_edge": 80000}}, "internvl3.5": {"max_patches": 3},
    "ernie4.5-vl": {"size": {"shortest_edge": 3136, "longest_edge": 80000}},
    "videollama3": {"size": {"shortest_edge": 3136, "longest_edge": 80000}},
    "paddleocr-vl": {"min_pixels": 3136, "max_pixels": 80000}, "internvl": {"max_patches": 3},
    "idefics3": {"size": {"longest_edge": 364}, "max_image_size": {"longest_edge": 182}},
    "smolvlm": {"size": {"longest_edge": 384}, "max_image_size": {"longest_edge": 192}},
    "siglip2": {"max_num_patches": 256, "do_convert_rgb": True}, "aria": {"max_image_size": 490},
    "gemma3": {"size": {"height": 448, "width": 448}},
    "pixtral": {"size": {"longest_edge": 320}}, "mistral3": {"size": {"longest_edge": 320}},
    "mllama": {"max_image_tiles": 2, "size": {"height": 224, "width": 224}},
    "gemma4": {"max_soft_tokens": 70},
    "hunyuan-vl": {"size": {"shortest_edge": 32 * 32 * 4, "longest_edge": 32 * 32 * 32}},
    "deepseek-ocr2": {"size": {"height": 256, "width": 256}, "tile_size": 128},
    # DeepSeek-VL, Janus and SigLIP2 leave do_convert_rgb unset, so the reference refuses L, P, RGBA and I;16
    # images (a mean or pad colour of 3 values for 1 or 4 channels): converting lets most cases compare values
    # (SigLIP2 without it: 176 of 200 cases refused by both sides)
    "deepseek-vl": {"do_convert_rgb": True}, "janus": {"do_convert_rgb": True},
    "deepseek-vl-hybrid": {"do_convert_rgb": True, "high_res_size": {"height": 512, "width": 512}},
}
# arguments whose twin must follow them: DeepSeek-VL hybrid's high-resolution view takes its own filter, mean and
# std, which anyres shares with the low-resolution view (and refuses apart: tests/hf_compat/test_drop_in_class.py)
TWINS = {"deepseek-vl-hybrid": {"resample": "high_res_resample", "image_mean": "high_res_image_mean",
                                "image_std": "high_res_image_std"}}
MODES = ("RGB", "RGBA", "L", "P", "I;16")


def make_image(rng: random.Random, mode: str, exif: int | None = None, strips: bool = True):
    """A small noisy gradient in ``mode`` (I;16 spans the 16-bit range), with an EXIF
    orientation tag when ``exif`` is given."""
    from PIL import Image

    w, h = rng.randint(1, 180), rng.randint(1, 180)
    if strips and rng.random() < 0.15:  # thin strips
        w, h = (rng.randint(1, 4), rng.randint(60, 300)) if rng.random() < 0.5 else (rng.randint(60, 300), rng.randint(1, 4))
    g = np.random.default_rng(rng.randrange(2**32))
    rgb = g.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    if mode == "RGB":
        im = Image.fromarray(rgb, "RGB")
    elif mode == "RGBA":
        im = Image.fromarray(np.dstack([rgb, g.integers(0, 256, size=(h, w), dtype=np.uint8)]), "RGBA")
    elif mode == "L":
        im = Image.fromarray(rgb[..., 0], "L")
    elif mode == "P":
        im = Image.fromarray(rgb, "RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=32)
    else:
        im = Image.fromarray(g.integers(0, 65536, size=(h, w), dtype=np.uint16))  # mode I;16
    if exif is not None:
        buf = io.BytesIO()
        e = Image.Exif()
        e[0x0112] = exif
        im.save(buf, format="PNG" if mode != "P" else "PNG", exif=e.tobytes())
        buf.seek(0)
        im = Image.open(buf)
        im.load()
    return im


def random_case(rng: random.Random, preset: str) -> dict:
    """A batch (flat or, sometimes, nested), constructor and call kwargs."""
    n = rng.choice([1, 1, 2, 3])
    images = []
    for _ in range(n):
        mode = rng.choice(MODES)
        exif = rng.choice([None, None, 3, 6, 8]) if mode != "I;16" else None
        images.append(make_image(rng, mode, exif))
    pool = FAMILIES[preset] + GENERIC
    ctor = dict(rng.choice(pool)) if rng.random() < 0.5 else {}
    call = dict(rng.choice(pool)) if rng.random() < 0.5 else {}
    for kwargs in (ctor, call):
        kwargs.update({twin: kwargs[key] for key, twin in TWINS.get(preset, {}).items() if key in kwargs})
    return {"images": images, "ctor": {**SMALL.get(preset, {}), **ctor}, "call": call}

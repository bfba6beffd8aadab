"""Mllama and Llama 4 (the fit-canvas rule) against transformers 5.23.

Mllama: the PIL image processor's own ``resize`` (canvas search and fit) on zero-stride
arrays. Llama 4: its image processor module needs torchvision, so its pure helpers
(``find_supported_resolutions``, ``get_best_fit``, ``get_max_res_without_distortion``)
are compiled from the installed source and run in torch, with ``_preprocess``'s few
lines of glue between them restated here; its prompt comes from ``Llama4Processor``.
"""

from __future__ import annotations

from collections import defaultdict
import math

import pytest

import anyres
from anyres.errors import SpecError
from anyres.plan.strategies.fit_canvas import llama4_grids

from . import oracles
from .sizes import sample_sizes
from .test_parity_gemma_pixtral import _processor_methods

SIZES = sample_sizes(2000, seed=34)


@pytest.mark.parametrize("tile, max_tiles", [(560, 4), (448, 6), (224, 1)])
def test_mllama_matches_resize_and_canvas(tile, max_tiles):
    from transformers.image_utils import SizeDict
    from transformers.models.mllama.image_processing_pil_mllama import (
        MllamaImageProcessorPil, convert_aspect_ratios_to_ids_np,
    )

    ip = MllamaImageProcessorPil(size={"height": tile, "width": tile}, max_image_tiles=max_tiles)
    spec = f"mllama(size={{'height': {tile}, 'width': {tile}}}, max_image_tiles={max_tiles})"
    bad = []
    for w, h in SIZES:
        with oracles.shape_only_resize():
            image, (rows, cols) = ip.resize(oracles.fake_image(w, h), size=SizeDict(height=tile, width=tile),
                                            max_image_tiles=max_tiles)
        ref_id = int(convert_aspect_ratios_to_ids_np([[(rows, cols)]], max_tiles)[0, 0])
        p = anyres.plan((w, h), spec)
        per_tile = (tile // 14) ** 2 + 1
        if (p.grid != (rows, cols) or p.info["resized"] != (image.shape[2], image.shape[1])
                or p.info["aspect_ratio_id"] != ref_id or p.num_tokens != rows * cols * per_tile
                or len(p.views) != rows * cols or len(p.layout) != 1):
            bad.append(((w, h), p.grid, (rows, cols), p.info["resized"], image.shape[1:]))
    assert not bad, f"{len(bad)} of {len(SIZES)} sizes differ, first: {bad[:3]}"


def test_mllama_prompt_is_one_image_token():
    p = anyres.plan((1000, 600), "mllama")
    assert p.layout.tokens() == ["<|image|>"] and p.layout.num_visual == 0
    assert p.info["cross_attention"] and p.num_tokens == 4 * 1601


def _llama4_helpers():
    import torch
    from transformers.image_utils import SizeDict

    ns = {"torch": torch, "math": math, "defaultdict": defaultdict, "SizeDict": SizeDict}
    path = "models/llama4/image_processing_llama4.py"
    names = ("get_factors", "get_max_res_without_distortion", "find_supported_resolutions", "get_best_fit")
    return _module_functions(path, names, ns)


def _module_functions(module_path: str, names: tuple[str, ...], namespace: dict) -> dict:
    """Module-level functions compiled from the installed transformers source (their
    module cannot be imported without torchvision)."""
    import ast
    import importlib.util
    import pathlib

    spec = importlib.util.find_spec("transformers")
    source = (pathlib.Path(spec.origin).parent / module_path).read_text()
    tree = ast.parse(source)
    body = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names]
    assert {f.name for f in body} == set(names)
    for f in body:
        f.decorator_list = []
    exec(compile(ast.Module(body=body, type_ignores=[]), module_path, "exec"), namespace)
    return namespace


def _llama4_reference(ns, resolutions, w: int, h: int, tile: int, to_max: bool):
    """``Llama4ImageProcessor._preprocess``'s geometry for one image of (h, w)."""
    import torch

    image_size = torch.Size([h, w])  # stacked_images.shape[-2:]
    target = ns["get_best_fit"](image_size, resolutions, resize_to_max_canvas=to_max)
    max_up = None if to_max else tile
    if max_up is not None:
        capped = (min(max(image_size[0], max_up), target[0]), min(max(image_size[1], max_up), target[1]))
    else:
        capped = target
    new = ns["get_max_res_without_distortion"](image_size, capped)
    new = (max(int(new[0]), 1), max(int(new[1]), 1))
    return (int(target[0]) // tile, int(target[1]) // tile), new


def _llama4_processor():
    from transformers.models.llama4.processing_llama4 import Llama4Processor

    return oracles._bare(Llama4Processor, patch_size=14, downsample_ratio=4, start_of_img_token="<|image_start|>",
                         end_of_img_token="<|image_end|>", img_patch_token="<|patch|>", tile_token="<|tile_x_separator|>",
                         tile_global_token="<|tile_y_separator|>", fake_image_token="<|image|>",
                         image_token="<|image|>")


def test_llama4_grids_are_find_supported_resolutions():
    from transformers.image_utils import SizeDict

    ns = _llama4_helpers()
    for n in (1, 4, 9, 16, 30):
        ref = ns["find_supported_resolutions"](max_num_chunks=n, patch_size=SizeDict(height=336, width=336))
        assert [(r * 336, c * 336) for r, c in llama4_grids(n)] == list(ref)


@pytest.mark.parametrize("spec, tile, max_patches, to_max", [
    ("llama4", 336, 16, False),
    ("llama4(resize_to_max_canvas=True)", 336, 16, True),
    ("llama4(max_patches=6, size={'height': 448, 'width': 448})", 448, 6, False),
])
def test_llama4_matches_reference_geometry_and_prompt(spec, tile, max_patches, to_max):
    import numpy as np
    import torch
    from transformers.image_utils import SizeDict

    ns = _llama4_helpers()
    resolutions = torch.tensor(ns["find_supported_resolutions"](max_num_chunks=max_patches,
                                                                patch_size=SizeDict(height=tile, width=tile)))
    proc = _llama4_processor()
    per_view = (tile // 14) ** 2 // 4
    bad = []
    for w, h in SIZES:
        (rows, cols), (nh, nw) = _llama4_reference(ns, resolutions, w, h, tile, to_max)
        p = anyres.plan((w, h), spec)
        views = rows * cols + (1 if rows * cols > 1 else 0)
        fake_pixels = [np.zeros((1, 3, tile, tile), dtype=np.uint8)]
        text = proc.replace_image_token({"pixel_values": fake_pixels, "aspect_ratios": [(rows, cols)]}, 0)
        if (p.info["aspect_ratio"] != (rows, cols) or p.info["resized"] != (nw, nh) or len(p.views) != views
                or p.num_tokens != views * per_view or p.layout.text() != text):
            bad.append(((w, h), p.info["aspect_ratio"], (rows, cols), p.info["resized"], (nw, nh)))
    assert not bad, f"{len(bad)} of {len(SIZES)} sizes differ, first: {bad[:3]}"


def test_llama4_checks_its_parameters():
    for bad in ("llama4(pixel_shuffle_ratio=0.3)", "llama4(size={'height': 336, 'width': 448})",
                "llama4(resize_to_max_canvas=1)"):
        with pytest.raises(SpecError):
            anyres.plan((100, 100), bad)
    p = anyres.plan((1000, 600), "llama4")
    assert (p.connector.kind, p.connector.factor) == ("pixel-shuffle", 2) and p.views[0].token_grid == (12, 12)
    assert p.views[-1].role == "thumbnail" and p.views[-1].size == (336, 336)


# sizes (of 104,389 searched) where float64 arithmetic would pick another resize than
# torch's float32 does
FLOAT32_SIZES = [(6603, 8804), (12320, 6666), (6225, 2324), (7289, 12432), (13031, 1162), (11529, 4941),
                 (7632, 1272), (6854, 596), (4578, 11554), (8613, 9396), (3044, 5327)]


def test_llama4_follows_torch_float32_where_float64_differs(monkeypatch):
    import torch
    from transformers.image_utils import SizeDict

    from anyres.plan import Size
    from anyres.plan.strategies import fit_canvas

    ns = _llama4_helpers()
    resolutions = torch.tensor(ns["find_supported_resolutions"](max_num_chunks=16,
                                                                patch_size=SizeDict(height=336, width=336)))
    params = dict(anyres.plan((1, 1), "llama4").params)
    ours = {s: fit_canvas.plan_llama4(Size(*s), params).info for s in FLOAT32_SIZES}
    monkeypatch.setattr(fit_canvas, "f32", lambda x: x)
    in_float64 = {s: fit_canvas.plan_llama4(Size(*s), params).info for s in FLOAT32_SIZES}
    for w, h in FLOAT32_SIZES:
        grid, (nh, nw) = _llama4_reference(ns, resolutions, w, h, 336, False)
        assert (ours[(w, h)]["aspect_ratio"], ours[(w, h)]["resized"]) == (grid, (nw, nh)), (w, h)
        assert (in_float64[(w, h)]["aspect_ratio"], in_float64[(w, h)]["resized"]) != (grid, (nw, nh)), (w, h)

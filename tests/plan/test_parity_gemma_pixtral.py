"""Gemma 3 (with pan-and-scan) and Pixtral / Mistral3 plans against transformers 5.23.

Geometry only: the references' own crop and resize functions run on zero-stride arrays
(any size up to 20000x20000 without memory), and their prompt builders on the result.
"""

from __future__ import annotations

import types

import numpy as np
import pytest

import anyres
from anyres.errors import PlanError, SpecError

from . import oracles
from .sizes import sample_sizes

SIZES = sample_sizes(2000, seed=12)


def _index_image(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Two zero-stride (3, H, W) arrays holding each pixel's column and row: a crop's
    first element is its left (top) edge."""
    xs = np.broadcast_to(np.arange(width, dtype=np.int64)[None, None, :], (3, height, width))
    ys = np.broadcast_to(np.arange(height, dtype=np.int64)[None, :, None], (3, height, width))
    return xs, ys


def _gemma3_crops(ip, width: int, height: int, **kw) -> list[tuple[int, int, int, int]]:
    xs, ys = _index_image(width, height)
    cx = ip.pan_and_scan(xs, **kw)
    cy = ip.pan_and_scan(ys, **kw)
    return [(int(a[0, 0, 0]), int(b[0, 0, 0]), int(a[0, 0, 0]) + a.shape[2], int(b[0, 0, 0]) + b.shape[1])
            for a, b in zip(cx, cy)]


def _gemma3_processor():
    """A Gemma3Processor with its prompt strings, built without a tokenizer file: its
    ``__init__`` sets ``full_image_sequence`` before it checks the tokenizer."""
    from transformers.models.gemma3.processing_gemma3 import Gemma3Processor

    tok = types.SimpleNamespace(boi_token="<start_of_image>", eoi_token="<end_of_image>",
                                image_token="<image_soft_token>", boi_token_id=1)
    proc = Gemma3Processor.__new__(Gemma3Processor)
    try:
        Gemma3Processor.__init__(proc, image_processor=None, tokenizer=tok)
    except Exception:  # the mixin refuses the stand-in tokenizer, after the strings are set
        pass
    assert proc.full_image_sequence.count("<image_soft_token>") == 256
    return proc


PAS = dict(pan_and_scan_min_crop_size=256, pan_and_scan_max_num_crops=4, pan_and_scan_min_ratio_to_activate=1.2)


@pytest.mark.parametrize("overrides", [{}, {"pan_and_scan_min_crop_size": 64, "pan_and_scan_max_num_crops": 7,
                                            "pan_and_scan_min_ratio_to_activate": 2.5}])
def test_gemma3_pan_and_scan_matches_reference(overrides):
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    ip = Gemma3ImageProcessorPil()
    proc = _gemma3_processor()
    kw = {**PAS, **overrides}
    spec = "gemma3(do_pan_and_scan=True" + "".join(f", {k}={v!r}" for k, v in overrides.items()) + ")"
    bad = []
    for w, h in SIZES:
        ref = _gemma3_crops(ip, w, h, **kw)
        p = anyres.plan((w, h), spec)
        crops = [tuple(int(x) for x in p.canvases[v.canvas].source) for v in p.views[1:]]
        text = proc.replace_image_token({"num_crops": [len(ref)]}, 0)
        if (crops != ref or p.info["num_crops"] != len(ref) or p.num_tokens != 256 * (1 + len(ref))
                or p.layout.text() != text or any(v.size != (896, 896) for v in p.views)):
            bad.append(((w, h), crops, ref))
        if ref:  # the count path (always image_seq_length tokens, no crops) disagrees: recorded
            assert p.info["reference_count_path"] == 256 and "pan-and-scan" in p.diagnostics.warnings[0]
        else:
            assert not p.warnings
    assert not bad, f"{len(bad)} of {len(SIZES)} sizes differ, first: {bad[:3]}"


def test_gemma3_without_pan_and_scan_is_one_view_and_the_full_image_sequence():
    proc = _gemma3_processor()
    for w, h in SIZES[:300]:
        p = anyres.plan((w, h), "gemma3")
        assert len(p.views) == 1 and p.num_tokens == 256 and p.views[0].size == (896, 896)
        assert p.layout.text() == proc.full_image_sequence
        # "\n\n" is one token of Gemma's vocabulary: 2 + 1 + 256 + 1 + ... positions
        assert len(p.layout) == 260
    assert p.connector.kind == "pool" and p.connector.factor == 4 and p.views[0].token_grid == (16, 16)


def test_gemma3_crop_past_the_edge_is_a_plan_error():
    # 5x1 with 1 px crops: 4 strips of 2 px, the last starting at 6 > 5 (the reference resizes an empty crop)
    with pytest.raises(PlanError, match="past the image"):
        anyres.plan((5, 1), "gemma3(do_pan_and_scan=True, pan_and_scan_min_crop_size=1)")


def test_gemma3_checks_its_parameters():
    for bad in ("gemma3(size={'height': 896, 'width': 448})", "gemma3(image_seq_length=255)",
                "gemma3(size={'longest_edge': 896})", "gemma3(pan_and_scan_min_ratio_to_activate=0)"):
        with pytest.raises(SpecError):
            anyres.plan((100, 100), bad)
    assert anyres.plan((100, 100), "gemma3(image_seq_length=64)").connector.factor == 8


def _pixtral_reference(width: int, height: int, longest: int, unit: int) -> tuple[int, int]:
    from transformers.image_utils import SizeDict
    from transformers.models.pixtral.image_processing_pil_pixtral import PixtralImageProcessorPil

    with oracles.shape_only_resize():
        out = PixtralImageProcessorPil().resize(
            oracles.fake_image(width, height), size=SizeDict(longest_edge=longest),
            patch_size=SizeDict(height=unit, width=unit))
    return out.shape[1], out.shape[2]


def _processor_methods(module_path: str, cls: str, names: tuple[str, ...], namespace: dict) -> type:
    """A class holding methods of a transformers processor whose module cannot be imported
    here (``processing_pixtral`` imports the torchvision image processor): their source
    is read from the installed file and compiled in ``namespace``."""
    import ast
    import importlib.util
    import pathlib

    spec = importlib.util.find_spec("transformers")
    source = (pathlib.Path(spec.origin).parent / module_path).read_text()
    tree = ast.parse(source)
    (node,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls]
    body = [f for f in node.body if isinstance(f, ast.FunctionDef) and f.name in names]
    assert {f.name for f in body} == set(names)
    for f in body:
        f.decorator_list = []
    module = ast.Module(body=[ast.ClassDef(cls, [], [], body, [])], type_ignores=[])
    exec(compile(ast.fix_missing_locations(module), module_path, "exec"), namespace)
    return namespace[cls]


def _pixtral_processor(patch: int, merge: int):
    from transformers.models.pixtral.image_processing_pil_pixtral import get_resize_output_image_size
    from transformers.processing_utils import MultiModalData

    cls = _processor_methods("models/pixtral/processing_pixtral.py", "PixtralProcessor",
                             ("replace_image_token", "_get_num_multimodal_tokens"),
                             {"np": np, "get_resize_output_image_size": get_resize_output_image_size,
                              "MultiModalData": MultiModalData})
    return oracles._bare(cls, patch_size=patch, spatial_merge_size=merge, image_token="[IMG]",
                         image_break_token="[IMG_BREAK]", image_end_token="[IMG_END]")


@pytest.mark.parametrize("preset, longest, patch, merge", [
    ("pixtral", 1024, 16, 1), ("mistral3", 1540, 14, 2), ("mistral3(size={'longest_edge': 700})", 700, 14, 2),
    ("pixtral(patch_size={'height': 14, 'width': 14}, spatial_merge_size=2)", 1024, 14, 2),
])
def test_pixtral_matches_processing_path_and_prompt(preset, longest, patch, merge):
    proc = _pixtral_processor(patch, merge)
    unit = patch * merge
    bad, refused = [], 0
    for w, h in SIZES:
        rh, rw = _pixtral_reference(w, h, longest, unit)
        if rh == 0 or rw == 0:  # the reference would resize to an empty image
            with pytest.raises(PlanError):
                anyres.plan((w, h), preset)
            refused += 1
            continue
        p = anyres.plan((w, h), preset)
        rows, cols = rh // unit, rw // unit
        text = proc.replace_image_token({"image_sizes": [(rh, rw)]}, 0)
        if (p.views[0].size != (rw, rh) or p.num_tokens != rows * cols or len(p.layout) != (cols + 1) * rows
                or p.layout.text() != text or p.views[0].token_grid != (rows, cols)):
            bad.append(((w, h), p.views[0].size, (rw, rh)))
    assert not bad, f"{len(bad)} of {len(SIZES)} sizes differ, first: {bad[:3]}"
    assert 0 < refused < len(SIZES) // 20  # only the extreme aspect ratios


def test_pixtral_token_count_matches_get_num_multimodal_tokens():
    proc = _pixtral_processor(14, 2)
    from transformers.models.pixtral.image_processing_pil_pixtral import PixtralImageProcessorPil

    proc.image_processor = PixtralImageProcessorPil(size={"longest_edge": 1540})
    proc._merge_kwargs = lambda **kw: {"images_kwargs": {}}
    sizes = [s for s in SIZES if max(s) / min(s) < 1000]
    counts = proc._get_num_multimodal_tokens(image_sizes=[(h, w) for w, h in sizes])["num_image_tokens"]
    disagree = 0
    for s, count in zip(sizes, counts):
        p = anyres.plan(s, "mistral3")
        if p.warnings:  # the count path reads a 1- or 3-row image channels-first; the plan follows processing
            assert s[1] in (1, 3) and p.info["reference_count_path"] == count != len(p.layout), s
            disagree += 1
        else:
            assert len(p.layout) == count, s
    assert 0 < disagree < len(sizes) // 20


def test_mistral3_connector_is_a_learned_2x2_patch_merger():
    p = anyres.plan((1000, 600), "mistral3")
    c = p.connector
    assert (c.kind, c.factor, c.patch_size, c.learned) == ("patch-merger", 2, 14, True)
    assert p.views[0].features == (44, 72) and p.views[0].token_grid == (22, 36)
    q = anyres.plan((1000, 600), "pixtral")
    assert (q.connector.kind, q.connector.patch_size) == ("none", 16) and q.views[0].token_grid == (38, 63)


def test_transformers_shaped_overrides_round_trip_and_stay_read_only():
    spec = "mistral3(size={'longest_edge': 700})"
    p = anyres.plan((1000, 600), spec)
    q = anyres.plan((1000, 600), "mistral3", size={"longest_edge": 700})
    assert p.spec == spec and anyres.plan((1000, 600), p.spec).num_tokens == q.num_tokens == p.num_tokens
    assert p.views[0].size == (700, 420)  # 1000x600 in a 700 box -> 700x420, multiples of 28
    with pytest.raises(TypeError):
        q.params["size"]["longest_edge"] = 1  # shared by every plan of the spec
    with pytest.raises(SpecError):
        anyres.plan((100, 100), "mistral3(size={'shortest_edge': 700})")

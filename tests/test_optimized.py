"""Caller mistakes raise typed errors under ``python -O`` too (asserts vanish there).

One subprocess runs with ``-O`` and tries each mistake on tiny encoders built in memory
(random weights, no files); it prints the error class each one raised, and the test
checks the class the library promises for it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

SRC = str(Path(__file__).resolve().parents[1] / "src")

SCRIPT = r"""
import json, torch
import anyres
from anyres.encode import ClipEncoder, Qwen2VLConfig, Qwen2VLEncoder, ViTConfig, packed_attention, patchify
from anyres.encode.rope import apply_rope, block_positions, rope_2d
from anyres.encode.posembed import resample_abs_pos_embed
from anyres.tokens import pixel_shuffle, space_to_depth, avg_pool
from anyres.tokens.sequence import VisualSequence
from anyres.tokens.weights import find_tensor

assert not __debug__, "this script must run under python -O"
torch.manual_seed(0)
clip = ClipEncoder(ViTConfig("clip", 32, 64, 2, 4, image_size=28, patch_size=14), 2).eval()
qwen = Qwen2VLEncoder(Qwen2VLConfig(embed_dim=32, hidden_size=16, num_layers=1, num_heads=2), 1).eval()
q = torch.zeros(1, 2, 10, 8)

cases = {
    "views_3d": lambda: clip.forward_features(torch.zeros(3, 28, 28)),
    "views_channels": lambda: clip.forward_features(torch.zeros(1, 4, 28, 28)),
    "views_not_tensor": lambda: clip.forward_features([[0.0]]),
    "view_2d": lambda: clip.forward_views([torch.zeros(28, 28)]),
    "packed_count": lambda: clip.forward_packed(torch.zeros(5, 3 * 14 * 14), [(1, 2, 2)]),
    "packed_width": lambda: clip.forward_packed(torch.zeros(4, 7), [(1, 2, 2)]),
    "packed_video_clip": lambda: clip.forward_packed(torch.zeros(8, 3 * 14 * 14), [(2, 2, 2)]),
    "packed_grid_row": lambda: clip.forward_packed(torch.zeros(4, 3 * 14 * 14), [(1, 4)]),
    "packed_grid_zero": lambda: clip.forward_packed(torch.zeros(0, 3 * 14 * 14), [(1, 0, 2)]),
    "qwen_packed_merge": lambda: qwen.forward_packed(torch.zeros(6, 3 * 2 * 14 * 14), [(1, 2, 3)]),
    "qwen_packed_count": lambda: qwen.forward_packed(torch.zeros(3, 3 * 2 * 14 * 14), [(1, 2, 2)]),
    "patchify_size": lambda: patchify(torch.zeros(3, 30, 28), 14),
    "feature_layer": lambda: ClipEncoder(ViTConfig("clip", 32, 64, 2, 4, image_size=28, patch_size=14), 5),
    "heads": lambda: ClipEncoder(ViTConfig("clip", 30, 64, 2, 4, image_size=28, patch_size=14), 1),
    "attention_lengths": lambda: packed_attention(q, q, q, (3, 3)),
    "attention_impl": lambda: packed_attention(q, q, q, (5, 5), impl="fast"),
    "rope_head_dim": lambda: rope_2d(torch.zeros(4, 2), 6),
    "rope_positions": lambda: rope_2d(torch.zeros(4, 3), 8),
    "rope_apply": lambda: apply_rope(torch.zeros(1, 5, 8), torch.zeros(4, 8), torch.zeros(4, 8)),
    "rope_merge": lambda: block_positions(1, 3, 4, 2),
    "posembed_grid": lambda: resample_abs_pos_embed(torch.zeros(10, 4), (2, 2), (3, 3)),
    "shuffle_zero": lambda: pixel_shuffle(torch.zeros(1, 4, 4, 2), 0),
    "shuffle_nan": lambda: pixel_shuffle(torch.zeros(1, 4, 4, 2), float("nan")),
    "shuffle_str": lambda: pixel_shuffle(torch.zeros(1, 4, 4, 2), "x"),
    "space_to_depth_float": lambda: space_to_depth(torch.zeros(1, 4, 4, 2), 2.0),
    "pool_str": lambda: avg_pool(torch.zeros(4, 4, 2), "2"),
    "sequence_rows": lambda: VisualSequence(
        torch.zeros(3, 4), torch.zeros(2, 3, dtype=torch.int64), torch.zeros(3, dtype=torch.int8)
    ),
    "missing_tensor": lambda: find_tensor({}, "image_newline"),
}
out = {}
for name, case in cases.items():
    try:
        case()
        out[name] = "no error"
    except Exception as exc:
        out[name] = type(exc).__name__ + ("" if isinstance(exc, anyres.AnyresError) else f": {exc}")
print(json.dumps(out))
"""

EXPECTED = {
    "views_3d": "ShapeError",
    "views_channels": "ShapeError",
    "views_not_tensor": "ShapeError",
    "view_2d": "ShapeError",
    "packed_count": "ShapeError",
    "packed_width": "ShapeError",
    "packed_video_clip": "ShapeError",
    "packed_grid_row": "ShapeError",
    "packed_grid_zero": "ShapeError",
    "qwen_packed_merge": "ShapeError",
    "qwen_packed_count": "ShapeError",
    "patchify_size": "ShapeError",
    "feature_layer": "SpecError",
    "heads": "SpecError",
    "attention_lengths": "ShapeError",
    "attention_impl": "SpecError",
    "rope_head_dim": "SpecError",
    "rope_positions": "ShapeError",
    "rope_apply": "ShapeError",
    "rope_merge": "ShapeError",
    "posembed_grid": "ShapeError",
    "shuffle_zero": "SpecError",
    "shuffle_nan": "SpecError",
    "shuffle_str": "SpecError",
    "space_to_depth_float": "SpecError",
    "pool_str": "SpecError",
    "sequence_rows": "ShapeError",
    "missing_tensor": "CheckpointError",
}


def test_caller_mistakes_raise_typed_errors_under_python_O():
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-O", "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got == EXPECTED

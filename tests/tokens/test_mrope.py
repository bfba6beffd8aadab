"""Qwen2-VL M-RoPE position ids against transformers' Qwen2VLModel.get_rope_index."""

from __future__ import annotations

import pytest
import torch

from anyres.errors import ShapeError
from anyres.tokens import mrope_position_ids, rope_index, spans_from_ids

transformers = pytest.importorskip("transformers")

IMAGE, START, END, TEXT = 60, 61, 62, 5  # token ids in the tiny vocabulary


@pytest.fixture(scope="module")
def model():
    cfg = transformers.Qwen2VLConfig(
        vision_config=dict(depth=1, embed_dim=8, hidden_size=16, num_heads=2, spatial_merge_size=2),
        text_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=1, vocab_size=64, rope_scaling={"type": "mrope", "mrope_section": [2, 1, 1]}),
        image_token_id=IMAGE, vision_start_token_id=START, vision_end_token_id=END,
    )
    return transformers.Qwen2VLModel(cfg).eval()


def _sequence(parts):
    """parts: ints (text lengths) and (t, h, w) images wrapped in vision start/end tokens."""
    ids, grids = [], []
    for part in parts:
        if isinstance(part, int):
            ids += [TEXT] * part
        else:
            ids += [START] + [IMAGE] * (part[0] * part[1] * part[2] // 4) + [END]
            grids.append(part)
    return torch.tensor([ids]), torch.tensor(grids, dtype=torch.long).reshape(-1, 3)


LAYOUTS = [
    [(1, 4, 6), 7],  # image first
    [3, (1, 8, 4)],  # image last
    [2, (1, 4, 4), (1, 6, 2), 3],  # consecutive images, different sizes
    [1, (1, 10, 14), 4, (1, 2, 2), 5, (1, 28, 6)],
    [(1, 2, 2)],
]


@pytest.mark.parametrize("parts", LAYOUTS)
def test_rope_index_matches_transformers(model, parts):
    input_ids, grids = _sequence(parts)
    ref_pos, ref_delta = model.get_rope_index(input_ids, (input_ids == IMAGE).int(), image_grid_thw=grids)
    pos, delta = rope_index(input_ids, IMAGE, grids)
    assert torch.equal(pos, ref_pos)
    assert torch.equal(delta, ref_delta)


def test_batch_with_left_padding_matches_transformers(model):
    a, ga = _sequence([2, (1, 4, 6), 3])
    b, gb = _sequence([(1, 2, 4), 1])
    pad = a.shape[1] - b.shape[1]
    input_ids = torch.cat([a, torch.cat([torch.zeros(1, pad, dtype=torch.long), b], dim=1)])
    mask = torch.ones_like(input_ids)
    mask[1, :pad] = 0
    grids = torch.cat([ga, gb])
    ref_pos, ref_delta = model.get_rope_index(input_ids, (input_ids == IMAGE).int(), image_grid_thw=grids, attention_mask=mask)
    pos, delta = rope_index(input_ids, IMAGE, grids, attention_mask=mask)
    assert torch.equal(pos, ref_pos) and torch.equal(delta, ref_delta)


def test_hand_computed_spans():
    pos, delta = mrope_position_ids([2, (1, 4, 6), 1])
    # text 0, 1; image on a 2x3 merged grid starting at 2; text resumes at 2 + 3 = 5
    assert pos[:, :2].tolist() == [[0, 1]] * 3
    assert pos[0, 2:8].tolist() == [2] * 6
    assert pos[1, 2:8].tolist() == [2, 2, 2, 3, 3, 3]
    assert pos[2, 2:8].tolist() == [2, 3, 4, 2, 3, 4]
    assert pos[:, 8].tolist() == [5, 5, 5]
    assert delta == 6 - 9


def test_adjacent_images_without_separators_are_split_by_count():
    """transformers 5.23 takes a run of image tokens for one image (and raises); we cut it by token counts."""
    ids = torch.tensor([TEXT] + [IMAGE] * (4 + 6) + [TEXT])
    spans = spans_from_ids(ids, IMAGE, [(1, 4, 4), (1, 4, 6)])
    assert spans == [1, (1, 4, 4), (1, 4, 6), 1]
    with pytest.raises(ShapeError):
        spans_from_ids(ids, IMAGE, [(1, 4, 4)])

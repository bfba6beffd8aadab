"""Qwen2-VL M-RoPE position ids for a mixed text + image token sequence.

Text tokens count up on all three axes (t, row, col). An image whose patch grid is
``grid_thw = (t, h, w)`` occupies t * (h/m) * (w/m) tokens (m = spatial merge size) with
ids ``(start + t_i, start + r, start + c)`` over its merged grid, in block row-major
order; ``start`` is the running position. The text after it resumes at one past the
largest id used so far. (transformers 5.23 advances by ``max(h, w) / m`` instead, which
is the same whenever ``t <= max(h, w) / m``, always so for images: their t is 1.)

``rope_deltas = max id + 1 - sequence length``, what the model adds to plain positions
when it decodes past the prompt.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..errors import ShapeError, SpecError

Span = int | tuple[int, int, int]


def _image_tokens(grid_thw: Sequence[int], merge_size: int) -> int:
    t, h, w = (int(v) for v in grid_thw)
    if t < 1 or h % merge_size or w % merge_size or h < merge_size or w < merge_size:
        raise SpecError(f"image grid_thw {tuple(grid_thw)} is not a whole number of {merge_size}x{merge_size} blocks")
    return t * (h // merge_size) * (w // merge_size)


def mrope_position_ids(spans: Sequence[Span], merge_size: int = 2) -> tuple[torch.Tensor, int]:
    """Position ids (3, L) int64 and the rope delta for a sequence described as spans:
    an int n is n text tokens, a triple (t, h, w) is one image's ``image_grid_thw``."""
    parts: list[torch.Tensor] = []
    start = 0
    for span in spans:
        if isinstance(span, int):
            if span < 0:
                raise SpecError(f"a text span has a negative length {span}")
            parts.append((torch.arange(span, dtype=torch.int64) + start).expand(3, -1))
            start += span
            continue
        _image_tokens(span, merge_size)
        t, h, w = int(span[0]), int(span[1]) // merge_size, int(span[2]) // merge_size
        tt = torch.arange(t, dtype=torch.int64).repeat_interleave(h * w)
        rr = torch.arange(h, dtype=torch.int64).repeat_interleave(w).repeat(t)
        cc = torch.arange(w, dtype=torch.int64).repeat(t * h)
        ids = torch.stack([tt, rr, cc]) + start
        parts.append(ids)
        start = int(ids.max()) + 1
    if not parts:
        return torch.zeros(3, 0, dtype=torch.int64), 0
    ids = torch.cat(parts, dim=1)
    length = ids.shape[1]
    return ids, (int(ids.max()) + 1 - length) if length else 0


def spans_from_ids(input_ids: Sequence[int] | torch.Tensor, image_token_id: int, image_grid_thw: Sequence[Sequence[int]], merge_size: int = 2) -> list[Span]:
    """Split a token sequence into text spans and images. A run of image tokens may hold
    several consecutive images; it is cut by each image's token count."""
    ids = torch.as_tensor(input_ids).tolist()
    grids = [tuple(int(v) for v in g) for g in image_grid_thw]
    spans: list[Span] = []
    i, next_image = 0, 0
    while i < len(ids):
        j = i
        is_image = ids[i] == image_token_id
        while j < len(ids) and (ids[j] == image_token_id) == is_image:
            j += 1
        if not is_image:
            spans.append(j - i)
        else:
            run = j - i
            while run > 0:
                if next_image >= len(grids):
                    raise ShapeError(f"more image tokens than the {len(grids)} images in image_grid_thw account for")
                need = _image_tokens(grids[next_image], merge_size)
                if need > run:
                    raise ShapeError(f"image {next_image} (grid {grids[next_image]}) needs {need} tokens, the run has {run} left")
                spans.append(grids[next_image])
                next_image += 1
                run -= need
        i = j
    if next_image != len(grids):
        raise ShapeError(f"{len(grids)} images in image_grid_thw but tokens for only {next_image}")
    return spans


def rope_index(
    input_ids: torch.Tensor,
    image_token_id: int,
    image_grid_thw: Sequence[Sequence[int]] | torch.Tensor,
    merge_size: int = 2,
    attention_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """transformers' ``Qwen2VLModel.get_rope_index`` for images: input_ids (B, L) ->
    (position_ids (3, B, L), rope_deltas (B, 1)). Images are consumed in order across the
    batch; masked-out positions get id 0 (as transformers 5.23)."""
    if input_ids.dim() == 1:
        input_ids = input_ids[None]
    if attention_mask is not None and attention_mask.shape != input_ids.shape:
        raise ShapeError(f"attention_mask {tuple(attention_mask.shape)} for input_ids {tuple(input_ids.shape)}")
    grids = [tuple(int(v) for v in g) for g in torch.as_tensor(image_grid_thw).reshape(-1, 3).tolist()] if len(image_grid_thw) else []
    b, length = input_ids.shape
    out = torch.zeros(3, b, length, dtype=torch.int64)
    deltas = torch.zeros(b, 1, dtype=torch.int64)
    used = 0
    for k in range(b):
        keep = attention_mask[k].bool() if attention_mask is not None else torch.ones(length, dtype=torch.bool)
        ids = input_ids[k][keep]
        n_images = 0
        for j in range(len(grids) - used + 1):  # the images this row's tokens hold
            if _count_tokens(grids[used : used + j], merge_size) == int((ids == image_token_id).sum()):
                n_images = j
                break
        else:
            raise ShapeError(f"row {k}: image tokens do not match the remaining images of image_grid_thw")
        spans = spans_from_ids(ids, image_token_id, grids[used : used + n_images], merge_size)
        used += n_images
        pos, delta = mrope_position_ids(spans, merge_size)
        out[:, k, keep] = pos
        deltas[k, 0] = delta
    return out, deltas


def _count_tokens(grids: Sequence[Sequence[int]], merge_size: int) -> int:
    return sum(_image_tokens(g, merge_size) for g in grids)

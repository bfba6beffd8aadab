"""V2PE: variable visual position encoding (Ge et al. 2024, InternVL's long-context
positions), restated from the authors' evaluation code (``get_rope_pos_id``, version
``v2pe_fix``).

Text tokens count up by 1. A run of N visual positions that follows a text token at
position p takes ``p + delta * k`` for k = 1..N (the reference's
``linspace(p, p + delta * N, N + 1)[1:]``, with ``delta = stride / num_image_token``),
and the text after the run resumes at ``ceil(p + delta * N) + 1``. ``delta = 1`` gives
the plain positions 0, 1, 2, ... (the reference checks the same for its default).
"""

from __future__ import annotations

import math

import torch

from ..errors import SpecError
from ..plan.types import TEXT, Layout


def check_delta(delta: float) -> float:
    if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not (0 < delta <= 1) or math.isnan(delta):
        raise SpecError(f"the V2PE increment must be a number in (0, 1] (the paper uses 1/256 .. 1), got {delta!r}")
    return float(delta)


def v2pe_position_ids(layout: Layout, delta: float, start: int = 0) -> torch.Tensor:
    """1-D float32 position ids of ``layout`` (its text segments count up by 1, its
    visual and newline positions by ``delta``) starting at ``start``."""
    delta = check_delta(delta)
    out: list[torch.Tensor] = []
    last = float(start - 1)  # the position of the token before the layout
    run = 0  # visual positions since the last text token
    anchor = last
    for seg in layout.segments:
        if seg.kind == TEXT:
            if run:
                last, run = float(math.ceil(anchor + delta * run)), 0
            out.append(torch.arange(1, seg.count + 1, dtype=torch.float64) + last)
            last += seg.count
            anchor = last
            continue
        k = torch.arange(run + 1, run + seg.count + 1, dtype=torch.float64)
        out.append(anchor + delta * k)
        run += seg.count
    if not out:
        return torch.zeros(0, dtype=torch.float32)
    return torch.cat(out).to(torch.float32)


def v2pe_next(layout: Layout, delta: float, start: int = 0) -> int:
    """Where the text after the layout resumes."""
    delta = check_delta(delta)
    last, run, anchor = float(start - 1), 0, float(start - 1)
    for seg in layout.segments:
        if seg.kind == TEXT:
            if run:
                last, run = float(math.ceil(anchor + delta * run)), 0
            last += seg.count
            anchor = last
        else:
            run += seg.count
    if run:
        last = float(math.ceil(anchor + delta * run))
    return int(last) + 1

"""The plan's token reducers (``"llava-next+pool(2)"``) applied to an assembled sequence.

``apply_reducers(plan, seq)``: ``seq`` is the assembled sequence of ``plan.unreduced``;
each region (``anyres.plan.reducers.regions``) is reduced in place, in layout order, so
that the result has ``plan.num_tokens`` rows in ``plan.layout`` order.

- ``pool``: ``avg_pool(ceil_mode=True)`` on the region's (rows, cols) grid; a pooled
  token takes the position of its window's top-left token, ``(view, row // k, col // k)``;
  newline rows are rebuilt after each pooled row from the plan's newline embedding.
- ``visionzip``, ``tome``, ``prumerge``: ``anyres.tokens.prune`` / ``merge`` on the
  region's tokens. After assembly the encoder's attention and keys are gone, so the
  tokens score themselves: keys are the embeddings, attention is
  ``softmax(E E^T / sqrt(d))`` and a token's importance is the attention it receives
  (the methods' rule for towers without CLS). Their output counts are the plan's.
"""

from __future__ import annotations

import math

import torch

from ..errors import ShapeError
from ..plan.reducers import Region, regions
from .compress import avg_pool
from .merge import tome_merge
from .prune import prumerge, visionzip
from .vitar import vitar_merge
from .sequence import NEWLINE_ROW, VISUAL_ROW, VisualSequence


def self_attention(x: torch.Tensor) -> torch.Tensor:
    """(n, n) ``softmax(x x^T / sqrt(d))`` in float32."""
    x = x.to(torch.float32)
    return torch.softmax(x @ x.T / math.sqrt(x.shape[1]), dim=-1)


def _grid_free(step, x: torch.Tensor, pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    a = step.args
    n = x.shape[0]
    if step.name == "visionzip":
        dom, ctx = step.split(n)
        kept = visionzip(x, self_attention(x), x, dominant=dom, contextual=ctx, positions=pos)
    elif step.name == "tome":
        kept = tome_merge(x, x, n - step.count(n), positions=pos)
    elif step.name == "prumerge":
        kept = prumerge(x, self_attention(x), x, cls_index=None, neighbours=a["neighbours"], summary=a["summary"],
                        ratio=a["ratio"], positions=pos)
    else:  # pragma: no cover - make_reducer admits only the names above
        raise ShapeError(f"unknown reducer {step.name}")
    return kept.embeddings.to(x.dtype), kept.positions


def _pool(x: torch.Tensor, pos: torch.Tensor, grid: tuple[int, int], k: int):
    rows, cols = grid
    pooled = avg_pool(x.reshape(rows, cols, -1), k, ceil_mode=True)
    p = pos.reshape(rows, cols, 3)[::k, ::k].clone()
    p[..., 1:] = torch.div(p[..., 1:], k, rounding_mode="floor")
    return pooled.reshape(-1, x.shape[1]), p.reshape(-1, 3), (pooled.shape[0], pooled.shape[1])


def _vitar(x: torch.Tensor, pos: torch.Tensor, grid: tuple[int, int], args: dict):
    """ViTAR's parameter-free merge to the target grid; a merged token sits at its own
    cell of the merged grid, ``(view, i, j)``."""
    rows, cols = grid
    target = (min(rows, args["rows"]), min(cols, args["cols"] or args["rows"]))
    merged = vitar_merge(x.reshape(rows, cols, -1), target)
    gh, gw = merged.shape[0], merged.shape[1]
    view = pos[0, 0] if len(pos) else torch.tensor(0)
    ii, jj = torch.meshgrid(torch.arange(gh), torch.arange(gw), indexing="ij")
    new_pos = torch.stack([torch.full((gh * gw,), int(view)), ii.reshape(-1), jj.reshape(-1)], dim=1)
    return merged.reshape(-1, x.shape[1]), new_pos, (gh, gw)


def reduce_rows(plan, region: Region, x: torch.Tensor, pos: torch.Tensor, newline: torch.Tensor | None):
    """(embeddings, positions, kinds) of one region after the plan's reducers."""
    grid = region.grid
    for step in plan.reducers:
        if step.name == "vitar":
            x, pos, grid = _vitar(x, pos, grid, step.args)
        elif step.keeps_grid:
            x, pos, grid = _pool(x, pos, grid, step.args["k"])
        else:
            x, pos = _grid_free(step, x, pos)
            grid = None
    kinds = torch.full((x.shape[0],), VISUAL_ROW, dtype=torch.int8)
    if grid is None or not region.newlines:
        return x, pos, kinds
    rows, cols = grid
    nl = newline.to(x.dtype).expand(rows, 1, -1)
    x = torch.cat([x.reshape(rows, cols, -1), nl], dim=1).reshape(-1, x.shape[1])
    nl_pos = torch.stack([torch.full((rows,), -1), torch.arange(rows), torch.full((rows,), -1)], dim=1)
    pos = torch.cat([pos.reshape(rows, cols, 3), nl_pos[:, None]], dim=1).reshape(-1, 3)
    kinds = torch.cat([kinds.reshape(rows, cols), torch.full((rows, 1), NEWLINE_ROW, dtype=torch.int8)], 1).reshape(-1)
    return x, pos, kinds


def apply_reducers(plan, seq: VisualSequence) -> VisualSequence:
    """The reduced sequence of ``plan`` from the assembled sequence of ``plan.unreduced``."""
    base = plan.unreduced
    owner = torch.full((len(seq),), -1, dtype=torch.int64)
    regs = regions(base)
    view = seq.positions[:, 0]
    newline = None
    if bool((seq.kind == NEWLINE_ROW).any()):
        newline = seq.embeddings[seq.kind == NEWLINE_ROW][0]
    for r, region in enumerate(regs):
        mine = torch.isin(view, torch.tensor(region.views)) & (seq.kind == VISUAL_ROW)
        if region.map:
            mine |= seq.kind == NEWLINE_ROW
        owner[mine] = r
    chunks, done = [], set()
    for i, r in enumerate(owner.tolist()):
        if r < 0:
            chunks.append((seq.embeddings[i : i + 1], seq.positions[i : i + 1], seq.kind[i : i + 1]))
            continue
        if r in done:
            continue
        done.add(r)
        region = regs[r]
        rows = torch.nonzero((owner == r) & (seq.kind == VISUAL_ROW)).flatten()
        head, body = rows[: region.prefix], rows[region.prefix :]
        if len(body) != region.n:
            raise ShapeError(f"{plan.spec}: region of views {region.views} has {len(body)} tokens, the plan {region.n}")
        chunks.append((seq.embeddings[head], seq.positions[head], seq.kind[head]))
        chunks.append(reduce_rows(plan, region, seq.embeddings[body], seq.positions[body], newline))
    return VisualSequence(
        torch.cat([c[0] for c in chunks]), torch.cat([c[1] for c in chunks]), torch.cat([c[2] for c in chunks])
    )

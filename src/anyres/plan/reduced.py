"""A plan with token reducers: its views' token counts and grids, and its layout.

``with_reducers(plan, steps)`` keeps the un-reduced plan as ``plan.unreduced`` (what
the encoder and the assembly run on) and returns a plan whose ``num_tokens``, views
(``tokens``, ``token_grid``), ``newline_tokens`` and ``layout`` are those after the
reducers (``anyres.plan.reducers``). Standard library only.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from ..errors import SpecError
from .reducers import Reducer, Region, reduce_region, regions
from .types import NEWLINE, VISUAL, Layout, Segment


def pooling(steps: tuple[Reducer, ...], spec: str) -> int:
    """The product of the pool sizes, which must all come before any grid-free reducer."""
    k, seen_free = 1, False
    for r in steps:
        if r.keeps_grid:
            if seen_free:
                raise SpecError(f"{spec}: {r.name} must come before "
                                f"{', '.join(s.name for s in steps if not s.keeps_grid)}")
            k *= r.args.get("k", 1)
        else:
            seen_free = True
    return k


def with_reducers(plan: Any, steps: tuple[Reducer, ...], spec: str) -> Any:
    if any(r.name == "matryoshka" for r in steps):
        return _matryoshka(plan, steps, spec)
    if plan.num_tokens and not plan.layout.num_visual:  # Mllama: cross-attention states, no prompt rows
        raise SpecError(f"{spec}: token reducers act on prompt tokens; {plan.preset}'s visual tokens are not in "
                        "the prompt (its layout holds no visual positions)")
    k = pooling(steps, spec)
    views = list(plan.views)
    newlines = 0 if any(r.map for r in regions(plan)) else plan.newline_tokens
    if any(r.name == "vitar" for r in steps) and any(r.map for r in regions(plan)):
        raise SpecError(f"{spec}: vitar merges each view's grid; {plan.preset}'s tiles form one stitched map "
                        "(use pool(k) there)")
    for region in regions(plan):
        out = reduce_region(region, steps, spec)
        if region.map:
            counts = _map_counts(plan, region, out, k)
            for i in region.views:
                views[i] = _view(views[i], counts.get(i, 0), k)
            newlines += out.grid[0] if out.newlines else 0
        else:
            (i,) = region.views
            views[i] = _view(views[i], region.prefix + out.n, k, out.grid)
    views = tuple(views)
    tokens = sum(v.tokens for v in views) + newlines
    return replace(plan, views=views, num_tokens=tokens, newline_tokens=newlines, reducers=steps, unreduced=plan)


def _matryoshka(plan: Any, steps: tuple[Reducer, ...], spec: str) -> Any:
    """The plan with M3's finest nested level within its budget: each level is the
    ``pool(k)`` it is (``anyres.plan.reducers``), planned in turn, finest first."""
    from .reducers import matryoshka_levels

    i = next(j for j, r in enumerate(steps) if r.name == "matryoshka")
    if any(r.name == "matryoshka" for r in steps[i + 1:]):
        raise SpecError(f"{spec}: one matryoshka reducer at most")
    budget = steps[i].args["tokens"]
    grids = [r.grid for r in regions(plan) if r.grid is not None]
    if not grids:
        raise SpecError(f"{spec}: matryoshka pools a token grid, and {plan.preset}'s tokens have none")
    made = None
    for k in matryoshka_levels(grids):
        level = Reducer("pool", (("k", k),))
        made = with_reducers(plan, steps[:i] + (level,) + steps[i + 1:], spec)
        if made.num_tokens <= budget:
            break
    return replace(made, info={**made.info, "matryoshka": {"tokens": budget, "k": k}})


def _view(v: Any, tokens: int, k: int, grid: tuple[int, int] | None = None) -> Any:
    if grid is not None and tokens:  # the region's grid after its reducers
        return v._replace(tokens=tokens, token_grid=grid)
    g = v.token_grid
    grid = (math.ceil(g[0] / k), math.ceil(g[1] / k)) if g and k > 1 and tokens else (g if tokens else (0, 0))
    return v._replace(tokens=tokens, token_grid=grid)


def _map_counts(plan: Any, region: Region, out: Region, k: int) -> dict[int, int]:
    """Tokens each tile view holds in the reduced map: the pooled cells whose top-left
    source cell it holds, or all of them on the first tile once the grid is gone."""
    if out.grid is None:
        return {region.views[0]: out.n} if region.views else {}
    counts: dict[int, int] = {}
    for row in _pooled_rows(plan, region, k):
        for view, n in row:
            counts[view] = counts.get(view, 0) + n
    return counts


def _map_rows(plan: Any, region: Region) -> list[list[tuple[int, int]]]:
    """The un-reduced map's rows, each as [(view, count), ...] across the tiles."""
    rows, cols = region.grid
    if cols == 0:  # an unpadded map of no columns (a 1 px wide image): rows without tokens
        return [[] for _ in range(rows)]
    segs = [s for s in plan.layout.segments if s.kind == VISUAL and s.view not in (None, 0)]
    out, cur, filled = [], [], 0
    for s in segs:
        cur.append((s.view, s.count))
        filled += s.count
        if filled == cols:
            out.append(cur)
            cur, filled = [], 0
    if len(out) != rows or cur:
        raise SpecError(f"{plan.preset}: the layout does not hold a {rows}x{cols} map; reducers cannot place its tokens")
    return out


def _pooled_rows(plan: Any, region: Region, k: int) -> list[list[tuple[int, int]]]:
    rows = _map_rows(plan, region)
    pooled = []
    for src in rows[::k]:
        owners = [view for view, n in src for _ in range(n)]
        row: list[tuple[int, int]] = []
        for view in owners[::k]:
            if row and row[-1][0] == view:
                row[-1] = (view, row[-1][1] + 1)
            else:
                row.append((view, 1))
        pooled.append(row)
    return pooled


def reduced_layout(plan: Any) -> Layout:
    """The layout of a plan with reducers: each region's visual segments replaced by its
    reduced tokens, the map's rows (and newlines) by the pooled map's."""
    base = plan.unreduced
    k = pooling(plan.reducers, plan.spec)
    regs = regions(base)
    map_region = next((r for r in regs if r.map), None)
    segs: list[Segment] = []
    done: set[int] = set()
    for s in base.layout.segments:
        if map_region is not None and (s.kind == NEWLINE or (s.kind == VISUAL and s.view in map_region.views)):
            if "map" in done:
                continue
            done.add("map")  # type: ignore[arg-type]
            segs += _map_segments(base, plan, map_region, k, s.text)
            continue
        if s.kind == VISUAL and s.view is not None:
            if s.view in done:
                continue
            done.add(s.view)
            n = plan.views[s.view].tokens
            if n:
                segs.append(Segment(s.text, n, VISUAL, s.view))
            continue
        segs.append(s)
    return Layout(tuple(segs))


def _map_segments(base: Any, plan: Any, region: Region, k: int, token: str) -> list[Segment]:
    out = reduce_region(region, plan.reducers, plan.spec)
    if out.grid is None:
        return [Segment(token, out.n, VISUAL, region.views[0])] if out.n else []
    segs = []
    for row in _pooled_rows(base, region, k):
        segs += [Segment(token, n, VISUAL, view) for view, n in row]
        if out.newlines:
            segs.append(Segment(token, 1, NEWLINE))
    return segs

"""Token reducers in the spec: ``"llava-next+pool(2)"``, ``"internvl+visionzip(keep=64)"``.

A reducer acts on the assembled visual tokens, one *region* at a time, and declares its
exact output count from its parameters alone, so the plan can count, lay out and cost
the result before any pixel is read. The regions of a plan:

- a plan whose connector is ``unpad-newline`` (LLaVA-NeXT / OneVision): the base view's
  grid, then the stitched, unpadded tile map (``info["interpolated_map"]`` or
  ``info["unpadded_map"]``) with its newline after each row;
- any other plan: each view with tokens, on its ``token_grid`` when its tokens fill it.

The reducers (``REDUCERS``):

- ``pool(k=2)``: k x k average pooling of the region's grid, edge windows averaged over
  the cells they cover: (r, c) -> (ceil(r/k), ceil(c/k)); newlines follow the pooled
  rows; a pooled token takes the place of its window's top-left token.
- ``visionzip(keep=64, dominant=None)``: VisionZip (dvlab-research): ``dominant`` tokens
  by attention (default ``round(keep * 54 / 64)``, the reference's 54 + 10 split), the
  rest merged into ``keep - dominant`` contextual tokens. ``keep`` < 1 is a fraction of
  the region (``max(1, int(n * keep))``).
- ``tome(r=0.5)``: ToMe bipartite soft matching, merging away ``r`` tokens (``r`` < 1: a
  fraction of the region, ``int(n * r)``), at most half of them.
- ``prumerge(ratio=0.125, neighbours=32, summary=True)``: LLaVA-PruMerge with the
  reference's fixed reduction ratio (``if_adaptive=False``): ``int(n * ratio)`` tokens by
  attention, each merged with its most similar neighbours, plus the summary token of the
  pruned ones. (The adaptive IQR count depends on the pixels; a plan cannot reserve it.)
- ``matryoshka(tokens=144)``: Matryoshka Multimodal Models (M3): nested average-pooling
  levels of one feature map, strides 1, 2, 4, ... and the whole grid, and per image the
  finest level whose count (after the spec's other reducers) is at most ``tokens``, the
  coarsest when none is. The plan resolves it into that level's ``pool(k)`` (its spec
  names k; ``plan.info["matryoshka"]`` keeps the budget). On M3's 24 x 24 CLIP grid the
  levels 576, 144, 36, 9, 1 are M3's ``avg_pool2d(kernel=stride=sqrt(576 / scale))``.
- ``vitar(rows=12, cols=rows)``: ViTAR's adaptive token merger (``anyres.tokens.vitar``,
  parameter-free: each cell its mean) from a region's grid to at most rows x cols;
  a grid already within it passes through. Per view (not on a stitched tile map).

Data-dependent reducers drop the region's grid: its newlines go with it.
Standard library only.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from ..errors import SpecError

# name -> (parameter names in positional order, defaults)
REDUCERS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "pool": (("k",), {"k": 2}),
    "visionzip": (("keep", "dominant"), {"keep": 64, "dominant": None}),
    "tome": (("r",), {"r": 0.5}),
    "prumerge": (("ratio", "neighbours", "summary"), {"ratio": 0.125, "neighbours": 32, "summary": True}),
    "matryoshka": (("tokens",), {"tokens": 144}),
    "vitar": (("rows", "cols"), {"rows": 12, "cols": None}),
}


class Reducer(NamedTuple):
    name: str
    params: tuple[tuple[str, Any], ...]  # every parameter, in REDUCERS order

    @property
    def args(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def keeps_grid(self) -> bool:
        return self.name in ("pool", "vitar")

    def spec(self) -> str:
        """``name(main, key=value, ...)``: the main argument positionally, the others
        when they differ from their defaults."""
        order, defaults = REDUCERS[self.name]
        args = [repr(self.params[0][1])]
        args += [f"{k}={v!r}" for k, v in self.params[1:] if v != defaults[k]]
        return f"{self.name}({', '.join(args)})"

    def count(self, n: int) -> int:
        """Tokens out of a region of ``n`` (grid-free reducers)."""
        a = self.args
        if self.name == "visionzip":
            return _amount(a["keep"], n, "keep")
        if self.name == "tome":
            return n - min(_amount(a["r"], n, "r", whole=False), n // 2)
        if self.name == "prumerge":
            return min(n, int(n * a["ratio"])) + (1 if a["summary"] and n else 0)
        raise AssertionError(self.name)

    def split(self, n: int) -> tuple[int, int]:
        """VisionZip's (dominant, contextual) for a region of ``n``."""
        keep = _amount(self.args["keep"], n, "keep")
        dominant = self.args["dominant"]
        if dominant is None:
            dominant = round(keep * 54 / 64)
        return min(dominant, keep), keep - min(dominant, keep)

    def flops(self, n: int, width: int) -> int:
        """Similarity matmuls the reference spends on a region of ``n`` tokens of
        ``width`` (its attention scores come from the encoder, free)."""
        if self.name == "visionzip":
            dom, ctx = self.split(n)
            return 2 * max(0, n - dom - ctx) * ctx * width
        if self.name == "tome":
            return 2 * ((n + 1) // 2) * (n // 2) * width
        if self.name == "prumerge":
            return 2 * min(n, int(n * self.args["ratio"])) * max(0, n - 1) * width
        return 0


def _amount(value: float, n: int, what: str, whole: bool = True) -> int:
    if isinstance(value, float) and value < 1:
        return min(n, max(1 if whole and n else 0, int(n * value)))
    return min(n, int(value))


def make_reducer(name: str, args: tuple, kwargs: dict[str, Any]) -> Reducer:
    if name not in REDUCERS:
        raise SpecError(f"unknown token reducer {name!r}; known: {', '.join(REDUCERS)}")
    order, defaults = REDUCERS[name]
    if len(args) > len(order):
        raise SpecError(f"{name}() takes at most {len(order)} positional arguments ({', '.join(order)}), got {len(args)}")
    values = dict(defaults)
    for key, value in zip(order, args):
        values[key] = value
    for key, value in kwargs.items():
        if key not in defaults:
            raise SpecError(f"{name}() has no parameter {key!r}; its parameters: {', '.join(order)}")
        if key in order[: len(args)]:
            raise SpecError(f"{name}(): {key!r} is given twice")
        values[key] = value
    _check(name, values)
    return Reducer(name, tuple((k, values[k]) for k in order))


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check(name: str, v: dict[str, Any]) -> None:
    def bad(what: str) -> SpecError:
        return SpecError(f"{name}(): {what}")

    if name == "pool":
        if isinstance(v["k"], bool) or not isinstance(v["k"], int) or v["k"] < 1:
            raise bad(f"k must be a positive integer, got {v['k']!r}")
    elif name == "visionzip":
        keep, dom = v["keep"], v["dominant"]
        if not _number(keep) or keep <= 0 or (isinstance(keep, float) and keep >= 1 and keep != int(keep)):
            raise bad(f"keep must be a token count >= 1 or a fraction in (0, 1), got {keep!r}")
        if dom is not None and (isinstance(dom, bool) or not isinstance(dom, int) or dom < 0):
            raise bad(f"dominant must be a non-negative integer, got {dom!r}")
    elif name == "tome":
        r = v["r"]
        if not _number(r) or r < 0 or (isinstance(r, float) and r >= 1 and r != int(r)):
            raise bad(f"r must be a token count >= 0 or a fraction in [0, 1), got {r!r}")
    elif name == "vitar":
        for key in ("rows", "cols"):
            val = v[key]
            if (val is not None or key == "rows") and (isinstance(val, bool) or not isinstance(val, int) or val < 1):
                raise bad(f"{key} must be a positive integer (the target grid), got {val!r}")
    elif name == "matryoshka":
        t = v["tokens"]
        if isinstance(t, bool) or not isinstance(t, int) or t < 1:
            raise bad(f"tokens must be a positive integer (the image's budget), got {t!r}")
    elif name == "prumerge":
        if not _number(v["ratio"]) or not 0 < v["ratio"] <= 1:
            raise bad(f"ratio must be in (0, 1], got {v['ratio']!r}")
        nb = v["neighbours"]
        if isinstance(nb, bool) or not isinstance(nb, int) or nb < 0:
            raise bad(f"neighbours must be a non-negative integer, got {nb!r}")
        if not isinstance(v["summary"], bool):
            raise bad(f"summary must be True or False, got {v['summary']!r}")


class Region(NamedTuple):
    """A run of the assembled sequence a reducer acts on: ``views`` it holds,
    ``prefix`` rows that pass through (a kept CLS), its ``grid`` (rows, cols) or None,
    its token count ``n`` (without prefix), ``newlines`` (a newline after each grid row),
    ``map``: True for the stitched tile map of an unpad-newline plan."""

    views: tuple[int, ...]
    prefix: int
    grid: tuple[int, int] | None
    n: int
    newlines: bool
    map: bool = False


def regions(plan: Any) -> list[Region]:
    """The regions of an un-reduced plan, in layout order."""
    c = plan.connector
    out = []
    if c.kind == "unpad-newline":
        base = plan.views[0]
        cls = c.keep_cls
        grid = base.token_grid if base.token_grid and base.token_grid[0] * base.token_grid[1] == base.tokens - cls else None
        out.append(Region((0,), cls, grid, base.tokens - cls, False))
        if plan.grid is not None:
            rows, cols = plan.info.get("interpolated_map") or plan.info["unpadded_map"]
            tiles = tuple(i for i, v in enumerate(plan.views) if i > 0 and v.tokens)
            out.append(Region(tiles, 0, (rows, cols), rows * cols, plan.newline_tokens > 0, True))
        return out
    for i, v in enumerate(plan.views):
        if not v.tokens:
            continue
        prefix = c.keep_cls if i == 0 else 0
        g = v.token_grid
        grid = g if g and g[0] * g[1] == v.tokens - prefix else None
        out.append(Region((i,), prefix, grid, v.tokens - prefix, False))
    return out


def reduce_region(region: Region, steps: tuple[Reducer, ...], spec: str) -> Region:
    """The region after ``steps``, in order."""
    for r in steps:
        if r.name == "pool":
            if region.grid is None:
                raise SpecError(
                    f"{spec}: pool needs a token grid, and a region of {region.n} tokens has none "
                    "(a resampler's queries, or tokens already pruned or merged)"
                )
            k = r.args["k"]
            rows, cols = -(-region.grid[0] // k), -(-region.grid[1] // k)
            region = region._replace(grid=(rows, cols), n=rows * cols)
        elif r.name == "vitar":
            if region.grid is None:
                raise SpecError(f"{spec}: vitar merges a token grid, and a region of {region.n} tokens has none")
            a = r.args
            rows, cols = min(region.grid[0], a["rows"]), min(region.grid[1], a["cols"] or a["rows"])
            region = region._replace(grid=(rows, cols), n=rows * cols)
        else:
            region = region._replace(grid=None, n=r.count(region.n), newlines=False)
    return region


def matryoshka_levels(grids: list[tuple[int, int]]) -> list[int]:
    """M3's nested pooling strides for regions of these grids, finest first: 1, 2, 4, ...
    below the longest side, then the longest side (one token a region)."""
    side = max((max(g) for g in grids), default=1)
    out, k = [], 1
    while k < side:
        out.append(k)
        k *= 2
    return out + [max(side, 1)]


def reducer_flops(plan: Any, width: int) -> int:
    """What the plan's reducers spend, on tokens ``width`` wide."""
    if not getattr(plan, "reducers", ()):
        return 0
    total = 0
    for region in regions(plan.unreduced):
        for r in plan.reducers:
            total += r.flops(region.n, width)
            region = reduce_region(region, (r,), plan.spec)
    return total

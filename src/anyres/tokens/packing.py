"""How each strategy's view features become its visual sequence (used by ``Assembler``).

Every packer follows its reference and emits rows in ``plan.layout`` order:

- fixed family: the view's features (a kept CLS first).
- anyres (transformers ``pack_image_features``, LLaVA-NeXT and OneVision): project every
  view, base view first; stitch the tiles into one (rows*side, cols*side) map, keep
  ``plan.info['unpadded_map']`` at ``unpad_offset``, bilinearly shrink to
  ``interpolated_map`` when the plan says so, then each map row followed by the
  image_newline embedding. A cell's position is the tile cell it comes from (after a
  shrink: the cell its centre falls in, the rule the plan's layout uses).
- internvl / idefics3: pixel shuffle each view's map, then the connector.
- native: the encoder's merged tokens, on the merged grid.
- slicing / gpt4v: one resampler per query count, every view to ``view.tokens`` tokens.
- s2: each scale's sub-views stitched, area-resized to the smallest scale's map,
  concatenated on channels.
- budget: the planner's native views merged k x k (``plan.info['merge']``): a merging
  tower's tokens as they are, else the patch map average-pooled k x k.
"""

from __future__ import annotations

import torch

from ..errors import ShapeError, SpecError
from ..plan.strategies.anyres_tiling import source_cells
from .compress import area_resize, avg_pool, bilinear_resize, space_to_depth, stitch_tiles
from .sequence import NEWLINE, VISUAL, VisualSequence, grid_positions, query_positions


class Rows:
    """Collects (embeddings, positions, kind) chunks in order."""

    def __init__(self) -> None:
        self.emb: list[torch.Tensor] = []
        self.pos: list[torch.Tensor] = []
        self.kind: list[torch.Tensor] = []

    def add(self, emb: torch.Tensor, pos: torch.Tensor, kind: torch.Tensor | int = VISUAL) -> None:
        assert emb.dim() == 2 and pos.shape == (emb.shape[0], 3), (emb.shape, pos.shape)
        if isinstance(kind, int):
            kind = torch.full((emb.shape[0],), kind, dtype=torch.int8)
        self.emb.append(emb)
        self.pos.append(pos.to(torch.int64))
        self.kind.append(kind)

    def build(self, width: int) -> VisualSequence:
        if not self.emb:
            return VisualSequence(torch.zeros(0, width), torch.zeros(0, 3, dtype=torch.int64), torch.zeros(0, dtype=torch.int8))
        return VisualSequence(torch.cat(self.emb), torch.cat(self.pos), torch.cat(self.kind))


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(-1, x.shape[-1])


def pack_fixed(asm, plan, feats) -> Rows:
    keep = 1 if plan.params.get("keep_cls") else 0
    cls, grid = asm.split_view(plan, 0, feats[0], keep)
    rows = Rows()
    rows.add(asm.project(torch.cat([cls, _flat(grid)])), grid_positions(grid.shape[0], grid.shape[1], 0, keep))
    return rows


def pack_anyres(asm, plan, feats) -> Rows:
    p, info = plan.params, plan.info
    keep = p["cls_tokens"] if p["feature_select_strategy"] == "full" else 0
    cls, base = asm.split_view(plan, 0, feats[0], keep)
    rows = Rows()
    rows.add(asm.project(torch.cat([cls, _flat(base)])), grid_positions(base.shape[0], base.shape[1], 0, keep))
    newline = asm.image_newline
    if plan.grid is None:  # OneVision multi-image: the base view and one newline
        if plan.newline_tokens:
            rows.add(newline[None].to(rows.emb[0]), torch.tensor([[-1, 0, -1]]), NEWLINE)
        return rows
    n_rows, n_cols = plan.grid
    tiles = torch.stack([asm.split_view(plan, 1 + k, feats[1 + k])[1] for k in range(n_rows * n_cols)])
    side = tiles.shape[1]
    full = stitch_tiles(asm.project(tiles), n_rows, n_cols)
    top, left = info["unpad_offset"]
    kept_h, kept_w = info["unpadded_map"]
    out_h, out_w = info.get("interpolated_map", info["unpadded_map"])
    fmap = full[top : top + kept_h, left : left + kept_w]
    if (out_h, out_w) != (kept_h, kept_w):
        fmap = bilinear_resize(fmap, (out_h, out_w))
    src_r = torch.tensor(source_cells(top, kept_h, out_h), dtype=torch.int64)
    src_c = torch.tensor(source_cells(left, kept_w, out_w), dtype=torch.int64)
    view = 1 + (src_r // side)[:, None] * n_cols + (src_c // side)[None, :]
    pos = torch.stack(
        [view, (src_r % side)[:, None].expand(-1, out_w), (src_c % side)[None, :].expand(out_h, -1)], dim=-1
    )
    kind = torch.full((out_h, out_w + 1), VISUAL, dtype=torch.int8)
    if newline is not None:
        nl_pos = torch.stack([torch.full((out_h,), -1), torch.arange(out_h), torch.full((out_h,), -1)], dim=-1)
        fmap = torch.cat([fmap, newline.to(fmap)[None, None].expand(out_h, 1, -1)], dim=1)
        pos = torch.cat([pos, nl_pos[:, None]], dim=1)
        kind[:, -1] = NEWLINE
    else:
        kind = kind[:, :-1]
    rows.add(_flat(fmap), pos.reshape(-1, 3), kind.flatten())
    return rows


def shuffle_factor(strategy: str, params) -> int:
    """The pixel-shuffle block side: 1/downsample_ratio (InternVL) or scale_factor (Idefics3)."""
    if strategy == "internvl":
        f = round(1 / params["downsample_ratio"])
        if abs(f * params["downsample_ratio"] - 1) > 1e-9:
            raise SpecError(f"downsample_ratio must be 1/k, got {params['downsample_ratio']}")
        return f
    return int(params["scale_factor"])


def pack_shuffled(asm, plan, feats) -> Rows:
    """InternVL (pixel shuffle 1/f + LayerNorm-MLP) and Idefics3 (shuffle f + Linear)."""
    f = shuffle_factor(plan.strategy, plan.params)
    maps = [asm.split_view(plan, i, x)[1] for i, x in enumerate(feats)]
    if all(m.shape == maps[0].shape for m in maps):
        outs = list(asm.project(space_to_depth(torch.stack(maps), f)))
    else:
        outs = [asm.project(space_to_depth(m, f)) for m in maps]
    rows = Rows()
    for i, o in enumerate(outs):
        rows.add(_flat(o), grid_positions(o.shape[0], o.shape[1], i))
    return rows


def pack_native(asm, plan, feats) -> Rows:
    m = plan.params["merge_size"]
    _, gh, gw = plan.info["grid_thw"]
    rows = Rows()
    for i, (v, x) in enumerate(zip(plan.views, feats)):
        if x.shape[0] != v.tokens:
            raise ShapeError(f"view {i}: qwen2-vl's encoder merges {gh}x{gw} patches into {v.tokens} tokens, got {x.shape[0]} rows")
        rows.add(asm.project(x), grid_positions(gh // m, gw // m, i))
    return rows


def pack_budget(asm, plan, feats) -> Rows:
    """The budget planner's native views: a merging tower's tokens as they come (its merge
    must be the plan's k), or a merge-free tower's patch map average-pooled k x k."""
    k = plan.info["merge"]
    rows = Rows()
    for i, (v, x) in enumerate(zip(plan.views, feats)):
        gh, gw = v.size.height // asm.patch_size // k, v.size.width // asm.patch_size // k
        if x.shape[0] == v.tokens:  # the encoder merged k x k already (a patch map has k*k times more rows)
            merged = x
        else:
            _, grid = asm.split_view(plan, i, x)
            merged = _flat(avg_pool(grid, k))
        rows.add(asm.project(merged), grid_positions(gh, gw, i))
    return rows


def pack_resampled(asm, plan, feats) -> Rows:
    outputs: dict[int, torch.Tensor] = {}
    by_count: dict[int, list[int]] = {}
    for i, v in enumerate(plan.views):
        by_count.setdefault(v.tokens, []).append(i)
    for q, views in by_count.items():
        if str(q) not in asm.resamplers:
            raise SpecError(f"no resampler with {q} queries (this assembler has {', '.join(asm.resamplers)})")
        maps = [asm.split_view(plan, i, feats[i])[1] for i in views]
        out = asm.resamplers[str(q)]([_flat(m) for m in maps], [(m.shape[0], m.shape[1]) for m in maps])
        outputs.update(zip(views, out))
    rows = Rows()
    for i, v in enumerate(plan.views):
        rows.add(outputs[i], query_positions(v.tokens, i))
    return rows


def pack_s2(asm, plan, feats) -> Rows:
    base = plan.info["feature_map"][0]
    merged = []
    level_views: dict[int, list[int]] = {}
    for i, v in enumerate(plan.views):
        level_views.setdefault(v.level, []).append(i)
    for level in sorted(level_views):
        views = level_views[level]
        k = plan.info["splits"][level]
        assert k * k == len(views), (k, len(views))
        maps = torch.stack([asm.split_view(plan, i, feats[i])[1] for i in views])
        merged.append(area_resize(stitch_tiles(maps, k, k), (base, base)))
    fmap = asm.project(torch.cat(merged, dim=-1))
    rows = Rows()
    first = level_views[min(level_views)]
    k0 = plan.info["splits"][0]
    g = base // k0
    for y in range(base):  # layout order: the stitched map row-major, across the split views
        for c in range(k0):
            i = first[(y // g) * k0 + c]
            pos = grid_positions(g, g, i)[(y % g) * g : (y % g + 1) * g]
            rows.add(fmap[y, c * g : (c + 1) * g], pos)
    return rows


PACKERS = {
    "fixed": pack_fixed,
    "anyres": pack_anyres,
    "internvl": pack_shuffled,
    "idefics3": pack_shuffled,
    "native": pack_native,
    "slicing": pack_resampled,
    "gpt4v": pack_resampled,
    "s2": pack_s2,
    "budget": pack_budget,
}

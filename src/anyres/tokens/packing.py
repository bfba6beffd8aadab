"""Assembly rules: how each strategy's view features become its visual sequence.

``ASSEMBLY`` maps a strategy name to a rule ``rule(asm, plan, feats) -> Rows`` that
emits rows in ``plan.layout`` order. Every rule reads what the plan says (each view's
``features`` and ``token_grid``, ``plan.connector``, the strategy's ``plan.info``);
none re-derives geometry. The built-in rules:

- ``per_view`` (fixed, dynamic, InternVL, Idefics3, Qwen2-VL, the budget planner, and
  any strategy whose views are compressed one by one): each view's patch map (a kept
  CLS first) compressed as the connector says (pool, pixel shuffle or Mistral 3's learned
  patch merger by the token stage; a tower that merged already gives its tokens as they
  are), projected, and placed in the order of the layout's segments.
- ``unpadded_tiles`` (LLaVA-NeXT and OneVision, transformers ``pack_image_features``):
  project every view, base view first; stitch the tiles into one map, keep
  ``plan.info['unpadded_map']`` at ``unpad_offset``, bilinearly shrink to
  ``interpolated_map`` when the plan says so, then each map row followed by the
  image_newline embedding. A cell's position is the tile cell it comes from (after a
  shrink: the cell its centre falls in, the rule the plan's layout uses).
- ``resampled`` (MiniCPM-V / LLaVA-UHD slicing, GPT-4V): one resampler per query count,
  every view to ``view.tokens`` tokens.
- ``scale_concat`` (S2): each scale's views stitched by their grid cells, area-resized
  to the smallest scale's map, concatenated on channels, placed as the layout says.

``register_assembly(strategy, rule)`` adds a strategy's rule (a new strategy usually
reuses ``per_view``).
"""

from __future__ import annotations

from typing import Callable

import torch

from ..errors import ShapeError, SpecError
from ..layers import LayerRegistry
from ..plan.strategies.anyres_tiling import source_cells
from ..plan.types import NEWLINE, VISUAL
from .compress import area_resize, avg_pool, bilinear_resize, space_to_depth, stitch_tiles
from .sequence import NEWLINE_ROW, VISUAL_ROW, VisualSequence, grid_positions, query_positions

ASSEMBLY: LayerRegistry[Callable] = LayerRegistry("tokens assembly", "anyres.tokens.register_assembly(strategy, rule)")


def register_assembly(strategy: str, rule: Callable, *, replace_existing: bool = False) -> Callable:
    """Give ``strategy`` an assembly rule (``per_view`` or one of your own)."""
    return ASSEMBLY.register(strategy, rule, replace_existing=replace_existing)


class Rows:
    """Collects (embeddings, positions, kind) chunks in order."""

    def __init__(self) -> None:
        self.emb: list[torch.Tensor] = []
        self.pos: list[torch.Tensor] = []
        self.kind: list[torch.Tensor] = []

    def add(self, emb: torch.Tensor, pos: torch.Tensor, kind: torch.Tensor | int = VISUAL_ROW) -> None:
        if emb.dim() != 2 or pos.shape != (emb.shape[0], 3):
            raise ShapeError(f"rows of shape {tuple(emb.shape)} with positions of shape {tuple(pos.shape)}")
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


def follow_layout(plan, streams: list, newline: torch.Tensor | None = None) -> Rows:
    """Rows in ``plan.layout`` order from each view's token stream ``streams[i] =
    (embeddings, positions)`` (rows in the view's own order): a visual segment of view
    i takes the next ``count`` rows of stream i, a newline segment the ``newline``
    embedding (position ``(-1, r, -1)``, r counting the newlines)."""
    rows = Rows()
    taken = [0] * len(streams)
    newlines = 0
    for seg in plan.layout.segments:
        if seg.kind == VISUAL:
            i, start = seg.view, taken[seg.view]
            emb, pos = streams[i]
            if start + seg.count > emb.shape[0]:
                raise ShapeError(f"the layout takes {start + seg.count} tokens from view {i}, which has {emb.shape[0]}")
            rows.add(emb[start : start + seg.count], pos[start : start + seg.count])
            taken[i] = start + seg.count
        elif seg.kind == NEWLINE:
            if newline is None:
                raise SpecError(f"{plan.preset}: the layout has newline embeddings and the assembler has none")
            pos = torch.stack([torch.full((seg.count,), -1), torch.arange(newlines, newlines + seg.count),
                               torch.full((seg.count,), -1)], dim=-1)
            rows.add(newline.to(rows.emb[-1] if rows.emb else newline)[None].expand(seg.count, -1), pos, NEWLINE_ROW)
            newlines += seg.count
    return rows


def per_view(asm, plan, feats) -> Rows:
    """Each view compressed on its own as ``plan.connector`` says, in layout order."""
    c = plan.connector
    pieces, cells = [], []
    for i, (v, x) in enumerate(zip(plan.views, feats)):
        if v.tokens == 0:
            pieces.append(None)
            continue
        keep = c.keep_cls if i == 0 else 0
        gh, gw = v.token_grid
        if asm.merger is None and v.token_grid != v.features and x.shape[0] == gh * gw:  # the tower merged already
            body, cls = x, x[:0]
        else:
            if c.kind == "patch-merger" and asm.merger is None:
                raise ShapeError(
                    f"view {i}: {plan.preset} expects a tower that merges {c.factor}x{c.factor} patches into "
                    f"{gh * gw} tokens, got {x.shape[0]} rows"
                )
            cls, grid = asm.split_view(plan, i, x, keep)
            if c.kind == "pool" and c.factor > 1:
                grid = avg_pool(grid, c.factor)
            elif c.kind == "pixel-shuffle":
                grid = space_to_depth(grid, c.factor)
            elif c.kind == "patch-merger":  # the token stage's learned merge (Mistral 3)
                grid = asm.merger(grid)
            body = _flat(grid)
        pieces.append(torch.cat([cls, body]) if keep else body)
        cells.append((i, gh, gw, keep))
    kept = [p for p in pieces if p is not None]
    projected = asm.project(torch.cat(kept)).split([p.shape[0] for p in kept]) if kept else []
    streams: list = [None] * len(plan.views)
    for (i, gh, gw, keep), emb in zip(cells, projected):
        streams[i] = (emb, grid_positions(gh, gw, i, keep))
    return follow_layout(plan, streams)


def unpadded_tiles(asm, plan, feats) -> Rows:
    info = plan.info
    keep = plan.connector.keep_cls
    cls, base = asm.split_view(plan, 0, feats[0], keep)
    rows = Rows()
    rows.add(asm.project(torch.cat([cls, _flat(base)])), grid_positions(base.shape[0], base.shape[1], 0, keep))
    newline = asm.image_newline
    if plan.grid is None:  # OneVision multi-image: the base view and one newline
        if plan.newline_tokens:
            rows.add(newline[None].to(rows.emb[0]), torch.tensor([[-1, 0, -1]]), NEWLINE_ROW)
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
    kind = torch.full((out_h, out_w + 1), VISUAL_ROW, dtype=torch.int8)
    if newline is not None:
        nl_pos = torch.stack([torch.full((out_h,), -1), torch.arange(out_h), torch.full((out_h,), -1)], dim=-1)
        fmap = torch.cat([fmap, newline.to(fmap)[None, None].expand(out_h, 1, -1)], dim=1)
        pos = torch.cat([pos, nl_pos[:, None]], dim=1)
        kind[:, -1] = NEWLINE_ROW
    else:
        kind = kind[:, :-1]
    rows.add(_flat(fmap), pos.reshape(-1, 3), kind.flatten())
    return rows


def resampled(asm, plan, feats) -> Rows:
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


def scale_concat(asm, plan, feats) -> Rows:
    """Each level's views stitched at their grid cells, resized to the first level's
    token map, concatenated on channels; the first level's views carry the tokens."""
    levels: dict[int, list[int]] = {}
    for i, v in enumerate(plan.views):
        levels.setdefault(v.level, []).append(i)
    first = levels[min(levels)]
    g = plan.views[first[0]].token_grid[0]
    k0 = _grid_side(plan, first)
    side = g * k0
    merged = []
    for level in sorted(levels):
        views = levels[level]
        k = _grid_side(plan, views)
        maps = torch.stack([asm.split_view(plan, i, feats[i])[1] for i in views])
        merged.append(area_resize(stitch_tiles(maps, k, k), (side, side)))
    fmap = asm.project(torch.cat(merged, dim=-1))
    streams: list = [None] * len(plan.views)
    for i in first:
        r, c = plan.views[i].grid or (0, 0)
        streams[i] = (_flat(fmap[r * g : (r + 1) * g, c * g : (c + 1) * g]), grid_positions(g, g, i))
    return follow_layout(plan, streams)


def _grid_side(plan, views: list[int]) -> int:
    """The side of the square grid a level's views form (row-major, as their cells say)."""
    k = max((plan.views[i].grid[1] + 1) if plan.views[i].grid else 1 for i in views)
    if k * k != len(views):
        raise ShapeError(f"{plan.preset}: a level of {len(views)} views is not a {k}x{k} grid")
    return k


for _name in ("fixed", "fixed-pad", "fixed-crop", "dynamic", "internvl", "idefics3", "native", "budget"):
    register_assembly(_name, per_view)
register_assembly("anyres", unpadded_tiles)
register_assembly("slicing", resampled)
register_assembly("gpt4v", resampled)
register_assembly("s2", scale_concat)

# Gemma 3 (pooled per view) and Pixtral / Mistral3 (a token a patch, or a tower that
# applies Mistral3's 2x2 patch merger itself)
register_assembly("pan-and-scan", per_view)
register_assembly("pixtral", per_view)

# Mllama: the language model cross-attends to every tile's states; the prompt holds one
# <|image|> token, so there is no visual sequence to assemble. Llama 4: pixel shuffle a view.
ASSEMBLY.unsupported(
    "mllama",
    "Mllama's language model cross-attends to the tiles' states (tiles x (patches + 1)); its prompt holds "
    "one <|image|> token and no visual rows to assemble",
)
register_assembly("llama4", per_view)
register_assembly("gemma4", per_view)  # Gemma 4: k x k average pooling a view

# --- Idefics2 and SigLIP2 NaFlex (fam-idefics) ---
# Idefics2: image_seq_len resampler queries a view (anyres' perceiver stands in for Idefics2's
# own until its tower and connector weights load); NaFlex: one token a valid patch.
register_assembly("idefics2", resampled)
register_assembly("naflex", per_view)

# --- Aria (fam-idefics) ---
# size_conversion[max_image_size] queries a crop (anyres' perceiver stands in for Aria's
# cross-attention projector until its weights load)
register_assembly("aria", resampled)

# --- Ovis2 (families) ---
# image_seq_length embeddings a view (anyres' perceiver stands in for Ovis2's visual tokenizer)
register_assembly("ovis2", resampled)

# --- MiniCPM-V 4.6 (families) ---
register_assembly("minicpm-v-4.6", per_view)  # one token a 4x4 (16x) or 2x2 (4x) patch block a view


# --- HunYuan-VL (families) ---
def rows_with_newlines(asm, plan, feats) -> Rows:
    """Each view's patch map pooled to its token grid (anyres' stand-in for HunYuan-VL's
    2x2 conv merger and DeepSeek-OCR 2's downsampling query encoder; an area resize where
    the grid is not a whole multiple), projected, then laid out as the plan's layout says
    with the learned newline embedding at its newline positions (HunYuan-VL's row
    newlines, begin and end; DeepSeek-OCR 2's view separator)."""
    streams: list = []
    for i, v in enumerate(plan.views):
        _, grid = asm.split_view(plan, i, feats[i])
        gh, gw = v.token_grid
        k = grid.shape[0] // gh
        if (grid.shape[0], grid.shape[1]) == (gh * k, gw * k) and k > 1:
            grid = avg_pool(grid, k)
        elif (grid.shape[0], grid.shape[1]) != (gh, gw):
            grid = area_resize(grid, (gh, gw))
        streams.append((asm.project(_flat(grid)), grid_positions(gh, gw, i)))
    return follow_layout(plan, streams, asm.image_newline)


register_assembly("hunyuan-vl", rows_with_newlines)

# --- DeepSeek-OCR 2 (families) ---
register_assembly("deepseek-ocr2", rows_with_newlines)  # pooled views + one learned view separator

# --- DeepSeek-VL and Janus (families) ---
register_assembly("deepseek-vl", per_view)

"""The two anyres batch outputs: views grouped by shape, and one packed patch sequence.

Both are allocated from the plans and filled from every image's views as (3, H, W)
uint8 arrays, normalising straight into the final arrays (no intermediate float copy
per view), in whatever order the views arrive. Each plan carries its pixel settings
(``plan.pixels``) and patch geometry (``plan.connector``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from ..errors import AnyresError, SpecError
from ..plan import Plan
from .processor_outputs import Fill, fill_all
from .normalize import normalise_view
from .patches import normalised_patches, patch_positions


@dataclass
class ViewGroup:
    """Views of one shape from across the batch: one encoder forward."""

    pixel_values: Any  # (n, 3, H, W) float32
    index: list[tuple[int, int]]  # (image, view) of each row


@dataclass
class PixelBatch:
    """Per image its plan; its views' pixels live in ``groups`` (one array per view
    shape, ready for one encoder forward each). ``views[i][j]`` is view j of image i,
    a view into its group's array (no copy).

    ``indices[i]`` is the position in the input of ``plans[i]``; inputs refused with
    ``on_error="skip"`` are listed in ``errors`` as (input position, error).
    """

    plans: list[Plan]
    groups: dict[tuple[int, int], ViewGroup]
    indices: list[int]
    errors: list[tuple[int, AnyresError]] = field(default_factory=list)
    return_tensors: str = "np"

    @property
    def views(self) -> list[list[Any]]:
        out: list[list[Any]] = [[None] * len(p.views) for p in self.plans]
        for group in self.groups.values():
            for row, (i, j) in enumerate(group.index):
                out[i][j] = group.pixel_values[row]
        return out

    def __len__(self) -> int:
        return len(self.plans)


def allocate_groups(plans: Sequence[Plan]) -> tuple[dict, Fill]:
    """Shape groups allocated from the plans, and the function that normalises view j
    of image i into its row (with image i's pixel settings)."""
    import numpy as np

    index: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for i, p in enumerate(plans):
        for j, v in enumerate(p.views):
            index.setdefault((v.size.height, v.size.width), []).append((i, j))
    groups, place = {}, {}
    for (h, w), idx in index.items():
        groups[(h, w)] = ViewGroup(np.empty((len(idx), 3, h, w), dtype=np.float32), idx)
        for row, ij in enumerate(idx):
            place[ij] = groups[(h, w)].pixel_values[row]

    def fill(i: int, j: int, v: Any) -> None:
        px = plans[i].pixels
        normalise_view(v, px.mean, px.std, px.rescale, out=place[i, j])

    return groups, fill


@dataclass
class PackedBatch:
    """Every view of every image as one patch sequence (Qwen2-VL's layout).

    ``patches``: (N, 3 * temporal * p * p); ``positions``: (N, 4) = (image, view, row,
    col) of each patch; ``grid_thw``: one (t, h, w) row per view; ``cu_seqlens``: the
    boundaries of the views in the sequence (for block-diagonal attention).
    """

    plans: list[Plan]
    patches: Any
    positions: Any
    grid_thw: Any
    cu_seqlens: Any
    indices: list[int] = field(default_factory=list)
    errors: list[tuple[int, AnyresError]] = field(default_factory=list)
    # after NaViT token dropping (``anyres.pixels.dropping``): each row's index in the
    # full sequence; ``grid_thw`` still describes the full views the positions index into
    kept: Any = None


def allocate_packed(plans: Sequence[Plan], return_tensors: str = "np") -> tuple[PackedBatch, Fill]:
    """One patch sequence for many images, allocated from the plans: every view
    patchified as its plan's connector says (patch size, the merge block order the tower
    expects, frames per patch); and the function that fills view j of image i."""
    import numpy as np

    layout = []  # (image, view, patch, merge, temporal, rows, cols)
    for i, p in enumerate(plans):
        c = p.connector
        patch, merge, temporal = c.patch_size, c.packing_merge, c.temporal_patch
        for j, v in enumerate(p.views):
            w, h = v.size
            if h % (patch * merge) or w % (patch * merge):
                raise SpecError(
                    f"view {j} of image {i} is {w}x{h}, not a multiple of {patch * merge} px: cannot pack "
                    f"({p.preset} views are not whole {patch}x{patch} patches{' merge blocks' if merge > 1 else ''})"
                )
            layout.append((i, j, patch, merge, temporal, h // patch, w // patch))
    widths = {3 * t * p * p for _, _, p, _, t, _, _ in layout}
    if not layout:  # every input refused (on_error="skip"): an empty sequence
        widths = {3 * p.connector.temporal_patch * p.connector.patch_size**2 for p in plans[:1]} or {0}
    if len(widths) != 1:
        raise SpecError(f"cannot pack views with different patch vector lengths {sorted(widths)} in one sequence")
    lengths = [gh * gw for *_, gh, gw in layout]
    cu = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    patches = np.empty((int(cu[-1]), widths.pop()), dtype=np.float32)
    positions = np.empty((int(cu[-1]), 4), dtype=np.int64)
    where = {}
    for k, (i, j, patch, merge, temporal, gh, gw) in enumerate(layout):
        sl = slice(int(cu[k]), int(cu[k + 1]))
        where[i, j] = (sl, patch, merge, temporal)
        rows, cols = patch_positions(gh, gw, merge)
        positions[sl, 0], positions[sl, 1], positions[sl, 2], positions[sl, 3] = i, j, rows, cols
    grid_thw = np.array([[1, gh, gw] for *_, gh, gw in layout], dtype=np.int64).reshape(-1, 3)
    out = PackedBatch(list(plans), patches, positions, grid_thw, cu)
    if return_tensors == "pt":  # torch shares the numpy memory that ``fill`` writes
        import torch

        for name in ("patches", "positions", "grid_thw", "cu_seqlens"):
            setattr(out, name, torch.from_numpy(getattr(out, name)))

    def fill(i: int, j: int, v: Any) -> None:
        sl, patch, merge, temporal = where[i, j]
        px = plans[i].pixels
        normalised_patches(v, patch, merge, temporal, px.mean, px.std, px.rescale, out=patches[sl])

    return out, fill


def pack(plans: Sequence[Plan], views: Sequence[Sequence[Any]], return_tensors: str = "np") -> PackedBatch:
    """One patch sequence for many images (see ``allocate_packed``)."""
    out, fill = allocate_packed(plans, return_tensors)
    fill_all(fill, views)
    return out

"""What happens between the vision encoder and the language model, as the plan states it.

A ``Connector`` is the part of a plan that the pixel, encoder and token layers read
instead of re-deriving it from a strategy's parameters: the patch the encoder cuts,
how many patches the tower itself merges, how features are compressed into tokens,
which learned parts that takes, and which position ids the language model uses. Each
strategy builds one from its parameters (``Strategy.connector``); ``view_grids`` turns
it into each view's feature grid and token grid.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from ..errors import SpecError

# The kinds of compression between encoder features and language-model tokens.
KINDS = (
    "none",  # one token a patch feature
    "pool",  # k x k average pooling (by the token stage, or a tower that merges k x k)
    "pixel-shuffle",  # k x k space-to-depth, then a projector (InternVL, Idefics3)
    "patch-merger",  # k x k patches merged with learned weights: by the tower (Qwen2-VL), or by the
    # token stage when no tower applies that merge (factor not in tower_merges: Mistral 3)
    "resampler",  # learned queries cross-attend to each view's features (MiniCPM-V, LLaVA-UHD)
    "unpad-newline",  # tiles stitched, padding removed, a learned newline a row (LLaVA-NeXT)
    "scale-concat",  # multi-scale maps resized to the smallest and concatenated on channels (S2)
)
POSITION_IDS = ("1d", "mrope")


class Connector(NamedTuple):
    """How one plan's encoder features become its visual tokens.

    - ``kind``: one of ``KINDS``; ``factor``: its side (pool / shuffle / merge k, the
      number of scales for ``scale-concat``; 1 otherwise).
    - ``learned``: the compression itself has weights (a merger, a resampler, a newline
      embedding), besides any projector.
    - ``patch_size``: the encoder patch the token counts assume; ``temporal_patch``:
      frames per patch in the patch vectors (2 for Qwen2-VL's images, else 1).
    - ``tower_merges``: the merge sizes an encoder may apply itself (1: a merge-free
      tower; Qwen2-VL's tower merges ``merge_size``); ``packing_merge``: the merge block
      side patches are ordered by in a packed sequence (the order the tower expects).
    - ``keep_cls``: CLS rows that view 0 keeps among its tokens.
    - ``projector``: the preset's own projector kind (``"auto"``: none when the widths
      match, else ``mlp2x_gelu``; or a name of ``anyres.tokens.PROJECTORS``, such as
      InternVL's ``"norm_mlp"`` and Idefics3's ``"linear_nobias"``); ``queries``: the resampler query counts; ``query_grid``: the
      patch grid of the resampler's interpolated position embedding (LLaVA-UHD), 0 for
      none.
    - ``position_ids``: ``"1d"`` or ``"mrope"`` (Qwen2-VL's 3-D rotary ids).
    """

    kind: str = "none"
    factor: int = 1
    learned: bool = False
    patch_size: int = 14
    temporal_patch: int = 1
    packing_merge: int = 1
    tower_merges: tuple[int, ...] = (1,)
    keep_cls: int = 0
    projector: str = "auto"
    queries: tuple[int, ...] = ()
    query_grid: int = 0
    position_ids: str = "1d"

    @property
    def channels(self) -> int:
        """Encoder channels per token after compression, in units of the encoder width."""
        if self.kind == "pixel-shuffle":
            return self.factor * self.factor
        if self.kind == "scale-concat":
            return self.factor
        return 1

    def to_dict(self) -> dict[str, Any]:
        out = self._asdict()
        out["tower_merges"] = list(self.tower_merges)
        out["queries"] = list(self.queries)
        return out


def check_connector(c: Connector, strategy: str) -> Connector:
    """A connector a strategy declared, checked once (``register_strategy``)."""
    if not isinstance(c, Connector):
        raise SpecError(f"strategy {strategy!r}: connector() must return an anyres.plan.Connector, got {type(c).__name__}")
    if c.kind not in KINDS:
        raise SpecError(f"strategy {strategy!r}: connector kind {c.kind!r} is not one of {', '.join(KINDS)}")
    if c.position_ids not in POSITION_IDS:
        raise SpecError(f"strategy {strategy!r}: position_ids {c.position_ids!r} is not one of {', '.join(POSITION_IDS)}")
    for name in ("factor", "patch_size", "temporal_patch", "packing_merge"):
        v = getattr(c, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise SpecError(f"strategy {strategy!r}: connector {name} must be a positive integer, got {v!r}")
    if not c.tower_merges or any(isinstance(m, bool) or not isinstance(m, int) or m < 1 for m in c.tower_merges):
        raise SpecError(f"strategy {strategy!r}: connector tower_merges must be positive integers, got {c.tower_merges!r}")
    return c


def view_grids(view: Any, c: Connector) -> tuple[tuple[int, int], tuple[int, int]]:
    """(features, token_grid) of a view: the (rows, cols) of patch features the encoder
    gives for it, and of the cells its token positions live on after compression;
    (0, 0) for a view that contributes no tokens."""
    p = c.patch_size
    features = (view.size.height // p, view.size.width // p)
    if view.tokens == 0:
        return features, (0, 0)
    if c.kind == "resampler":
        return features, query_grid(view.tokens)
    if c.kind in ("pool", "pixel-shuffle", "patch-merger"):
        return features, (features[0] // c.factor, features[1] // c.factor)
    return features, features


def query_grid(num_queries: int) -> tuple[int, int]:
    """The grid a resampler's queries are laid on: ``side = ceil(sqrt(Q))`` columns,
    query q at ``(q // side, q % side)``. Queries have no place in the image; this is a
    convention that keeps positions unique and 2-D (64 queries -> 8x8)."""
    if num_queries <= 0:
        return (0, 0)
    side = math.isqrt(num_queries)
    if side * side < num_queries:
        side += 1
    return (-(-num_queries // side), side)

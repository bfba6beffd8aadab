"""The Plan: what the vision side of a VLM looks at for one image, and what it costs."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .connector import Connector
from .diagnostics import Diagnostics, diagnose
from .types import Canvas, Layout, Size, View


@dataclass(frozen=True, slots=True)
class PlanParts:
    """What a strategy function returns; ``plan()`` adds the preset it came from."""

    canvases: tuple[Canvas, ...]
    views: tuple[View, ...]
    grid: tuple[int, int] | None
    newline_tokens: int = 0
    info: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Plan:
    """A frozen description of how one image becomes visual tokens.

    - ``num_tokens``: the token positions the language model sees for this image
      (encoder features after compression plus learned newline embeddings), counted
      exactly as the reference model does. Equals
      ``sum(v.tokens for v in views) + newline_tokens``.
    - ``layout``: the placeholder sequence for the prompt, wrapper text tokens
      included; ``len(plan.layout)`` is what the reference processor reserves.
    - ``grid``: ``(rows, cols)`` of the tile or slice grid, ``None`` if not tiled.
    - ``views``: what the encoder sees, in the reference's order.
    - ``diagnostics``: padding, distortion, effective scale, overlap, cut lines.
    - ``info``: strategy-specific facts (best resolution, grid_thw, unpadded map, ...).
    - ``connector``: how encoder features become tokens (``anyres.plan.Connector``);
      each view's ``features`` and ``token_grid`` follow from it.
    - ``pixels``: how the pixel layer renders the views (the preset's ``PixelSettings``).

    A plan carries everything the layers after planning read, so a pickled plan needs
    nothing from the receiving process's registries (its layout is computed before it
    is pickled).
    """

    preset: str
    strategy: str
    params: dict[str, Any]
    overrides: dict[str, Any]
    image: Size
    canvases: tuple[Canvas, ...]
    views: tuple[View, ...]
    grid: tuple[int, int] | None
    num_tokens: int
    newline_tokens: int = 0
    info: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    connector: Connector = Connector()
    pixels: Any = None  # PixelSettings (registry.py imports this module)
    # token reducers from the spec ("+pool(2)", anyres.plan.reducers) and the plan before
    # them (what the encoder and the assembly run on); () and None without reducers
    reducers: tuple = ()
    unreduced: "Plan | None" = None

    @cached_property
    def layout(self) -> Layout:
        if self.reducers:
            from .reduced import reduced_layout

            return reduced_layout(self)
        from .strategies import STRATEGIES

        return STRATEGIES[self.strategy].layout(self)

    @cached_property
    def diagnostics(self) -> Diagnostics:
        return diagnose(self.views, self.image, self.warnings)

    def cost(self, encoder: Any = None, llm: Any = None, context: int | None = None, dtype: Any = "bfloat16"):
        """What this plan costs (``anyres.plan.cost.Cost``): encoder FLOPs (patch
        embedding, projections, attention, MLP), connector FLOPs, language-model prefill
        FLOPs and KV-cache bytes of the image's prompt positions, and their share of
        ``context``. ``encoder`` / ``llm``: a named size (``anyres.plan.sizes``), a
        transformers config or a model folder; every argument is optional."""
        from .cost import cost

        return cost(self, encoder, llm, context, dtype)

    @property
    def spec(self) -> str:
        """A spec string that reproduces this plan: ``name(key=value, ...)``."""
        from .spec import format_spec

        return format_spec(self.preset, self.overrides) + "".join("+" + r.spec() for r in self.reducers)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Plan):
            return NotImplemented
        return (self.preset, self.params, self.image, self.views, self.canvases, self.reducers) == (
            other.preset,
            other.params,
            other.image,
            other.views,
            other.canvases,
            other.reducers,
        )

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def _assemble(cls, fields: dict[str, Any]) -> "Plan":
        """A plan from every one of its fields, without the frozen dataclass's per-field
        ``object.__setattr__`` (planning makes tens of thousands a second)."""
        plan = object.__new__(cls)
        plan.__dict__.update(fields)
        return plan

    def __getstate__(self) -> dict:
        self.layout  # computed here, so the receiver needs no registered strategy
        if self.unreduced is not None:
            self.unreduced.layout
        return self.__dict__

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def to_dict(self, *, layout: bool = True, diagnostics: bool = True) -> dict:
        """A JSON-ready dict (tuples become lists, boxes become [l, t, r, b])."""
        out: dict[str, Any] = {
            "preset": self.preset,
            "spec": self.spec,
            "strategy": self.strategy,
            "image": [self.image.width, self.image.height],
            "num_tokens": self.num_tokens,
            "newline_tokens": self.newline_tokens,
            "grid": list(self.grid) if self.grid is not None else None,
            "views": [v.to_dict() for v in self.views],
            "canvases": [
                {
                    "source": list(c.source),
                    "steps": [[s.width, s.height] for s in c.steps],
                    "padded": [c.padded.width, c.padded.height],
                    "offset": list(c.offset),
                }
                for c in self.canvases
            ],
            "info": _jsonable(self.info),
            "connector": self.connector.to_dict(),
            "params": _jsonable(self.params),
        }
        if layout:
            out["layout"] = self.layout.to_dict()
        if diagnostics:
            out["diagnostics"] = self.diagnostics.to_dict()
        return out

    def __repr__(self) -> str:
        grid = f"grid {self.grid[0]}x{self.grid[1]}, " if self.grid else ""
        head = (
            f"Plan({self.spec}, image {self.image}: {len(self.views)} views, {grid}"
            f"{self.num_tokens} tokens"
        )
        if len(self.layout) != self.num_tokens:
            head += f", layout {len(self.layout)}"
        lines = [head + ")"]
        shown = self.views if len(self.views) <= 12 else self.views[:11]
        for i, v in enumerate(shown):
            pos = f" r{v.grid[0]}c{v.grid[1]}" if v.grid else ""
            src = v.source
            lines.append(
                f"  [{i}] {v.role}{pos}: source ({src.left:.0f},{src.top:.0f})-({src.right:.0f},"
                f"{src.bottom:.0f}) -> {v.size}, {v.tokens} tokens"
            )
        if len(shown) < len(self.views):
            lines.append(f"  ... {len(self.views) - len(shown)} more views")
        return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Size):
        return [value.width, value.height]
    return value

"""One registry per layer, keyed by strategy name.

Each layer after planning (the transformers outputs of ``anyres.pixels``, the assembly
rules of ``anyres.tokens``, the encoder checks of ``anyres.pipeline``, the processor
glue of ``anyres.hf``) keeps what it does for each strategy in a ``LayerRegistry``
filled next to its implementation. A strategy registered from outside the package
registers its entries with the same public calls (``register``), or marks a layer
``unsupported`` with the reason; a lookup of a strategy the layer does not know raises
``SpecError`` naming the layer and how to add it. ``LAYERS`` lists every registry, so a
test can check that each registered strategy has an entry (or an explicit refusal) in
each.
"""

from __future__ import annotations

from typing import Any, Callable, Generic, TypeVar

from .errors import SpecError

T = TypeVar("T")

LAYERS: dict[str, "LayerRegistry"] = {}


class LayerRegistry(Generic[T]):
    """What one layer does for each strategy.

    ``layer``: the layer's name in messages; ``how``: the public call that adds an
    entry (said in the error for a strategy without one).
    """

    def __init__(self, layer: str, how: str) -> None:
        if layer in LAYERS:
            raise SpecError(f"a layer registry named {layer!r} already exists")
        self.layer, self.how = layer, how
        self._entries: dict[str, T] = {}
        self._refused: dict[str, str] = {}
        LAYERS[layer] = self

    def register(self, strategy: str, entry: T, *, replace_existing: bool = False) -> T:
        """Add ``entry`` for ``strategy`` (a duplicate is refused unless replaced on purpose)."""
        if not isinstance(strategy, str) or not strategy:
            raise SpecError(f"{self.layer}: a strategy name must be a non-empty string, got {strategy!r}")
        if (strategy in self._entries or strategy in self._refused) and not replace_existing:
            raise SpecError(f"{self.layer}: strategy {strategy!r} already has an entry (pass replace_existing=True)")
        self._refused.pop(strategy, None)
        self._entries[strategy] = entry
        return entry

    def unsupported(self, strategy: str, reason: str, *, replace_existing: bool = False) -> None:
        """Say on purpose that this layer does not serve ``strategy``, and why."""
        if (strategy in self._entries or strategy in self._refused) and not replace_existing:
            raise SpecError(f"{self.layer}: strategy {strategy!r} already has an entry (pass replace_existing=True)")
        self._entries.pop(strategy, None)
        self._refused[strategy] = reason

    def unregister(self, strategy: str) -> None:
        self._entries.pop(strategy, None)
        self._refused.pop(strategy, None)

    def get(self, strategy: str) -> T:
        """The entry for ``strategy``; ``SpecError`` naming the layer when there is none."""
        try:
            return self._entries[strategy]
        except KeyError:
            pass
        if strategy in self._refused:
            raise SpecError(f"{self.layer} does not support strategy {strategy!r}: {self._refused[strategy]}")
        raise SpecError(
            f"{self.layer} has no entry for strategy {strategy!r} (known: {', '.join(sorted(self._entries))}); "
            f"add one with {self.how}"
        )

    def covers(self, strategy: str) -> bool:
        """True when the strategy has an entry or an explicit refusal."""
        return strategy in self._entries or strategy in self._refused

    def supports(self, strategy: str) -> bool:
        return strategy in self._entries

    def decorator(self, *strategies: str) -> Callable[[T], T]:
        """``@registry.decorator("a", "b")`` registers the decorated object for each name."""

        def wrap(entry: T) -> T:
            for s in strategies:
                self.register(s, entry)
            return entry

        return wrap

    def __repr__(self) -> str:
        return f"LayerRegistry({self.layer!r}: {', '.join(sorted(self._entries))})"


def missing_entries(strategies: Any) -> list[str]:
    """``layer: strategy`` for each strategy in ``strategies`` a layer neither serves nor
    refuses (the completeness check)."""
    return [f"{name}: {s}" for name, reg in LAYERS.items() for s in strategies if not reg.covers(s)]

"""A read-only dict for parameters that many plans share.

``resolve`` caches one parameter dict per spec, and every plan of that spec holds the
same object; a caller that changed it would change every other plan and the cache.
``FrozenDict`` is a ``dict`` (so ``isinstance``, ``==`` with a plain dict, ``json`` and
``dict(params)`` keep working at dict speed) whose every mutating method raises
``TypeError``. It pickles as itself, and hashes when its values do.
"""

from __future__ import annotations

from typing import Any, NoReturn


class FrozenDict(dict):
    __slots__ = ("_hash",)

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(
            "plan parameters are read-only (shared by every plan of the spec); "
            "copy them with dict(plan.params) to change a copy"
        )

    __setitem__ = __delitem__ = __ior__ = _refuse  # type: ignore[assignment]
    clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]

    def __reduce__(self) -> tuple:
        # a dict subclass otherwise unpickles through __setitem__, which refuses
        return (FrozenDict, (dict(self),))

    def __copy__(self) -> "FrozenDict":
        return self

    def __deepcopy__(self, memo: dict) -> "FrozenDict":
        import copy

        return FrozenDict({k: copy.deepcopy(v, memo) for k, v in self.items()})

    def __hash__(self) -> int:  # type: ignore[override]
        try:
            return self._hash
        except AttributeError:
            h = hash(frozenset(self.items()))  # TypeError when a value is unhashable
            self._hash = h
            return h

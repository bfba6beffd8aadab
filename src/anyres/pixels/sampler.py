"""Batches without padding: group dataset items by the shapes of their views.

``ShapeGroupedBatchSampler`` plans every item once (sizes only, no pixels) and yields
lists of indices whose views have identical shapes, so each batch stacks into tensors
without padding: the aspect-ratio bucketing of dynamic-resolution training. It works as
a ``batch_sampler`` for ``torch.utils.data.DataLoader`` (it is an iterable of index
lists with a ``len``) without importing torch. ``ResolutionSchedule`` changes a preset
parameter with the epoch (for example more tiles as training goes on).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from ..errors import SpecError
from ..plan import plan, resolve
from ..plan.spec import format_spec, parse_spec, split_spec


def shape_key(p) -> tuple[tuple[int, int], ...]:
    """The (height, width) of every view, in order: items with equal keys stack."""
    return tuple((v.size.height, v.size.width) for v in p.views)


class ShapeGroupedBatchSampler:
    def __init__(
        self,
        sizes: Sequence[tuple[int, int]],
        preset: str,
        batch_size: int,
        *,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
    ) -> None:
        if batch_size < 1:
            raise SpecError(f"batch_size must be at least 1, got {batch_size}")
        self.preset, self.batch_size, self.shuffle, self.drop_last, self.seed = preset, batch_size, shuffle, drop_last, seed
        self.epoch = 0
        self.groups: dict[tuple, list[int]] = {}
        for i, size in enumerate(sizes):
            self.groups.setdefault(shape_key(plan(size, preset)), []).append(i)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        rng = random.Random(self.seed * 100_003 + self.epoch)
        batches = []
        for key in sorted(self.groups):
            idx = list(self.groups[key])
            if self.shuffle:
                rng.shuffle(idx)
            for k in range(0, len(idx), self.batch_size):
                chunk = idx[k : k + self.batch_size]
                if len(chunk) == self.batch_size or not self.drop_last:
                    batches.append(chunk)
        if self.shuffle:
            rng.shuffle(batches)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._batches())

    def __len__(self) -> int:
        n = 0
        for idx in self.groups.values():
            full, rest = divmod(len(idx), self.batch_size)
            n += full + (1 if rest and not self.drop_last else 0)
        return n


@dataclass(frozen=True)
class ResolutionSchedule:
    """A preset parameter that changes with the epoch.

    >>> s = ResolutionSchedule("internvl", "max_tiles", ((0, 1), (2, 4), (5, 12)))
    >>> s.spec(3)
    'internvl(max_tiles=4)'
    """

    preset: str
    param: str
    milestones: tuple[tuple[int, Any], ...]  # (first epoch, value), increasing epochs

    def __post_init__(self) -> None:
        epochs = [e for e, _ in self.milestones]
        if not epochs or epochs != sorted(epochs) or epochs[0] != 0:
            raise SpecError(f"milestones must start at epoch 0 and increase, got {self.milestones!r}")
        for _, value in self.milestones:  # every value must make a valid preset
            resolve(self.preset, **{self.param: value})

    @classmethod
    def linear(cls, preset: str, param: str, start: int, end: int, epochs: int) -> "ResolutionSchedule":
        """Integer values from ``start`` to ``end`` spread evenly over ``epochs``."""
        steps = max(1, epochs - 1)
        ms: list[tuple[int, Any]] = []
        for e in range(epochs):
            v = round(start + (end - start) * e / steps)
            if not ms or ms[-1][1] != v:
                ms.append((e, v))
        return cls(preset, param, tuple(ms))

    def value(self, epoch: int) -> Any:
        current = self.milestones[0][1]
        for first, v in self.milestones:
            if epoch >= first:
                current = v
        return current

    def spec(self, epoch: int) -> str:
        name, kwargs = parse_spec(self.preset)
        kwargs[self.param] = self.value(epoch)
        base, _ = split_spec(self.preset)
        return format_spec(name, kwargs) + self.preset[len(base):]  # the token reducers stay

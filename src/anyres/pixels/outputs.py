"""The three outputs of ``preprocess``, behind one protocol.

``OUTPUTS[name](plans, return_tensors) -> Allocation`` allocates an output from the
plans alone. ``allocation.fill(i, j, view)`` normalises view j of image i (a (3, H, W)
uint8 array) into its place, in any order; ``allocation.result(indices, errors)`` is
what the caller gets once every view is in. ``preprocess`` and the local dataset engine
both build their batches this way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ..plan import Plan
from .batch import PixelBatch, allocate_groups, allocate_packed
from .processor_outputs import Fill, allocate_hf, fill_all


@dataclass
class Allocation:
    """An output being filled: ``fill`` puts views in, ``result`` hands it over."""

    plans: list[Plan]
    data: Any
    fill: Fill
    finish: Callable[["Allocation", list[int], list], Any]

    def fill_all(self, views: Sequence[Sequence[Any]]) -> "Allocation":
        fill_all(self.fill, views)
        return self

    def result(self, indices: list[int], errors: list) -> Any:
        return self.finish(self, indices, errors)


def _groups(plans: Sequence[Plan], return_tensors: str) -> Allocation:
    def finish(a: Allocation, indices: list[int], errors: list) -> PixelBatch:
        if return_tensors == "pt":
            import torch

            for g in a.data.values():
                g.pixel_values = torch.from_numpy(g.pixel_values)
        return PixelBatch(a.plans, a.data, indices, errors, return_tensors)

    return Allocation(list(plans), *allocate_groups(plans), finish)


def _packed(plans: Sequence[Plan], return_tensors: str) -> Allocation:
    def finish(a: Allocation, indices: list[int], errors: list) -> Any:
        a.data.indices, a.data.errors = indices, errors
        return a.data

    return Allocation(list(plans), *allocate_packed(plans, return_tensors), finish)


def _hf(plans: Sequence[Plan], return_tensors: str) -> Allocation:
    return Allocation(list(plans), *allocate_hf(plans, return_tensors), lambda a, indices, errors: a.data)


OUTPUTS: dict[str, Callable[[Sequence[Plan], str], Allocation]] = {"anyres": _groups, "hf": _hf, "packed": _packed}

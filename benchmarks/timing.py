"""Timing for the benchmarks: the best of several passes (this VM's timings are noisy;
the least disturbed pass is the most faithful)."""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable


def best_times(
    fns: list[Callable[[], Any]], repeats: int = 3, warm_up: bool = False, clock: Callable[[], float] = time.perf_counter
) -> list[float]:
    """The fastest of ``repeats`` calls of each function; rounds alternate between the
    functions, so that a burst of load on this shared VM hits all of them alike.
    ``clock=time.process_time`` measures CPU time (single-threaded contenders only)."""
    if warm_up:
        for fn in fns:
            fn()
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = clock()
            fn()
            best[i] = min(best[i], clock() - start)
    return best


def best_time(fn: Callable[[], Any], repeats: int = 3) -> float:
    """Seconds of the fastest of ``repeats`` calls of ``fn()``."""
    return best_times([fn], repeats)[0]


def best_pass(fn: Callable[[Any], Any], items: Iterable[Any], repeats: int = 5) -> float:
    """Seconds of the fastest of ``repeats`` passes of ``fn(item)`` over ``items``."""
    items = list(items)
    return best_time(lambda: [fn(it) for it in items], repeats)

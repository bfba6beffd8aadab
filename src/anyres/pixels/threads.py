"""The threading policy of a ``preprocess`` call.

Per-view work is small (a 336 x 336 view is 0.1 megapixels): a parallel region over it
costs a wake-up of every thread of the pool, and on a busy machine the call then waits
for a thread that the scheduler has given to another process (measured: torch's two
default threads made the exact path 0.37-0.75x transformers' with one CPU-bound
competitor, one thread 1.05-1.6x). So anyres runs its kernels on ``num_threads``
threads (default 1) and gets its parallelism across images, from worker processes
(``num_workers``):

- ``num_threads``: ``preprocess``'s argument, else the environment variable
  ``ANYRES_NUM_THREADS``, else 1. More than one lets the large whole-image resizes (the
  resampler's and torch's, above ``PARALLEL_MIN_PIXELS`` output pixels) use that many
  threads; per-view resizes and normalisation stay on one thread.
- The setting is scoped to the call: torch's intra-op thread count and the resampler's
  are set on entry and restored on exit (torch's is process-wide, so a caller running
  torch in another thread meanwhile sees it too).
- Worker processes always run one thread each.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

from ..errors import SpecError

ENV_THREADS = "ANYRES_NUM_THREADS"
PARALLEL_MIN_PIXELS = 1 << 20  # output pixels under which a torch resize runs on one thread
_current = 1


def resolve_threads(num_threads: object = None) -> int:
    """``num_threads`` as a thread count (None: ``ANYRES_NUM_THREADS``, else 1), or a
    ``SpecError`` naming the value."""
    name = "num_threads"
    if num_threads is None:
        raw = os.environ.get(ENV_THREADS, "").strip()
        if not raw:
            return 1
        try:
            num_threads = int(raw)
        except ValueError:
            raise SpecError(f"{ENV_THREADS} must be an integer >= 1, got {raw!r}") from None
        name = ENV_THREADS
    if isinstance(num_threads, bool) or not isinstance(num_threads, int):
        raise SpecError(f"{name} must be an int >= 1, got {num_threads!r} ({type(num_threads).__name__})")
    limit = max(1, os.cpu_count() or 1)
    if not 1 <= num_threads <= limit:
        raise SpecError(f"{name} must be between 1 and this machine's {limit} cores, got {num_threads}")
    return num_threads


def current() -> int:
    """The thread count of the ``preprocess`` call in progress (1 outside one)."""
    return _current


@contextlib.contextmanager
def scope(n: int, torch_too: bool = True) -> Iterator[None]:
    """Run the block with ``n`` kernel threads (torch's and the resampler's), restoring
    both afterwards. torch is imported for this only when ``torch_too`` (the fast path
    and torch outputs use it) or when it is already imported."""
    global _current
    from . import resample

    previous = _current
    saved_resample = resample._threads
    torch = None
    if torch_too or "torch" in sys.modules:
        try:
            import torch
        except ImportError:
            torch = None
    saved_torch = torch.get_num_threads() if torch is not None else None
    try:
        _current = n
        resample.set_threads(n)
        if torch is not None and saved_torch != n:
            torch.set_num_threads(n)
        yield
    finally:
        _current = previous
        resample.set_threads(saved_resample)
        if torch is not None and torch.get_num_threads() != saved_torch:
            torch.set_num_threads(saved_torch)


@contextlib.contextmanager
def torch_single_thread(work_pixels: int) -> Iterator[None]:
    """One torch thread for a small resize (under ``PARALLEL_MIN_PIXELS`` output pixels)
    while the call allows several; nothing to do when it allows one."""
    if _current <= 1 or work_pixels >= PARALLEL_MIN_PIXELS:
        yield
        return
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(saved)

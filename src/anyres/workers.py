"""How many worker processes a caller may ask for.

``check_workers(n)`` is called where a worker count enters anyres (``preprocess``'s and
the pipeline's ``num_workers``, ``encode_dataset``'s ``workers``, ``encode-dataset
--workers``): an ``int`` >= 0 (not a bool, a string or a float), at most the machine's
cores (``os.cpu_count()``). More processes than cores only add memory and contention,
and a typo (``10**6``) would fork until the machine stops. The limit is raised on
purpose with ``force=True`` or the environment variable ``ANYRES_MAX_WORKERS``
(an integer: the new limit).
"""

from __future__ import annotations

import os

from .errors import SpecError

ENV_MAX_WORKERS = "ANYRES_MAX_WORKERS"


def max_workers() -> int:
    """The largest worker count allowed without ``force``: ``ANYRES_MAX_WORKERS`` when
    set, else the machine's cores."""
    raw = os.environ.get(ENV_MAX_WORKERS)
    if raw is not None and raw.strip():
        try:
            limit = int(raw)
        except ValueError:
            raise SpecError(f"{ENV_MAX_WORKERS} must be an integer, got {raw!r}") from None
        if limit < 0:
            raise SpecError(f"{ENV_MAX_WORKERS} must be >= 0, got {limit}")
        return limit
    return os.cpu_count() or 1


def check_workers(n: object, *, name: str = "num_workers", force: bool = False) -> int:
    """``n`` as a worker count, or a ``SpecError`` naming the value and the limit."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise SpecError(f"{name} must be an int >= 0, got {n!r} ({type(n).__name__})")
    if n < 0:
        raise SpecError(f"{name} must be >= 0, got {n}")
    if not force:
        limit = max_workers()
        if n > limit:
            raise SpecError(
                f"{name}={n} is more than the {limit} allowed (this machine's cores, or {ENV_MAX_WORKERS}); "
                f"to run that many processes on purpose, set {ENV_MAX_WORKERS}={n} or force it (force=True; "
                "--force-workers on the command line)"
            )
    return int(n)

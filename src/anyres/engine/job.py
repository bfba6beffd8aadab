"""What every engine shares: the job's settings, one image's result as a store record,
the flush policy, progress and the summary.

An engine turns ``Item``s into ``Encoded`` or ``Refused`` records; ``Shards`` buffers
them and commits a shard to the ``Store`` whenever the buffered embeddings reach
``shard_mb`` megabytes. Inputs already committed (same source key, same content hash)
are skipped before any decoding.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..errors import AnyresError
from .sources import Item, claim, content_hash, safe_key
from .store import Encoded, Refused, Store


def job_settings(preset: str, encoder: str | os.PathLike, exact: bool) -> dict[str, Any]:
    """What must not change between a job and its resumption (the output depends on it)."""
    return {"preset": preset, "encoder": str(Path(encoder).resolve()), "exact": bool(exact), "format": 1}


def layout_json(plan) -> str:
    return json.dumps([[s.text, s.count, s.kind, s.view] for s in plan.layout.segments], separators=(",", ":"))


def encoded_record(item: Item, digest: str, tokens) -> Encoded:
    p = tokens.plan
    return Encoded(
        source=item.key, content_hash=digest, width=p.image.width, height=p.image.height, preset=p.spec,
        grid=f"{p.grid[0]}x{p.grid[1]}" if p.grid else "", num_tokens=len(tokens), layout=layout_json(p),
        layout_length=len(p.layout), embeddings=tokens.embeddings,
    )


def refused_record(item: Item, digest: str, error: BaseException) -> Refused:
    # the message may quote a file name that is not UTF-8 (the decoder names the path)
    return Refused(item.key, digest, type(error).__name__, safe_key(str(error)))


@dataclass
class Pending:
    """An item to encode: its content hash and what to hand the decoder."""

    item: Item
    digest: str

    @property
    def source(self) -> str | bytes:
        return self.item.source


def pending_items(items: Iterable[Item], store: Store, stats: "Stats") -> Iterator[Pending | Refused]:
    """Hash every item and drop those already committed, and repeats of a key with the
    same content (``sources.claim``); unreadable files and bad entries become
    ``Refused`` records right away (with an empty content hash, so that a rerun skips
    them until they change)."""
    claims: dict[str, str] = {}
    for item in items:
        try:
            data = item.read_bytes()
        except (OSError, ValueError, AnyresError) as exc:  # ValueError: e.g. a path too odd to open
            item = _claimed(claims, item, "", stats)
            if item is None:
                continue
            if store.is_done(item.key, ""):  # refused as unreadable by an earlier run
                stats.skipped += 1
                continue
            if isinstance(exc, AnyresError):  # a bad entry or not a regular file: says why itself
                message = str(exc)
            else:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                message = f"{item.key}: cannot read ({reason})"
            yield Refused(item.key, "", type(exc).__name__, safe_key(message))
            continue
        digest = content_hash(data)
        item = _claimed(claims, item, digest, stats)
        if item is None:
            continue
        if store.is_done(item.key, digest):
            stats.skipped += 1
            continue
        yield Pending(Item(item.key, item.path, data if item.path is None else None), digest)


def _claimed(claims: dict[str, str], item: Item, digest: str, stats: "Stats") -> Item | None:
    """``item`` under the key it takes, or None for a repeat (counted)."""
    which = claim(claims, item.key, digest, item.alt)
    if which is None:
        stats.repeated += 1
        return None
    return item if which == "key" else Item(item.alt, item.path, item.data, item.problem)


@dataclass
class Stats:
    encoded: int = 0
    refused: int = 0
    skipped: int = 0
    repeated: int = 0  # entries whose key the source already gave, with the same content
    tokens: int = 0
    start: float = field(default_factory=time.perf_counter)
    first: float | None = None  # when the first image's record arrived
    last: float | None = None

    def summary(self) -> dict[str, Any]:
        dt = time.perf_counter() - self.start
        out = {"encoded": self.encoded, "refused": self.refused, "skipped_done": self.skipped, "tokens": self.tokens,
               "seconds": round(dt, 3), "images_per_s": round(self.encoded / dt, 3) if dt else 0.0,
               "tokens_per_s": round(self.tokens / dt, 1) if dt else 0.0}
        if self.repeated:
            out["repeated_in_source"] = self.repeated
        if self.first is not None and self.last is not None and self.encoded > 1 and self.last > self.first:
            # start-up (loading the model, starting workers) apart from the steady rate
            out["first_result_s"] = round(self.first - self.start, 3)
            out["steady_images_per_s"] = round((self.encoded - 1) / (self.last - self.first), 3)
        return out


class Shards:
    """Buffers records and commits a shard when the embeddings reach ``shard_mb``."""

    def __init__(self, store: Store, stats: Stats, shard_mb: float, progress: Any = None) -> None:
        self.store, self.stats, self.limit, self.progress = store, stats, shard_mb * 2**20, progress
        self.encoded: list[Encoded] = []
        self.refused: list[Refused] = []
        self.bytes = 0

    def add(self, record: Encoded | Refused) -> None:
        if isinstance(record, Encoded):
            now = time.perf_counter()
            self.stats.first = self.stats.first or now
            self.stats.last = now
            self.encoded.append(record)
            self.bytes += record.embeddings.numel() * record.embeddings.element_size()
            self.stats.encoded += 1
            self.stats.tokens += record.num_tokens
        else:
            self.refused.append(record)
            self.stats.refused += 1
        if self.progress is not None:
            dt = max(1e-9, time.perf_counter() - self.stats.start)
            self.progress.update(1)
            self.progress.set_postfix(img_s=f"{self.stats.encoded / dt:.1f}", tok_s=f"{self.stats.tokens / dt:.0f}",
                                      refused=self.stats.refused)
        if self.bytes >= self.limit:
            self.flush()

    def flush(self) -> None:
        if self.encoded or self.refused:
            self.store.flush(self.encoded, self.refused)
        self.encoded, self.refused, self.bytes = [], [], 0


def record_for(pending: Pending, result: Any) -> Encoded | Refused:
    if isinstance(result, AnyresError):
        return refused_record(pending.item, pending.digest, result)
    return encoded_record(pending.item, pending.digest, result)

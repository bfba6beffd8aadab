"""Reading views, cached on disk by content.

The key is the SHA-256 of the view's pixels (mode, size and bytes), the reader's name
and the upscale factor, so a view that two presets render identically is read once,
and a rerun reads nothing. Entries are small JSON files under ``folder/ab/abcdef...json``
(default ``~/.cache/anyres/ocr``; ``ANYRES_CACHE`` overrides it).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from .readers import get_reader, upscaled

CACHE_VERSION = 1


def default_cache_dir() -> Path:
    env = os.environ.get("ANYRES_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "anyres" / "ocr"


def view_key(image: Any, reader: str, upscale: float) -> str:
    h = hashlib.sha256()
    h.update(f"v{CACHE_VERSION}|{reader}|{upscale:g}|{image.mode}|{image.width}x{image.height}|".encode())
    h.update(image.tobytes())
    return h.hexdigest()


class ViewReader:
    """Reads views with one reader and upscale factor, through the disk cache.

    ``hits`` and ``misses`` count cache use since creation."""

    def __init__(self, reader: str = "rapidocr", upscale: float = 1.0, cache_dir: str | Path | None = None):
        if not upscale > 0:
            from ..errors import SpecError

            raise SpecError(f"upscale must be positive, got {upscale!r}")
        self.name = reader
        self.upscale = float(upscale)
        self._read = get_reader(reader)
        self.cache_dir = None if cache_dir is False else Path(cache_dir) if cache_dir else default_cache_dir()
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path | None:
        return None if self.cache_dir is None else self.cache_dir / key[:2] / f"{key}.json"

    def read(self, image: Any) -> list[str]:
        image = image.convert("RGB") if image.mode != "RGB" else image
        key = view_key(image, self.name, self.upscale)
        path = self._path(key)
        if path is not None and path.exists():
            try:
                lines = list(json.loads(path.read_text())["lines"])
                self.hits += 1
                return lines
            except (OSError, ValueError, KeyError):
                pass  # a torn entry: read again
        self.misses += 1
        lines = self._read(upscaled(image, self.upscale))
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"reader": self.name, "upscale": self.upscale, "lines": lines}))
            os.replace(tmp, path)
        return lines

    def read_views(self, views: list[Any]) -> list[list[str]]:
        return [self.read(v) for v in views]

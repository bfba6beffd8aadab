"""Where a dataset job's images come from: a folder, a list of paths, or a Parquet file.

``iter_items(src)`` yields ``Item``s in a deterministic order:

- a folder: every file under it (recursively) whose extension is an image format
  Pillow reads, sorted by relative path; the key is the relative path;
- a text file (``.txt``, ``.lst``): one path per line (relative paths are relative to
  the text file's folder; blank lines and ``#`` comments skipped); the key is the line;
- a Parquet file: a column of paths (``path``, ``image_path``, ``file``, ``filename``)
  or of image bytes (``bytes``, ``image``, ``content``, ``data``; a struct with a
  ``bytes`` field, as Hugging Face datasets store images, works too), read one record
  batch at a time; the key is the path column's value when there is one, else
  ``row-<n>``. ``column=`` picks a column by name.

Items are not opened here: a bad file is an item like any other and is refused, with
its reason, where it is decoded.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..errors import SpecError

IMAGE_EXTENSIONS = {
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".gif", ".bmp", ".dib", ".tif", ".tiff",
    ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".ico", ".jp2", ".j2k", ".avif", ".heic", ".heif", ".qoi",
}
PATH_COLUMNS = ("path", "image_path", "file", "filename", "file_name")
BYTES_COLUMNS = ("bytes", "image", "content", "data", "image_bytes")


@dataclass(frozen=True)
class Item:
    """One image of a corpus: ``key`` names it within the corpus (unique); the image is
    the file at ``path`` or the bytes ``data``."""

    key: str
    path: str | None = None
    data: bytes | None = None

    @property
    def source(self) -> str | bytes:
        return self.data if self.data is not None else self.path  # type: ignore[return-value]

    def read_bytes(self) -> bytes:
        if self.data is not None:
            return self.data
        if self.path is None:
            from ..errors import ImageError

            raise ImageError(f"{self.key}: the row holds no image (neither bytes nor a path)")
        with open(self.path, "rb") as fh:
            return fh.read()


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def iter_items(src: str | os.PathLike, *, column: str | None = None) -> Iterator[Item]:
    path = Path(src)
    if path.is_dir():
        yield from _folder(path)
    elif path.suffix.lower() in (".parquet", ".pq"):
        yield from _parquet(path, column)
    elif path.suffix.lower() in (".txt", ".lst", ".list"):
        yield from _path_list(path)
    elif not path.exists():
        raise SpecError(f"{path}: no such file or folder")
    else:
        raise SpecError(f"{path}: a source must be a folder, a text file of paths (.txt) or a Parquet file (.parquet)")


def _folder(root: Path) -> Iterator[Item]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            if Path(name).suffix.lower() in IMAGE_EXTENSIONS:
                full = Path(dirpath) / name
                found.append((full.relative_to(root).as_posix(), str(full)))
    for key, full in sorted(found):
        yield Item(key, path=full)


def _path_list(listing: Path) -> Iterator[Item]:
    base = listing.parent
    seen = set()
    for line in listing.read_text().splitlines():
        entry = line.strip()
        if not entry or entry.startswith("#") or entry in seen:
            continue
        seen.add(entry)
        full = Path(entry) if os.path.isabs(entry) else base / entry
        yield Item(entry, path=str(full))


def _parquet(path: Path, column: str | None) -> Iterator[Item]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise SpecError("reading Parquet sources needs pyarrow: pip install 'anyres[engine]'") from None
    f = pq.ParquetFile(path)
    names = f.schema_arrow.names
    path_col = next((c for c in PATH_COLUMNS if c in names), None)
    bytes_col = next((c for c in BYTES_COLUMNS if c in names), None)
    if column is not None:
        if column not in names:
            raise SpecError(f"{path}: no column {column!r}; columns: {', '.join(names)}")
        is_path = str(f.schema_arrow.field(column).type) in ("string", "large_string")
        path_col, bytes_col = (column, None) if is_path else (path_col, column)
    if path_col is None and bytes_col is None:
        raise SpecError(
            f"{path}: found no image column; name one with column= (columns: {', '.join(names)}; "
            f"paths are looked for in {', '.join(PATH_COLUMNS)}, bytes in {', '.join(BYTES_COLUMNS)})"
        )
    wanted = [c for c in (path_col, bytes_col) if c is not None]
    row, seen = 0, set()
    for batch in f.iter_batches(columns=wanted, batch_size=256):
        cols = {name: batch.column(name).to_pylist() for name in wanted}
        for k in range(batch.num_rows):
            p = cols[path_col][k] if path_col else None
            data = _as_bytes(cols[bytes_col][k]) if bytes_col else None
            key = str(p) if p is not None else f"row-{row}"
            if key in seen:  # a repeated path: keys stay unique
                key = f"{key}#row-{row}"
            seen.add(key)
            if data is None and p is not None and not os.path.isabs(p):
                p = str(path.parent / p)
            yield Item(key, path=p, data=data)
            row += 1


def _as_bytes(value) -> bytes | None:
    if isinstance(value, dict):  # Hugging Face datasets' Image feature: {"bytes": ..., "path": ...}
        value = value.get("bytes")
    if value is None:
        return None
    return bytes(value)

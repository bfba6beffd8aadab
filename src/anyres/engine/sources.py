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
its reason, where it is decoded. A bad *entry* (a path with a NUL byte, a Parquet value
of the wrong type, rows of a row group that cannot be read) is an item too, carrying its
``problem``: the job refuses it into the errors table and goes on. Only a source that
cannot be opened at all raises (``SpecError``). Keys are always valid UTF-8 (bytes that
are not, in file names or path lists, are written as backslash escapes), so that every
key can be stored.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

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
    problem: str | None = None  # why this entry cannot be an image (refused without reading)
    alt: str | None = None  # its key when ``key`` already names other content in the source (``claim``)

    @property
    def source(self) -> str | bytes:
        return self.data if self.data is not None else self.path  # type: ignore[return-value]

    def read_bytes(self) -> bytes:
        """The entry's bytes; ``ImageError`` for a bad entry or a file that is not a
        regular file (a FIFO or a device would block or never end), ``OSError`` when
        the file cannot be read."""
        from ..errors import ImageError

        if self.problem is not None:
            raise ImageError(f"{self.key}: {self.problem}")
        if self.data is not None:
            return self.data
        if self.path is None:
            raise ImageError(f"{self.key}: the row holds no image (neither bytes nor a path)")
        fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
        with open(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise ImageError(f"{self.key}: not a regular file (a folder, FIFO, socket or device)")
            return fh.read()


def safe_key(text: str) -> str:
    """``text`` as valid UTF-8: undecodable bytes (surrogate escapes) as ``\\xNN``."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def claim(claims: Any, key: Any, digest: Any, alt: Any) -> str | None:
    """Which key an entry of the source is stored under: "key" (the first entry under
    ``key``), "alt" (``key`` already names other content: the entry takes its ``alt``
    key, a Parquet row's ``key#row-N``), or None (a repeat: ``key`` already names this
    content, or the entry has no ``alt``; it is not encoded again). ``claims`` maps
    each key taken to its content (a dict, or anything with ``get`` and
    ``__setitem__``); keys and digests are opaque here (the Ray engine stores short
    digests of both). Both engines decide by this rule, so that a path repeated
    anywhere in a source is encoded once."""
    held = claims.get(key)
    if held is None:
        claims[key] = digest
        return "key"
    if held == digest or alt is None:
        return None
    if claims.get(alt) is None:
        claims[alt] = digest
    return "alt"


def _path_problem(p: str) -> str | None:
    if "\0" in p:
        return "the path holds a NUL byte"
    return None


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def iter_items(src: str | os.PathLike, *, column: str | None = None) -> Iterator[Item]:
    """The items of ``src``. The source itself is opened (and refused with a
    ``SpecError``) here, before the first item is asked for."""
    path = Path(src)
    if path.is_dir():
        return _folder(path)
    if not path.exists():
        raise SpecError(f"{path}: no such file or folder")
    if path.suffix.lower() in (".parquet", ".pq"):
        return _parquet(path, *_open_parquet(path, column))
    if path.suffix.lower() in (".txt", ".lst", ".list"):
        return _path_list(path, _read_listing(path))
    raise SpecError(f"{path}: a source must be a folder, a text file of paths (.txt) or a Parquet file (.parquet)")


def _folder(root: Path) -> Iterator[Item]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in filenames:
            if Path(name).suffix.lower() in IMAGE_EXTENSIONS:
                full = Path(dirpath) / name
                found.append((full.relative_to(root).as_posix(), str(full)))
    seen = set()
    for rel, full in sorted(found):
        key = safe_key(rel)
        if key in seen:  # two names that escape alike
            key = f"{key}#{len(seen)}"
        seen.add(key)
        yield Item(key, path=full)


def _read_listing(listing: Path) -> bytes:
    try:
        with open(listing, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise SpecError(f"{listing}: a path list must be a regular file")
            return fh.read()
    except OSError as exc:
        raise SpecError(f"{listing}: cannot read the path list ({exc.strerror or exc})") from None


def _path_list(listing: Path, raw: bytes) -> Iterator[Item]:
    """One path per line. Lines are bytes decoded as the file system would (undecodable
    bytes kept, so that such a file name still opens); their keys are escaped."""
    base = listing.parent
    for n, key, entry, problem in path_list_entries(enumerate(raw.splitlines(), 1)):
        if problem is not None:
            yield Item(key, problem=f"line {n}: {problem}")
            continue
        full = Path(entry) if os.path.isabs(entry) else base / entry
        yield Item(key, path=str(full))


def path_list_entries(lines: Iterable[tuple[Any, bytes]]) -> Iterator[tuple[Any, str, str, str | None]]:
    """``(where, key, entry, problem)`` for each distinct entry of ``(where, line)`` pairs
    of a path list: blank lines and ``#`` comments skipped, the line decoded as the file
    system would (undecodable bytes kept, so that such a name still opens), its key
    escaped to valid UTF-8, repeats dropped, and ``problem`` saying why the entry cannot
    be a path (else None)."""
    seen = set()
    for where, line in lines:
        entry = os.fsdecode(line.strip()) if line.strip() else ""
        if not entry or entry.startswith("#"):
            continue
        key = safe_key(entry)
        if key in seen:
            continue
        seen.add(key)
        yield where, key, entry, _path_problem(entry)


def _open_parquet(path: Path, column: str | None) -> tuple[Any, str | None, str | None]:
    """The Parquet file and its (path, bytes) columns, or a ``SpecError``."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise SpecError("reading Parquet sources needs pyarrow: pip install 'anyres[engine]'") from None
    try:
        f = pq.ParquetFile(path)
        names = f.schema_arrow.names
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ... for a file it cannot parse
        raise SpecError(f"{path}: not a readable Parquet file ({_one_line(exc)})") from None
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
    return f, path_col, bytes_col


def _parquet(path: Path, f: Any, path_col: str | None, bytes_col: str | None) -> Iterator[Item]:
    """Rows in order; a key the column repeats is resolved by ``claim`` where the job
    hashes the rows (each row carries ``key#row-N`` as its ``alt``)."""
    wanted = [c for c in (path_col, bytes_col) if c is not None]
    row = 0
    for group in range(f.num_row_groups):
        # one row group at a time, so that a damaged one costs its own rows, not the job
        group_rows = f.metadata.row_group(group).num_rows
        done = 0
        try:
            for batch in f.iter_batches(columns=wanted, batch_size=256, row_groups=[group]):
                cols = {name: batch.column(name).to_pylist() for name in wanted}
                for k in range(batch.num_rows):
                    yield _parquet_item(path, row, cols[path_col][k] if path_col else None,
                                        cols[bytes_col][k] if bytes_col else None, path_col, bytes_col)
                    row += 1
                    done += 1
        except Exception as exc:  # a corrupt page or row group: its remaining rows are refused
            reason = f"row group {group} of {path.name} cannot be read ({_one_line(exc)})"
            for _ in range(done, group_rows):
                yield Item(f"row-{row}", problem=reason, alt=f"row-{row}#row-{row}")
                row += 1


def _parquet_item(path: Path, row: int, p: object, value: object, path_col: str | None,
                  bytes_col: str | None) -> Item:
    """One Parquet row as an ``Item``, every value checked on its own."""
    if isinstance(value, dict) and ("bytes" in value or "path" in value):
        # Hugging Face datasets' Image feature: {"bytes": ..., "path": ...}
        if value.get("bytes") is None and isinstance(value.get("path"), str) and p is None:
            p = value["path"]
        value = value.get("bytes")
    problems = []
    if p is not None and not isinstance(p, str):
        problems.append(f"column {path_col!r} holds a {type(p).__name__}, not a path (a string)")
        p = None
    key = p if p is not None else f"row-{row}"
    if value is not None and not isinstance(value, (bytes, bytearray, memoryview)):
        # never bytes(value): bytes(10**9) would be a gigabyte of zeros
        problems.append(f"column {bytes_col!r} holds a {type(value).__name__}, not image bytes")
        value = None
    if p is not None:
        problem = _path_problem(p)
        if problem is not None:
            problems.append(problem)
    if not problems and value is None and p is None:
        problems.append("the row holds no image (its image column is null)")
    alt = f"{key}#row-{row}"
    if problems:
        return Item(key, problem="; ".join(problems), alt=alt)
    if value is not None:  # the bytes are the image; a path beside them only names it (the key)
        return Item(key, data=bytes(value), alt=alt)
    if not os.path.isabs(p):
        p = str(path.parent / p)
    return Item(key, path=p, alt=alt)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."

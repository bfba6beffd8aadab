"""A dataset job's sources, read on Ray's workers.

The driver opens the source only far enough to refuse one that cannot be opened (a
``SpecError``, as ``sources.iter_items`` does) and to cut it into *units* of work, each a
few bytes: a Parquet file's row groups, a folder's sub-folders, byte ranges of a path
list. Workers turn each unit into entries (``key``, ``path``, ``data``, ``problem``,
the columns of ``ENTRY_SCHEMA``), with the same keys and the same per-entry checks as
``iter_items``; the driver never holds an image's bytes nor a list of the corpus.

Differences from ``iter_items``: entries are not in the source's order. A key that a
path list or a Parquet column repeats, in one unit or in two, is resolved where the
rows are hashed, by the rule both engines share (``sources.claim``: the same content
under the same key is encoded once; a Parquet row whose key already names other bytes
takes ``key#row-N``, its ``alt``).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, Iterator

from ..errors import SpecError
from .sources import IMAGE_EXTENSIONS, _one_line, _open_parquet, _parquet_item, path_list_entries, safe_key

UNIT_BYTES = 1 << 20  # a path list is read in ranges of this many bytes (~10,000 paths)
ENTRY_ROWS = 64  # entries per block a unit yields (a block of Parquet image bytes stays small)
MAX_UNITS = 4096  # at most this many units: a bigger source gets bigger units (the driver's list stays small)


def entry_schema():
    import pyarrow as pa

    # paths as bytes: a file name need not be UTF-8, and Arrow strings must be
    return pa.schema([("key", pa.string()), ("path", pa.binary()), ("data", pa.binary()), ("problem", pa.string()),
                      ("alt", pa.string())])


def source_units(src: str | os.PathLike, column: str | None = None) -> list[dict[str, Any]]:
    """The units of ``src`` (a ``SpecError`` when it cannot be opened), at most
    ``MAX_UNITS`` of them. A Parquet unit is a run of row groups (one while the file
    has at most ``MAX_UNITS``), a folder unit one sub-folder or a run of them (walked by
    a worker; the top level's own files are one more unit), a path-list unit a byte
    range of ``UNIT_BYTES``, or more for a list of more than ``MAX_UNITS`` ranges."""
    path = Path(src)
    if path.is_dir():
        return _folder_units(path)
    if not path.exists():
        raise SpecError(f"{path}: no such file or folder")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        f, path_col, bytes_col = _open_parquet(path, column)
        first, units, step = 0, [], _step(f.num_row_groups)
        # keys are row-N, unique, unless a path names the rows (a path column, or the path
        # in a Hugging Face image struct)
        named = bool(path_col) or (bytes_col is not None and pa_is_struct(f.schema_arrow.field(bytes_col).type))
        for group in range(f.num_row_groups):
            if group % step == 0:
                units.append(_unit("parquet", path, a=group, b=first, path_col=path_col or "",
                                   bytes_col=bytes_col or "", rows=min(step, f.num_row_groups - group),
                                   repeats=named))
            first += f.metadata.row_group(group).num_rows
        return units
    if suffix in (".txt", ".lst", ".list"):
        try:  # stat, not open: opening a FIFO would wait for a writer
            st = os.stat(path)
            if stat.S_ISREG(st.st_mode) and not os.access(path, os.R_OK):
                raise PermissionError(13, "Permission denied")
        except OSError as exc:
            raise SpecError(f"{path}: cannot read the path list ({exc.strerror or exc})") from None
        if not stat.S_ISREG(st.st_mode):
            raise SpecError(f"{path}: a path list must be a regular file")
        size = max(UNIT_BYTES, -(-st.st_size // MAX_UNITS))
        return [_unit("list", path, a=a, b=min(st.st_size, a + size), repeats=True)
                for a in range(0, max(1, st.st_size), size)]
    raise SpecError(f"{path}: a source must be a folder, a text file of paths (.txt) or a Parquet file (.parquet)")


def pa_is_struct(t: Any) -> bool:
    import pyarrow as pa

    return pa.types.is_struct(t)


def _unit(kind: str, root: Path, *, a: int, b: int = 0, path_col: str = "", bytes_col: str = "", rows: int = 0,
          sub: bytes = b"", repeats: bool = False) -> dict[str, Any]:
    """One unit of work (every unit has the same fields: they travel as one Arrow table);
    for a Parquet unit, ``a`` is its first row group, ``b`` that group's first row and
    ``rows`` how many row groups it has. ``repeats``: whether the source can give a key
    twice (a path list, Parquet rows named by a path), so that the job must resolve
    repeats (``sources.claim``)."""
    return {"kind": kind, "root": os.fsencode(os.path.abspath(root)), "a": a, "b": b, "path_col": path_col,
            "bytes_col": bytes_col, "rows": rows, "sub": sub, "repeats": repeats}


def _folder_units(root: Path) -> list[dict[str, Any]]:
    with os.scandir(root) as it:
        subs = sorted(os.fsencode(e.name) for e in it if e.is_dir(follow_symlinks=False))
    # the top level's own files, then one unit per sub-folder or run of them (walked by a
    # worker; names joined by NUL, the one byte a file name cannot hold)
    step = _step(len(subs))
    return [_unit("folder", root, a=-1)] + [_unit("folder", root, a=k // step, sub=b"\0".join(subs[k:k + step]))
                                             for k in range(0, len(subs), step)]


def _step(n: int) -> int:
    """How many of ``n`` pieces a unit takes so that there are at most ``MAX_UNITS``."""
    return max(1, -(-n // MAX_UNITS))


def read_units(batch: Any, rows_per_block: int = ENTRY_ROWS) -> Iterator[Any]:
    """A ``map_batches`` generator: the entries of each unit of ``batch`` (an Arrow
    table of units), ``rows_per_block`` at a time."""
    import pyarrow as pa

    schema = entry_schema()
    for unit in batch.to_pylist():
        rows: list[tuple] = []
        for entry in _unit_entries(unit):
            rows.append(entry)
            if len(rows) >= rows_per_block:
                yield pa.Table.from_arrays([pa.array(c, t.type) for c, t in zip(zip(*rows), schema)], schema=schema)
                rows = []
        if rows:
            yield pa.Table.from_arrays([pa.array(c, t.type) for c, t in zip(zip(*rows), schema)], schema=schema)


def _unit_entries(unit: dict[str, Any]) -> Iterator[tuple]:
    kind = unit["kind"]
    if kind == "folder":
        yield from _folder_entries(unit)
    elif kind == "list":
        yield from _list_entries(unit)
    else:
        yield from _parquet_entries(unit)


def _folder_entries(unit: dict[str, Any]) -> Iterator[tuple]:
    root = unit["root"]
    found = []
    if unit["a"] < 0:  # the top level's files only (anything not a folder: a FIFO is refused later)
        with os.scandir(root) as it:
            found = [(e.name, e.path) for e in it if not e.is_dir()]
    else:
        for sub in unit["sub"].split(b"\0"):
            for dirpath, dirnames, filenames in os.walk(os.path.join(root, sub)):
                dirnames.sort()
                found += [(os.path.relpath(os.path.join(dirpath, n), root), os.path.join(dirpath, n))
                          for n in filenames]
    seen = set()
    for rel, full in sorted(found):
        if os.path.splitext(rel)[1].decode("utf-8", "replace").lower() not in IMAGE_EXTENSIONS:
            continue
        key = safe_key(os.fsdecode(rel).replace(os.sep, "/"))
        if key in seen:  # two names that escape alike
            key = f"{key}#{len(seen)}"
        seen.add(key)
        yield key, full, None, None, None


def _list_entries(unit: dict[str, Any]) -> Iterator[tuple]:
    """The lines that start inside the unit's byte range [a, b)."""
    listing = unit["root"]
    base = os.path.dirname(listing)  # relative paths are relative to the list's folder
    with open(listing, "rb") as fh:
        start = unit["a"]
        if start > 0:
            fh.seek(start - 1)
            if fh.read(1) != b"\n":
                fh.readline()  # the line that began before this range belongs to the one before
        for offset, key, entry, problem in path_list_entries(_lines_before(fh, unit["b"])):
            if problem is not None:
                yield key, None, None, f"byte {offset} of the path list: {problem}", None
                continue
            raw = os.fsencode(entry)
            yield key, raw if os.path.isabs(raw) else os.path.join(base, raw), None, None, None


def _lines_before(fh: Any, end: int) -> Iterator[tuple[int, bytes]]:
    """(offset, line) for the lines of ``fh`` that start before byte ``end``."""
    while fh.tell() < end:
        offset = fh.tell()
        line = fh.readline()
        if not line:
            return
        yield offset, line


def _parquet_entries(unit: dict[str, Any]) -> Iterator[tuple]:
    """The unit's row groups: every row checked on its own (``sources._parquet_item``);
    a row group that cannot be read costs its remaining rows, refused with the reason."""
    import pyarrow.parquet as pq

    path = Path(os.fsdecode(unit["root"]))
    path_col, bytes_col = unit["path_col"] or None, unit["bytes_col"] or None
    wanted = [c for c in (path_col, bytes_col) if c is not None]
    f = pq.ParquetFile(path)  # (the driver read this footer: a worker that cannot fails its task)
    row = unit["b"]
    for group in range(unit["a"], unit["a"] + max(1, unit["rows"])):
        done = 0
        try:
            for batch in f.iter_batches(columns=wanted, batch_size=ENTRY_ROWS, row_groups=[group]):
                cols = {name: batch.column(name).to_pylist() for name in wanted}
                for k in range(batch.num_rows):
                    item = _parquet_item(path, row, cols[path_col][k] if path_col else None,
                                         cols[bytes_col][k] if bytes_col else None, path_col, bytes_col)
                    yield (item.key, os.fsencode(item.path) if item.path is not None else None, item.data,
                           item.problem, item.alt)
                    row += 1
                    done += 1
        except Exception as exc:  # a corrupt page or row group: its remaining rows are refused
            reason = f"row group {group} of {path.name} cannot be read ({_one_line(exc)})"
            for _ in range(done, f.metadata.row_group(group).num_rows):
                yield f"row-{row}", None, None, reason, f"row-{row}#row-{row}"
                row += 1

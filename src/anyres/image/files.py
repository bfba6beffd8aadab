"""Opening image files: regular files only.

A path may name a FIFO (reading blocks until a writer comes, possibly forever), a
device (``/dev/zero`` never ends), a directory or a socket. The file is opened without
blocking (``O_NONBLOCK``: opening a FIFO returns at once) and its type is checked on
the open descriptor (``fstat``, so the path cannot be swapped between the check and
the read); anything but a regular file is refused with ``ImageError``.
"""

from __future__ import annotations

import os
import stat
from typing import Any, BinaryIO

from ..errors import ImageError

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def file_kind(mode: int) -> str:
    """What a non-regular ``st_mode`` is, in words."""
    for test, words in _KINDS:
        if test(mode):
            return words
    return "not a regular file"


def open_regular(path: str | os.PathLike, name: Any = None) -> BinaryIO:
    """``path`` opened for binary reading, if it is a regular file (or a link to one);
    otherwise ``ImageError`` naming what it is. Never blocks on a FIFO."""
    name = os.fspath(path) if name is None else name
    nonblock = getattr(os, "O_NONBLOCK", 0)
    flags = os.O_RDONLY | nonblock | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{name}: is a directory, not an image file") from None
    except (OSError, ValueError, TypeError) as exc:  # permissions, a NUL byte, a socket (ENXIO)
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ImageError(f"{name}: cannot open ({reason})") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise ImageError(f"{name}: is {file_kind(mode)}, not a regular file; only regular files are read")
        if nonblock:  # no effect on regular files, but restore ordinary blocking reads
            import fcntl

            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~nonblock)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise

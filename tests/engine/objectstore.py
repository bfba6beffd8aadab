"""An in-process stand-in for an object store: a ``pyarrow.fs.PyFileSystem`` over a
local folder that refuses to rename or copy (object stores have no atomic rename, so the
job must never need one), counts what it writes, and can "crash" at a chosen write:
from then on every call fails, as if the process had died there (nothing it would do
on the way out, such as releasing its lease, reaches the store)."""

from __future__ import annotations

import pyarrow.fs as pafs


class Crash(Exception):
    """The simulated death of the job's process."""


class NoRenameHandler(pafs.FileSystemHandler):
    def __init__(self, root: str, crash_at: int | None = None) -> None:
        self.root = root
        self.inner = pafs.SubTreeFileSystem(root, pafs.LocalFileSystem())
        self.crash_at = crash_at  # the write (1-based) that never completes
        self.writes = 0
        self.crashed = False

    def __reduce__(self):  # travels to Ray workers as its root (no crash there)
        return NoRenameHandler, (self.root,)

    def _alive(self) -> None:
        if self.crashed:
            raise Crash("the job's process is gone")

    def get_type_name(self):
        return "norename"

    def normalize_path(self, path):
        return path

    def equals(self, other):
        return isinstance(other, NoRenameHandler) and other.root == self.root

    def get_file_info(self, paths):
        self._alive()
        return self.inner.get_file_info(paths)

    def get_file_info_selector(self, selector):
        self._alive()
        return self.inner.get_file_info(selector)

    def create_dir(self, path, recursive):
        self._alive()
        self.inner.create_dir(path, recursive=recursive)

    def delete_dir(self, path):
        self._alive()
        self.inner.delete_dir(path)

    def delete_dir_contents(self, path, missing_dir_ok=False):
        self._alive()
        self.inner.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self):
        self._alive()
        self.inner.delete_dir_contents("", accept_root_dir=True)

    def delete_file(self, path):
        self._alive()
        self.inner.delete_file(path)

    def move(self, src, dest):
        raise AssertionError(f"an object store has no rename ({src} -> {dest})")

    def copy_file(self, src, dest):
        raise AssertionError(f"copy used on an object store ({src} -> {dest})")

    def open_input_stream(self, path):
        self._alive()
        return self.inner.open_input_stream(path)

    def open_input_file(self, path):
        self._alive()
        return self.inner.open_input_file(path)

    def open_output_stream(self, path, metadata):
        self._alive()
        self.writes += 1
        if self.crash_at is not None and self.writes >= self.crash_at:
            self.crashed = True
            raise Crash(f"died while writing {path}")
        return self.inner.open_output_stream(path)

    def open_append_stream(self, path, metadata):
        raise AssertionError("append used on an object store")


def object_store(root, crash_at: int | None = None) -> tuple[pafs.PyFileSystem, NoRenameHandler]:
    handler = NoRenameHandler(str(root), crash_at)
    return pafs.PyFileSystem(handler), handler

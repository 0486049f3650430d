"""Atomic file writes: a kill at any moment leaves either the old file or the new one, whole.

The data goes to a temporary file in the same folder, is flushed to disk, and then replaces the
target with `os.replace`, which is atomic on POSIX and Windows.

A full disk is reported as `DiskFullError` ("no space left on <path>") whichever layer saw it:
torch.save and numpy turn the OSError of a failed write into their own exceptions (torch's reads
"[enforce fail at inline_container.cc...] file write failed"), so the handle a writer gets
remembers the OSError of its first failed write.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

_FULL = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(OSError):
    """A write failed because the file system (or the user's quota) is full."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(errno.ENOSPC, f"no space left on {path}", str(path))
        self.path = Path(path)

    def __str__(self) -> str:
        return f"no space left on {self.path}"


def cannot_write(path: str | Path, exc: OSError) -> str:
    """A failed write in words, with the path it concerns (the one in the error when it has one)."""
    if isinstance(exc, DiskFullError):
        return str(exc)
    if exc.errno in _FULL:
        return f"no space left on {exc.filename or path}"
    return f"cannot write {exc.filename or path}: {exc.strerror or exc}"


def _open_fd(fd: int, mode: str) -> IO:
    """The file object of a descriptor (one place, so a test can stand in a full disk)."""
    if "b" in mode:
        return os.fdopen(fd, mode)
    return os.fdopen(fd, mode, encoding="utf-8", newline="")


class _WriteWatcher:
    """A file handle that remembers the OSError of its first failed write (see the module docstring)."""

    def __init__(self, handle: IO) -> None:
        self._handle = handle
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        try:
            return self._handle.write(data)
        except OSError as exc:
            self.error = self.error or exc
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


def _disk_full(exc: BaseException, watcher: _WriteWatcher | None) -> bool:
    for error in (exc, watcher.error if watcher else None):
        if isinstance(error, OSError) and error.errno in _FULL:
            return True
    return False


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "wb", *, permissions: int | None = None) -> Iterator[IO]:
    """Open a temporary file that replaces `path` only if the block finishes without error.

    The new file keeps the permissions of the one it replaces (0644 if none), or takes `permissions`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    watcher = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        if _disk_full(exc, None):
            raise DiskFullError(path) from exc
        raise
    try:
        with _open_fd(fd, mode) as handle:
            watcher = _WriteWatcher(handle)
            yield watcher  # type: ignore[misc]
            handle.flush()
            os.fsync(handle.fileno())
        # Keep the permissions of the file we replace (mkstemp creates 0600).
        if permissions is not None:
            os.chmod(tmp, permissions)
        else:
            try:
                os.chmod(tmp, Path(path).stat().st_mode & 0o777)
            except FileNotFoundError:
                os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if _disk_full(exc, watcher):
            raise DiskFullError(path) from exc
        raise
    _fsync_dir(path.parent)


def append_line(path: str | Path, line: str) -> None:
    """Append one whole line and flush it to disk (a reader sees the line complete or not at all)."""
    try:
        with _open_fd(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644), "a") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        if _disk_full(exc, None):
            raise DiskFullError(path) from exc
        raise


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not possible on every platform.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_text(path: str | Path, text: str, *, permissions: int | None = None) -> None:
    with atomic_open(path, "w", permissions=permissions) as handle:
        handle.write(text)


def atomic_write_with(path: str | Path, writer: Callable[[IO[bytes]], object]) -> None:
    """Let `writer` fill a binary file (e.g. torch.save, numpy.savez), then swap it in."""
    with atomic_open(path, "wb") as handle:
        writer(handle)

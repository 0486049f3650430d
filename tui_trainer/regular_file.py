"""Opening a file someone else may have placed: a regular file only, never blocking, never endless.

A run folder, a sweep folder or an image folder may come from a colleague or the internet. A name
in it may be a symlink to `/dev/zero` (a read that never ends), a FIFO (an open that waits forever
for a writer) or a link to a file outside the folder. Every reader of such a file opens it here:
with `O_NONBLOCK` (opening a FIFO returns at once), `O_NOFOLLOW` unless links are allowed (a run
folder's own records are never links), and `fstat` on the open descriptor (no swap between a check
and the open) before a byte is read. What a reader reads is capped: a record larger than any run
writes is damage, not something to load.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

MAX_RECORD_BYTES = 256 * 2**20
"""The largest JSON or TOML record of a run or sweep folder (status, metrics, progress, preset):
a run of 100,000 epochs with 1,000 per-class accuracies each writes about a tenth of this."""

MAX_ARRAY_BYTES = 64 * 2**30
"""The largest array file (predictions, thumbnails) read from a run or evaluation folder."""


class UnsafeFile(OSError):
    """The path is not a regular file (a FIFO, a device, a link where none is allowed) or is too large.

    `problem` says which, in words (the message without the path).
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(errno.EINVAL, problem, str(path))
        self.problem = problem

    def __str__(self) -> str:
        return f"{self.filename}: {self.problem}"


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return name
    return "not a plain file"


def open_fd(path: str | Path, *, follow_links: bool = False, limit: int | None = None, flags: int = os.O_RDONLY) -> int:
    """A descriptor of `path`, checked to be a regular file of at most `limit` bytes (UnsafeFile if not).

    OSErrors of the open itself (FileNotFoundError, PermissionError) propagate unchanged.
    """
    flags |= os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | (0 if follow_links else getattr(os, "O_NOFOLLOW", 0))
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_links and os.path.islink(path):
            raise UnsafeFile(path, "is a symbolic link, not a regular file") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFile(path, f"is {_kind(info.st_mode)}, not a regular file")
        if limit is not None and info.st_size > limit:
            raise UnsafeFile(path, f"is {info.st_size} bytes, more than the {limit} a tui-trainer file may hold")
    except BaseException:
        os.close(fd)
        raise
    with contextlib.suppress(OSError, AttributeError):  # reads of a regular file never block; say so plainly
        os.set_blocking(fd, True)
    return fd


def read_bytes(path: str | Path, limit: int = MAX_RECORD_BYTES, *, follow_links: bool = False) -> bytes:
    """The whole of a regular file of at most `limit` bytes (UnsafeFile otherwise; it grew past it too)."""
    fd = open_fd(path, follow_links=follow_links, limit=limit)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise UnsafeFile(path, f"grew past the {limit} bytes a tui-trainer file may hold")
    return data


@contextlib.contextmanager
def open_binary(path: str | Path, limit: int | None = None, *, follow_links: bool = False) -> Iterator[BinaryIO]:
    """A binary file object of a checked regular file (for readers that seek: npz, npy, images)."""
    with os.fdopen(open_fd(path, follow_links=follow_links, limit=limit), "rb") as handle:
        yield handle

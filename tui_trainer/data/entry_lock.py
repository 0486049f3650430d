"""One builder per data-cache entry: processes that need the same missing entry decode it once.

Under torchrun every process loads the data. Each of them used to decode the same images into the
same entry at the same time: N times the work, and on a cache folder shared by several machines one
node's clean-up of "dead" temporary files (a pid it does not know) could delete another node's
half-written entry. Now the first process takes an exclusive `flock` on the entry's `.lock` file,
looks again, and decodes; the others wait for the lock and then find the finished entry.

It needs no process group, so it works the same in one process, among the processes of one machine
and among machines that share the cache folder (flock over NFS is emulated with byte-range locks;
runs/lock.py says where that holds). A cache folder that each machine has for itself is filled once
per machine. The lock dies with its holder (kill -9 included): a waiter then takes it, finds no
entry (its record is the commit mark, store.py) and decodes itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ..regular_file import open_fd

POLL_SECONDS = 0.2
"""How often a waiting process tries the lock again (and reports, so a stop reaches it)."""


def _holder(fd: int) -> str:
    """Who holds the lock, as its holder wrote it ("pid 12 on node3"), or "" when unknown."""
    with contextlib.suppress(OSError):
        return os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    return ""


def _open(path: Path) -> int | None:
    """The lock file, created if missing; None when it cannot be made (a read-only cache folder)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # O_EXCL: never creates through a symlink
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644))
        return open_fd(path, flags=os.O_RDWR)
    except OSError:
        return None


@contextlib.contextmanager
def building(path: Path, waiting: Callable[[str], None]) -> Iterator[None]:
    """Hold the entry's lock file `path` for the body, waiting while another process holds it.

    `waiting(holder)` is called at every try while waiting (`holder`: who holds it, or ""): the
    caller's progress report, which raises to give up (a stop). Without a usable lock file the body
    runs unlocked: a cache folder that cannot be written falls back to decoding into memory anyway.
    """
    fd = _open(path)
    if fd is None:
        yield
        return
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waiting(_holder(fd))
                time.sleep(POLL_SECONDS)
        with contextlib.suppress(OSError):  # for the waiters' message only: the lock is what counts
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock

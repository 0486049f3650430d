"""One writer per run folder: an exclusive `flock` on `<run>/.lock`, held while the process trains it.

Checking "is this run still running?" and then taking the folder are two steps, and two resumes
started together both passed the check. The kernel's lock is one step: exactly one process gets
it, and it is released the moment that process ends, however it ends (kill -9 included), so the
lock of a dead process never blocks anyone. The lock file itself stays; only the lock matters.

Limits: `flock` is per host. On NFS it is emulated with byte-range locks (Linux >= 2.6.12) and
works across clients only where the server supports locking; on other shared file systems two
nodes may both get it. A multi-node torchrun job locks from rank 0 alone, so it is one holder.

The lock file of a folder someone else made may be a symlink (to a file of the user's, or to a
path that does not exist yet) or a FIFO: it is opened without following links and without
blocking, and nothing is written into it until it is known to be a regular file and locked.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from pathlib import Path

from ..regular_file import UnsafeFile, open_fd

LOCK_NAME = ".lock"

_held: dict[Path, int] = {}
"""Folder -> open descriptor of the locks this process holds (re-taking one is a no-op)."""
_guard = threading.Lock()


class RunLockedError(RuntimeError):
    """Another live process holds the run folder's lock; `pid` is the holder's, when it wrote it."""

    def __init__(self, path: Path, pid: int | None) -> None:
        self.path = path
        self.pid = pid
        super().__init__(
            f"{path}: still running (pid {pid if pid is not None else 'unknown'}); two processes must not "
            "train one folder. Stop it first (Ctrl+C in its terminal, or `kill -INT PID`), then resume"
        )


class BadLockFile(OSError):
    """The folder's `.lock` is not a regular file (a symlink, a FIFO, ...): the folder is refused, untouched."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(
            f"{path}: {problem}; tui-trainer's lock files are regular files (remove it if the folder is yours)"
        )
        self.path = path


def _key(folder: Path) -> Path:
    return Path(os.path.abspath(folder))


def _holder_pid(fd: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(text) if text else None
    return None


def acquire(folder: Path) -> None:
    """Take the folder's lock for this process, or raise RunLockedError naming the holder."""
    key = _key(folder)
    with _guard:
        if key in _held:
            return
        fd = open_lock_file(key / LOCK_NAME)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _holder_pid(fd)
            os.close(fd)
            raise RunLockedError(Path(folder), pid) from None
        except BaseException:
            os.close(fd)
            raise
        # The holder's pid, for the loser's message (the lock, not this text, is what counts).
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _held[key] = fd


def open_lock_file(path: Path) -> int:
    """The lock file, created if missing; never through a link (a dangling one is not created either)."""
    with contextlib.suppress(FileExistsError):  # O_EXCL: never creates through a symlink, dangling or not
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644))
    try:
        return open_fd(path, flags=os.O_RDWR)
    except UnsafeFile as exc:
        raise BadLockFile(path, exc.problem) from None


def release(folder: Path) -> None:
    """Give the lock back (closing the descriptor releases it); a lock not held is ignored."""
    with _guard:
        fd = _held.pop(_key(folder), None)
    if fd is not None:
        os.close(fd)


def held(folder: Path) -> bool:
    """Whether this process holds the folder's lock."""
    return _key(folder) in _held


def locked_by_other(folder: Path) -> bool:
    """Whether another live process holds the folder's lock.

    A probe for a front end about to start a child on the folder: it takes and drops a shared lock
    at once, so the child can still take the exclusive one.
    """
    if held(folder):
        return False
    try:
        fd = open_fd(_key(folder) / LOCK_NAME)
    except OSError:  # none, or not a regular file (which no run can hold either)
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False

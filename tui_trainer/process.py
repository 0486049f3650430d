"""Which process wrote a run's status or a cache's temporary file: its pid, and when that process started.

A pid alone is not an identity: after a run dies the kernel hands its number to the next process,
which may be an unrelated program or another run. status.json therefore records the start time of
the writing process beside its pid, and a pid only counts as the run's process while both match.
"""

from __future__ import annotations

import os
import socket

START_TOLERANCE = 1.0
"""Seconds two readings of one process's start time may differ (clock-tick rounding, boot-time drift)."""


def process_start_time(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch), or None when it is gone or unknowable."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a dependency; without it only the pid is compared
        return None
    try:
        return float(psutil.Process(int(pid)).create_time())
    except (psutil.Error, ValueError, OverflowError):
        return None


def own_identity() -> dict[str, object]:
    """The status.json fields that name this process: pid, its start time and the host."""
    return {"pid": os.getpid(), "pid_started": process_start_time(os.getpid()), "host": socket.gethostname()}


def process_alive(pid: object, host: object = None, started: object = None) -> bool:
    """Whether the process recorded as (`pid`, `started`) on `host` still runs.

    On another host nothing can be checked, so the run is taken as alive. A recorded start time that
    differs from the live process's means the pid was reused: that process is not the run's.
    """
    if host and host != socket.gethostname():
        return True
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    except (OverflowError, ValueError):
        return False
    if isinstance(started, (int, float)) and not isinstance(started, bool):
        now_started = process_start_time(pid)
        if now_started is not None and abs(now_started - float(started)) > START_TOLERANCE:
            return False
    return True


def process_stopped(pid: object) -> bool:
    """Whether process `pid` of this host is stopped by the kernel (ctrl+z in its terminal, SIGSTOP): it
    runs nothing until SIGCONT. False when it runs, is gone, or cannot be asked."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is a dependency
        return False
    try:
        return psutil.Process(pid).status() == psutil.STATUS_STOPPED
    except (psutil.Error, ValueError, OverflowError):
        return False

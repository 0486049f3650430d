"""How a command ends, as the process exit code scripts and schedulers read.

Defined once, below both front ends, because `runs/` decides it (a run's outcome carries one) and
the command line and the console return it.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # the work started and failed (training crashed, a file could not be written)
    USAGE = 2  # refused before any work: a bad preset, bad usage, unusable data or device
    INTERRUPTED = 130  # stopped by ctrl+c or a signal (128 + SIGINT, as shells report it)

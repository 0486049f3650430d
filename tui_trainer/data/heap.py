"""Keep freed large CPU buffers in the heap, so each batch does not fault its memory in anew.

glibc serves an allocation above its mmap threshold (which adapts, up to 32 MiB) with a fresh
`mmap` and unmaps it when it is freed. A 224 px float batch of 64 is 38 MB, so on the CPU every
batch (and every large intermediate) was faulted in page by page, then handed back to the kernel.
With mmap off for allocations (M_MMAP_MAX = 0) and up to 1 GiB of free memory kept at the top of
the heap (M_TRIM_THRESHOLD), a freed batch's memory serves the next one. Augmenting a 224 px batch
of 64 on one thread went from 69-81 to 42-49 CPU ms (three interleaved pairs of runs).

The setting is process-wide and applied once, only on glibc (other C libraries are left alone). Its
cost: memory freed below the top of the heap stays with the process, the same memory the next
batch needs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
KEEP_BYTES = 1 << 30
"""Free memory at the top of the heap that is kept rather than returned to the OS."""

_lock = threading.Lock()
_applied: bool | None = None


def keep_freed_buffers() -> bool:
    """Apply the setting (once per process); whether it is in effect (False off glibc)."""
    global _applied
    with _lock:
        if _applied is None:
            _applied = _set_glibc_options()
        return _applied


def _set_glibc_options() -> bool:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # noqa: B018 - present only in glibc, whose mallopt these options are for
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, KEEP_BYTES))

"""`train.threads`: how many intra-op threads torch uses, fixed or fitted to the idle cores.

On a shared 2-core machine two threads ran at 0.64x one thread while another process held a core,
and at 1.63x when idle: a thread that waits for a busy core holds back every op. `auto` therefore
counts the cores not busy with other processes (psutil's per-interval CPU times, when installed; the
load average otherwise) and is re-checked each epoch when training on the CPU. psutil stays an
optional import: the load average gives a usable, if slower-moving, figure without it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import torch

SAMPLE_SECONDS = 0.25
"""How long CPU use is sampled for `auto`."""


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def _ranks_on_this_machine() -> int:
    try:
        return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    except ValueError:
        return 1


def busy_elsewhere(sample: float = SAMPLE_SECONDS) -> tuple[float, str]:
    """(cores' worth of CPU used by other processes, how it was measured)."""
    try:
        import psutil
    except ImportError:
        load = os.getloadavg()[0]
        return load, "load average"  # counts this process too: at start it is mostly idle
    own = psutil.Process()
    psutil.cpu_percent(None)
    own.cpu_percent(None)
    time.sleep(sample)
    total = psutil.cpu_percent(None) / 100 * (psutil.cpu_count() or 1)
    return max(0.0, total - own.cpu_percent(None) / 100), "busy with other processes"


@dataclass(frozen=True)
class ThreadChoice:
    threads: int
    reason: str


def choose_threads(setting: int | str) -> ThreadChoice:
    """The thread count for `train.threads` and why: a number as it is; `auto` follows OMP_NUM_THREADS
    when set, else the idle cores, shared out among the torchrun ranks on this machine."""
    if setting != "auto":
        return ThreadChoice(int(setting), "train.threads")
    pinned = os.environ.get("OMP_NUM_THREADS", "")
    if pinned.isdigit() and int(pinned) > 0:
        return ThreadChoice(int(pinned), "auto: OMP_NUM_THREADS is set")
    cores = usable_cores()
    busy, how = busy_elsewhere()
    idle = max(1, cores - round(busy))
    ranks = _ranks_on_this_machine()
    threads = max(1, idle // ranks)
    shared = f", shared by {ranks} ranks" if ranks > 1 else ""
    return ThreadChoice(threads, f"auto: {idle} of {cores} cores idle ({busy:.1f} {how}){shared}")


def apply_threads(setting: int | str) -> ThreadChoice:
    """Choose and set torch's intra-op thread count."""
    choice = choose_threads(setting)
    if torch.get_num_threads() != choice.threads:
        torch.set_num_threads(choice.threads)
    return choice

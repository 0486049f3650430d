"""Split a per-image CPU loop over a few long-lived threads, each running its torch ops on one thread.

BatchAugment's CPU crop-resize is a loop of small per-image ops: too small for OpenMP to split well
(each op split over the cores waits for the slowest part), but independent of one another, and torch
releases the GIL inside them, so Python threads run them side by side. The caller passes its
intra-op thread budget (`torch.get_num_threads()`, which `train.threads` fits to the idle cores), so
a machine whose other cores are busy keeps the loop on the calling thread.

Each worker sets its own intra-op threads to 1 when it starts (torch keeps that per thread). Torch
also stores the value as the default for threads started later, so the workers are started, and
have all set it, while the caller is itself on one thread (`single_thread_for_small`) and before it
restores its own setting.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import torch

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def _workers(count: int) -> ThreadPoolExecutor:
    """A pool of at least `count` started threads, each on one intra-op thread."""
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < count:
            if _pool is not None:
                _pool.shutdown(wait=False)
            pool = ThreadPoolExecutor(
                count, thread_name_prefix="tui-trainer-images", initializer=torch.set_num_threads, initargs=(1,)
            )
            started = threading.Barrier(count)
            list(pool.map(lambda _i: started.wait(), range(count)))  # every thread started and set up
            _pool, _pool_size = pool, count
        return _pool


def for_each_share(count: int, threads: int, work: Callable[[range], None]) -> None:
    """Calls work(share) for shares of range(count) that together cover it once: one share on this
    thread and one on each of `threads - 1` workers, running at once, interleaved (items 0, t, 2t, ...
    then 1, t + 1, ...) so shares of unevenly sized items stay even. An error in any share is raised
    here once every share has finished."""
    threads = max(1, min(threads, count))
    if threads == 1:
        work(range(count))
        return
    futures = [_workers(threads - 1).submit(work, range(k, count, threads)) for k in range(1, threads)]
    try:
        work(range(0, count, threads))
    finally:
        errors = [f.exception() for f in futures]
    for error in errors:
        if error is not None:
            raise error

"""Keep the data pipeline's small CPU tensor ops on the calling thread.

A 64-image 32x32 batch is a few hundred thousand numbers per op: splitting each op over OpenMP
threads gains little even on an idle machine, and when another process holds a core every op waits
for the descheduled thread. On this project's 2-core machine under load, augmenting batches went
from about 500 to about 14,000 images/s on one thread. Large batches (big images) still use all.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

SMALL_WORK = 1 << 20
"""Elements per batch (B*C*H*W) up to which CPU batch work runs single-threaded."""


@contextlib.contextmanager
def single_thread_for_small(device: torch.device, elements: int) -> Iterator[None]:
    """Within the block, intra-op threads = 1 if this is small CPU work; restored afterwards."""
    previous = torch.get_num_threads()
    if device.type != "cpu" or elements > SMALL_WORK or previous == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)

"""`data.storage`: hold the whole set on the training device, or stream each batch from the cache.

`auto` picks `device` when the images fit a budget (a share of the free device memory, or of the
available RAM on a CPU or Apple GPU) and `stream` otherwise, and says why, so a run's first lines
explain its speed and memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

DEVICE_SHARE = 0.5
"""Share of the free memory the images may take on `auto`: the model, activations and the
optimiser need the rest."""


@dataclass(frozen=True)
class StorageChoice:
    mode: str  # "device" | "stream"
    reason: str


def _size(n: float) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**28 else f"{n / 2**20:.0f} MiB"


def available_ram() -> int:
    """Bytes of RAM available to new allocations (psutil when installed, else /proc/meminfo)."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def memory_budget(device: torch.device) -> tuple[int, str]:
    """(bytes the images may take on `device`, what that figure is), for `auto`."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free * DEVICE_SHARE), f"{DEVICE_SHARE:.0%} of the {_size(free)} free on {device}"
    ram = available_ram()
    return int(ram * DEVICE_SHARE), f"{DEVICE_SHARE:.0%} of the {_size(ram)} RAM available"


def choose_storage(
    setting: str, data_bytes: int, device: torch.device, budget: tuple[int, str] | None = None
) -> StorageChoice:
    """The storage for `setting` ("auto" | "device" | "stream") and a sentence saying why."""
    size = _size(data_bytes)
    if setting == "device":
        return StorageChoice("device", f"set by data.storage: {size} of images held on {device}")
    if setting == "stream":
        return StorageChoice("stream", f"set by data.storage: {size} of images read from the cache per batch")
    limit, what = budget if budget is not None else memory_budget(device)
    if data_bytes <= limit:
        return StorageChoice("device", f"auto: {size} of images fit in {what}")
    return StorageChoice("stream", f"auto: {size} of images exceed {what}, so batches stream from the cache")

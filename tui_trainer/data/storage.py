"""`data.storage`: hold the whole set on the training device, or stream each batch from the cache.

`auto` picks `device` when the images fit a budget (a share of the free device memory, or of the
available RAM on a CPU or Apple GPU, within the process's cgroup memory limit) and `stream`
otherwise, and says why, so a run's first lines explain its speed and memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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


CGROUP_ROOT = Path("/sys/fs/cgroup")
"""Where the cgroup file systems are mounted (tests point it at a fake tree)."""


def _read_int(path: Path) -> int | None:
    """The number in a cgroup file; None when it is missing, unreadable or "max" (no limit)."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _inactive_file(stat: Path, key: str) -> int:
    """Bytes of the group's page cache that can be reclaimed (memory.stat's inactive file pages)."""
    try:
        for line in stat.read_text(encoding="ascii").splitlines():
            name, _, value = line.partition(" ")
            if name == key and value.strip().isdigit():
                return int(value)
    except OSError:
        pass
    return 0


def _cgroup_folders(proc_cgroup: Path) -> list[tuple[Path, str, str, str]]:
    """(folder, limit file, usage file, inactive-file key) for this process's memory cgroup and each
    ancestor up to the mount: v2 (memory.max) and v1 (memory.limit_in_bytes) layouts."""
    try:
        lines = proc_cgroup.read_text(encoding="ascii").splitlines()
    except OSError:
        return []
    found = []
    mounts: tuple[Path, ...]
    for line in lines:
        _hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if controllers == "":  # v2, mounted at the root or, beside v1, at unified/
            mounts, files = (CGROUP_ROOT, CGROUP_ROOT / "unified"), ("memory.max", "memory.current", "inactive_file")
        elif "memory" in controllers.split(","):
            mounts, files = (
                (CGROUP_ROOT / "memory",),
                ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"),
            )
        else:
            continue
        parts = [p for p in path.split("/") if p]
        for mount in mounts:
            for depth in range(len(parts), -1, -1):
                found.append((mount.joinpath(*parts[:depth]), *files))
    return found


def cgroup_memory_left(proc_cgroup: Path = Path("/proc/self/cgroup")) -> int | None:
    """Bytes this process may still take under its cgroup memory limits (the tightest of its group
    and their ancestors: limit - usage + reclaimable page cache), or None when no limit applies.

    /proc/meminfo and psutil report the whole machine: under a container's or a systemd scope's
    limit they overstate what a process may allocate before it is OOM-killed."""
    left = None
    for folder, limit_name, usage_name, inactive_key in _cgroup_folders(proc_cgroup):
        limit = _read_int(folder / limit_name)
        usage = _read_int(folder / usage_name)
        if limit is None or usage is None or limit >= 1 << 60:  # v1 writes "no limit" as a huge number
            continue
        room = max(0, limit - usage + _inactive_file(folder / "memory.stat", inactive_key))
        left = room if left is None else min(left, room)
    return left


def _machine_ram() -> int:
    """Bytes of the machine's RAM available to new allocations (psutil when installed, else /proc/meminfo)."""
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


def available_ram() -> tuple[int, str]:
    """(bytes of RAM this process may still allocate, what that figure is): the machine's available
    RAM, or what its cgroup memory limit leaves when that is less."""
    machine = _machine_ram()
    cgroup = cgroup_memory_left()
    if cgroup is not None and cgroup < machine:
        return cgroup, "RAM left under this process's cgroup memory limit"
    return machine, "RAM available"


def memory_budget(device: torch.device) -> tuple[int, str]:
    """(bytes the images may take on `device`, what that figure is), for `auto`."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free * DEVICE_SHARE), f"{DEVICE_SHARE:.0%} of the {_size(free)} free on {device}"
    ram, what = available_ram()
    return int(ram * DEVICE_SHARE), f"{DEVICE_SHARE:.0%} of the {_size(ram)} {what}"


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

"""Measuring a run's health without slowing it: host clocks, a device-side gradient norm, sampled system figures.

The training loop reads the step timer and the gradient norm only at the progress reports it
already makes (where it syncs for the loss anyway), so CUDA gets no extra sync per batch.
`SystemProbe` adds the process's CPU and memory (psutil), the device memory on CUDA (torch's
allocator counters, no sync) and the GPU's utilisation and temperature when nvidia-ml-py is
installed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import torch

SYSTEM_SAMPLE_INTERVAL = 1.0
"""Seconds between two samples of CPU, memory and GPU figures (psutil and NVML calls are not free)."""

T = TypeVar("T")
log = logging.getLogger(__name__)


class StepTimer:
    """Host time spent waiting for batches and in whole steps, summed between two reports."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._data = 0.0
        self._batches = 0
        self._since = clock()

    def wrap(self, batches: Iterable[T]) -> Iterator[T]:
        """`batches`, timing each `next()` (the data step: decoding, augmenting, copying)."""
        iterator = iter(batches)
        while True:
            started = self._clock()
            try:
                item = next(iterator)
            except StopIteration:
                return
            self._data += self._clock() - started
            self._batches += 1
            yield item

    def take(self, now: float) -> tuple[float, float]:
        """(data, step) seconds per batch since the last call, and start counting afresh."""
        batches = max(self._batches, 1)
        data, step = self._data / batches, (now - self._since) / batches
        self._data, self._batches, self._since = 0.0, 0, now
        return data, max(step, data)


def grad_norm(parameters: Iterable[torch.nn.Parameter]) -> torch.Tensor | None:
    """The L2 norm of every gradient, as a device scalar (reading it is the caller's sync)."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return None
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.detach().float()) for g in grads]))


class SystemProbe:
    """Samples the process and its device, at most once per `interval` seconds (cached between)."""

    def __init__(
        self,
        device: torch.device,
        interval: float = SYSTEM_SAMPLE_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.device = torch.device(device)
        self.interval = interval
        self._clock = clock
        self._sampled_at: float | None = None
        self._last: dict[str, Any] = {}
        self._process = _psutil_process()
        self._nvml = _nvml_handle(self.device) if self.device.type == "cuda" else None

    def sample(self) -> dict[str, Any]:
        """Health's machine fields (cpu_percent, rss_bytes, device_memory_*, gpu_*) as keywords."""
        now = self._clock()
        if self._sampled_at is not None and now - self._sampled_at < self.interval:
            return self._last
        self._sampled_at = now
        figures: dict[str, Any] = {}
        if self._process is not None:
            try:
                figures["cpu_percent"] = float(self._process.cpu_percent(interval=None))
                figures["rss_bytes"] = int(self._process.memory_info().rss)
            except Exception:  # a figure the OS refuses is left out, the run goes on
                log.debug("psutil sample failed", exc_info=True)
        if self.device.type == "cuda":
            try:
                figures["device_memory_used"] = int(torch.cuda.memory_reserved(self.device))  # no sync
                figures["device_memory_total"] = int(torch.cuda.get_device_properties(self.device).total_memory)
            except Exception:
                log.debug("CUDA memory sample failed", exc_info=True)
        if self._nvml is not None:
            figures.update(_nvml_sample(self._nvml))
        self._last = figures
        return figures


def _psutil_process() -> Any:
    try:
        import psutil

        process = psutil.Process()
        process.cpu_percent(interval=None)  # the first call starts the measurement
        return process
    except Exception:  # noqa: BLE001 - no psutil, or a sandbox without /proc: no CPU figures
        return None


def _nvml_handle(device: torch.device) -> Any:
    """An NVML handle for `device`, or None without nvidia-ml-py (the optional `pynvml` module)."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        index = device.index if device.index is not None else torch.cuda.current_device()
        uuid = getattr(torch.cuda.get_device_properties(index), "uuid", None)
        if uuid is not None:  # CUDA_VISIBLE_DEVICES renumbers devices; the UUID does not change
            with_prefix = str(uuid) if str(uuid).startswith("GPU-") else f"GPU-{uuid}"
            try:
                return pynvml.nvmlDeviceGetHandleByUUID(with_prefix)
            except Exception:  # noqa: BLE001 - fall back to the index
                pass
        return pynvml.nvmlDeviceGetHandleByIndex(index)
    except Exception:  # no driver access (a container): no GPU figures
        log.debug("NVML unavailable", exc_info=True)
        return None


def _nvml_sample(handle: Any) -> dict[str, Any]:
    import pynvml

    figures: dict[str, Any] = {}
    try:
        figures["gpu_utilization"] = float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        figures["gpu_temperature"] = float(pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU))
    except Exception:
        log.debug("NVML sample failed", exc_info=True)
    return figures

"""How healthy a run is: where each step's time goes, the gradient norm, and what the machine spends.

The figures as a plain record (`Health`, carried by `BatchProgress` and written to the run folder's progress record)
and their wording, shared by the console's panel and the headless epoch lines. No torch here: the
CLI and followers import this without loading it. The measuring is in `health_probe`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

INPUT_BOUND_FRACTION = 0.1
"""A step is input-bound when waiting for its batch takes more than this share of its time."""
GRAD_NORM_EVERY = 10
"""Optimiser steps between two gradient-norm measurements (each one is a pass over every gradient)."""


@dataclass(frozen=True)
class Health:
    """One progress report's health figures; None where this machine cannot say."""

    data_seconds: float = 0.0  # per batch, mean since the last report: waiting for the batch
    step_seconds: float = 0.0  # per batch, mean wall time since the last report (data + compute)
    grad_norm: float | None = None  # L2 norm of all gradients at the latest measured optimiser step
    cpu_percent: float | None = None  # this process, 100 = one core busy
    rss_bytes: int | None = None  # this process's resident memory
    device_memory_used: int | None = None  # CUDA: bytes reserved by torch's allocator
    device_memory_total: int | None = None  # CUDA: the device's memory
    gpu_utilization: float | None = None  # NVML, percent of time a kernel ran
    gpu_temperature: float | None = None  # NVML, degrees Celsius
    loss_scale: float | None = None  # fp16: the gradient scaler's factor now
    skipped_steps: int | None = None  # fp16: optimiser steps of this epoch skipped because a gradient overflowed

    @property
    def compute_seconds(self) -> float:
        return max(0.0, self.step_seconds - self.data_seconds)

    @property
    def data_fraction(self) -> float:
        return self.data_seconds / self.step_seconds if self.step_seconds > 0 else 0.0

    @property
    def input_bound(self) -> bool:
        return self.data_fraction > INPUT_BOUND_FRACTION

    def to_record(self) -> dict[str, Any]:
        """The progress record's keys (flat, so the record's reader checks each one)."""
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Health | None:
        """The figures a progress record holds; None when it holds none (an older writer)."""
        if "step_seconds" not in record:
            return None
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in record.items() if k in known})


def format_health(health: Health) -> list[str]:
    """The health figures as short lines (the console's panel and the headless epoch line)."""
    ms = 1000.0
    timing = (
        f"step {health.step_seconds * ms:.1f} ms: data {health.data_seconds * ms:.1f} ms "
        f"({health.data_fraction:.0%}), compute {health.compute_seconds * ms:.1f} ms"
    )
    if health.grad_norm is not None:
        timing += f" · grad norm {health.grad_norm:.3g}"
    machine = []
    if health.cpu_percent is not None:
        machine.append(f"CPU {health.cpu_percent:.0f}%")
    if health.rss_bytes is not None:
        machine.append(f"RSS {_size(health.rss_bytes)}")
    if health.device_memory_used is not None:
        total = f"/{_size(health.device_memory_total)}" if health.device_memory_total else ""
        machine.append(f"GPU mem {_size(health.device_memory_used)}{total}")
    if health.gpu_utilization is not None:
        machine.append(f"GPU {health.gpu_utilization:.0f}%")
    if health.gpu_temperature is not None:
        machine.append(f"{health.gpu_temperature:.0f}°C")
    lines = [timing, " · ".join(machine)] if machine else [timing]
    if health.loss_scale is not None:
        skipped = health.skipped_steps or 0
        lines.append(
            f"fp16 loss scale {health.loss_scale:g} · {skipped} step{'' if skipped == 1 else 's'} skipped "
            "this epoch (gradient overflow)"
        )
    if health.input_bound:
        lines.append(
            f"warning: input-bound, waiting for data takes {health.data_fraction:.0%} of each step "
            f"(over {INPUT_BOUND_FRACTION:.0%})"
        )
    return lines


def _size(nbytes: int | None) -> str:
    value = float(nbytes or 0)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


class EpochHealth:
    """An epoch's health from its progress reports: step timing averaged over the batches each
    report covers, the newest machine figures and gradient norm (the headless once-per-epoch line)."""

    def __init__(self) -> None:
        self._start_afresh()

    def _start_afresh(self) -> None:
        self._latest: Health | None = None
        self._batch = 0
        self._data = 0.0
        self._step = 0.0
        self._batches = 0

    def add(self, health: Health, batch: int) -> None:
        """`health` of the report after `batch` batches of this epoch (1-based; a new epoch restarts)."""
        if batch < self._batch:
            self._start_afresh()
        covered = max(batch - self._batch, 1)
        self._batch = batch
        self._data += health.data_seconds * covered
        self._step += health.step_seconds * covered
        self._batches += covered
        self._latest = health

    def take(self) -> Health | None:
        """The epoch's figures (None when there were none), and start afresh."""
        latest, batches = self._latest, max(self._batches, 1)
        data, step = self._data / batches, self._step / batches
        self._start_afresh()
        if latest is None:
            return None
        return Health(**{**latest.to_record(), "data_seconds": data, "step_seconds": step})

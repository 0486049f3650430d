"""Data-parallel helpers over torch.distributed; each is a no-op in a single process.

torchrun starts one process per device and sets RANK/WORLD_SIZE; `init_from_env` joins them,
the model is wrapped in DistributedDataParallel, and epoch metrics are reduced so every rank
(and the run folder written by rank 0) sees what one process would report for the same data.

Failure model: every collective has a timeout (`TUI_TRAINER_DIST_TIMEOUT` seconds, default 300),
so a rank whose peer died or hangs raises instead of waiting forever; a rank that fails leaves the
process group without a barrier and exits non-zero, and torchrun then ends the other workers.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import math
import os
import sys
import time
from dataclasses import replace
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from .device import DeviceError
from .loops import EpochPosition, EpochStats, ValidationResult
from .torchrun_env import launched_by_torchrun

TIMEOUT_ENV = "TUI_TRAINER_DIST_TIMEOUT"
DEFAULT_TIMEOUT_S = 300.0

SETUP_TIMEOUT_S = 6 * 3600.0
"""How long a rank whose data is ready waits for the others to decode theirs (`wait_for_peers`):
longer than decoding ImageNet from a slow shared disk takes. A peer that dies ends the wait at once."""

_setup_group: dist.ProcessGroup | None = None
"""A gloo group with SETUP_TIMEOUT_S for `wait_for_peers` (gloo also under NCCL: it only moves a CPU flag)."""


def is_active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_active() else 0


def world_size() -> int:
    return dist.get_world_size() if is_active() else 1


class DistributedSetupError(DeviceError):
    """torchrun's environment (or $TUI_TRAINER_DIST_TIMEOUT) cannot be used on this machine."""


def collective_timeout() -> float:
    """Seconds any collective may wait for the other ranks: $TUI_TRAINER_DIST_TIMEOUT, default 300."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise DistributedSetupError(f"{TIMEOUT_ENV}={raw!r}: expected a number of seconds greater than 0 (default 300)")
    return value


def init_from_env(device: torch.device, timeout_s: float | None = None) -> None:
    """Join the process group torchrun describes: NCCL on CUDA, gloo on CPU.

    The timeout (`collective_timeout()` unless given) bounds every collective, so a rank that
    dies or hangs makes the others fail instead of hanging.
    """
    if is_active() or not launched_by_torchrun():
        return
    timeout = collective_timeout() if timeout_s is None else timeout_s
    backend = "nccl" if device.type == "cuda" else "gloo"
    kwargs: dict[str, Any] = {}
    if device.type == "cuda":
        kwargs["device_id"] = device
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout), **kwargs)
    global _setup_group
    group = dist.new_group(backend="gloo", timeout=datetime.timedelta(seconds=SETUP_TIMEOUT_S))
    _setup_group = group if isinstance(group, dist.ProcessGroup) else None  # every rank is a member: a group


def wait_for_peers() -> None:
    """Meet every rank once each has its data (a no-op in one process).

    Decoding takes as long as it takes on each machine: one whose cache is already full, or
    whose process waited on another's decoding (data.entry_lock), is ready long before a machine
    that decodes. Its next collective would give up after the collective timeout; this barrier
    waits up to SETUP_TIMEOUT_S instead, so the ranks start training together.
    """
    if world_size() > 1:
        dist.barrier(group=_setup_group)


def shutdown() -> None:
    if is_active():
        dist.destroy_process_group()


def local_device(device: torch.device) -> torch.device:
    """With torchrun on CUDA, each process takes the GPU of its LOCAL_RANK."""
    if device.type == "cuda" and launched_by_torchrun():
        index = int(os.environ.get("LOCAL_RANK", "0"))
        count = torch.cuda.device_count()
        if index >= count:
            raise DistributedSetupError(
                f"torchrun started a process with LOCAL_RANK {index} but this machine has {count} CUDA device(s): "
                f"use --nproc_per_node={count} or fewer"
            )
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    return device


def wrap_model(model: nn.Module, device: torch.device) -> nn.Module:
    """DistributedDataParallel around `model` (which it broadcasts from rank 0) when there are peers.

    BatchNorm stays per-rank (no SyncBatchNorm): each rank normalises over its own batch, and DDP
    copies rank 0's running statistics to every rank before each forward, so all ranks validate
    and checkpoint the same weights.
    """
    if world_size() == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


def _flag_device() -> torch.device:
    """Where small control tensors go: NCCL only moves CUDA tensors, gloo CPU ones."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def any_rank(flag: bool) -> bool:
    """True on every rank when `flag` is true on at least one (a collective: all ranks must call)."""
    if world_size() == 1:
        return flag
    box = torch.tensor([int(flag)], dtype=torch.int64, device=_flag_device())
    dist.all_reduce(box, op=dist.ReduceOp.MAX)
    return bool(box.item())


class StopVote:
    """Makes every rank stop an epoch at the same batch when any of them is asked to stop.

    Under DDP a rank that leaves the loop alone strands its peers in the next gradient all-reduce,
    so a stop request (Ctrl+C or SIGTERM, which torchrun forwards to every worker) is put to a vote.
    Voting every batch would cost a host sync per batch on a GPU, so the ranks vote about every
    `interval_s` seconds; the next voting batch is agreed in the same all-reduce, so all ranks vote
    at the same batches. Call it once before each batch, on every rank.

    A timed checkpoint rides on the same vote: saving one gathers every rank's running sums (a
    collective), so the ranks must save at the same batch, and their clocks differ. After each call
    `checkpoint_due` is true on every rank when any rank said its checkpoint was due at a vote
    (False between votes); in one process it is the caller's own flag.
    """

    def __init__(self, interval_s: float = 0.2, max_every: int = 64) -> None:
        self.interval_s = interval_s
        self.max_every = max_every
        self._calls = 0
        self._next_vote = 0
        self._last_vote_call = 0
        self._last_vote_time = time.perf_counter()
        self.checkpoint_due = False

    def __call__(self, stop_requested: bool, checkpoint_due: bool = False) -> bool:
        if world_size() == 1:
            self.checkpoint_due = checkpoint_due
            return stop_requested
        call = self._calls
        self._calls += 1
        self.checkpoint_due = False
        if call < self._next_vote:
            return False
        now = time.perf_counter()
        batches = call - self._last_vote_call
        if batches == 0:  # the first vote: no timing yet, vote again at the next batch
            every = 1
        else:
            per_batch = (now - self._last_vote_time) / batches
            every = self.max_every if per_batch <= 0 else int(self.interval_s / per_batch)
            every = max(1, min(self.max_every, every))
        # One all-reduce: MAX of the stop and checkpoint flags, MIN of the proposed gaps (as MAX of their negatives).
        box = torch.tensor([int(stop_requested), int(checkpoint_due), -every], dtype=torch.int64, device=_flag_device())
        dist.all_reduce(box, op=dist.ReduceOp.MAX)
        stop, due, neg_every = box.tolist()
        self._next_vote = call + max(1, -neg_every)
        self._last_vote_call, self._last_vote_time = call, now
        self.checkpoint_due = bool(due)
        return bool(stop)


def reduce_epoch_stats(stats: EpochStats, device: torch.device) -> EpochStats:
    """Sample-weighted loss and accuracy over all ranks."""
    if world_size() == 1:
        return stats
    sums = torch.tensor(
        [stats.loss * stats.images, stats.accuracy * stats.images, float(stats.images)],
        dtype=torch.float64,
        device=device,
    )
    dist.all_reduce(sums)
    images = round(sums[2].item())
    return replace(
        stats,
        loss=sums[0].item() / max(images, 1),
        accuracy=round(sums[1].item()) / max(images, 1),
        images=images,
    )


def reduce_position(position: EpochPosition, device: torch.device) -> EpochPosition:
    """`position` with every rank's running sums added up, so rank 0 can save them for all.

    A collective: every rank calls it at the same batch (a stop or a timed checkpoint agreed by
    StopVote). A resumed rank other than 0 then starts its sums from nothing (Trainer.load).
    """
    if world_size() == 1:
        return position
    sums = torch.tensor([position.loss_sum, position.correct, position.seen], dtype=torch.float64, device=device)
    dist.all_reduce(sums)
    loss_sum, correct, seen = sums.tolist()
    return replace(position, loss_sum=loss_sum, correct=round(correct), seen=round(seen))


def gather_validation(result: ValidationResult, device: torch.device) -> ValidationResult:
    """Put every rank's shard of the validation set back together, in validation order."""
    if world_size() == 1:
        return result
    shard = (result.labels, result.predictions, result.confidences, result.losses, result.probabilities)
    shards: list = [None] * world_size()
    dist.all_gather_object(shards, shard)
    labels, predictions, confidences, losses = (torch.cat([s[i] for s in shards]) for i in range(4))
    parts = [s[4] for s in shards]
    probabilities = None if any(p is None for p in parts) else torch.cat(parts)
    classes = result.confusion.shape[0]
    confusion = torch.bincount(labels * classes + predictions, minlength=classes * classes).reshape(classes, classes)
    count = max(int(labels.numel()), 1)
    return ValidationResult(
        loss=float(losses.double().sum().item()) / count,
        accuracy=float(confusion.diagonal().sum().item()) / count,
        confusion=confusion,
        labels=labels,
        predictions=predictions,
        confidences=confidences,
        losses=losses,
        probabilities=probabilities,
    )


def broadcast_str(value: str) -> str:
    """Rank 0's `value` on every rank."""
    if world_size() == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


_COLLECTIVE_FAILURE_MARKERS = ("gloo/", "NCCL", "Connection closed by peer", "Timed out waiting", "Connection reset")
"""Gloo reports a dead or hung peer as a plain RuntimeError; these are in its messages."""


def is_collective_failure(exc: BaseException) -> bool:
    """Whether `exc` says a collective failed: a peer died, hung past the timeout, or the network broke."""
    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    text = str(exc)
    return world_size() > 1 and any(marker in text for marker in _COLLECTIVE_FAILURE_MARKERS)


def barrier_and_shutdown(clean: bool = True) -> None:
    """Leave the process group at the end of a run (no-op in a single process).

    `clean`: this rank finished, or stopped where every rank agreed to stop, so all ranks come
    here. They then meet at a barrier before leaving, so no rank tears its group down while a peer
    still waits on it. After a failure there is no barrier: the peers may be dead or stuck
    mid-epoch and would never reach it. Drop the DDP model before calling this: its reducer holds
    the group, and a group that outlives this call is torn down in interpreter shutdown instead.
    """
    if not is_active():
        return
    gc.collect()  # free what still refers to the group (a DDP reducer in a reference cycle)
    # A group broken by a dead peer may raise here; that must not mask the run's own outcome.
    if clean:
        with contextlib.suppress(Exception):
            dist.barrier()
    with contextlib.suppress(Exception):
        dist.destroy_process_group()
    global _setup_group
    _setup_group = None


def end_worker(exit_code: int) -> None:
    """Under torchrun, end this worker process now with `exit_code`; otherwise return.

    A gloo worker that leaves through normal interpreter shutdown can abort there ("terminate
    called without an active exception", SIGABRT) when one of gloo's C++ threads releases a tensor
    after Python is gone: torchrun then reports the whole job failed although every epoch and
    every file of the run was written. Once the run is over and the group destroyed, nothing is
    left for finalisation to do that a worker needs, so it skips it: output is flushed and the
    process exits at once.
    """
    if not launched_by_torchrun():
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(exit_code)

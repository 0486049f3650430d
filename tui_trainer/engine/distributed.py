"""Data-parallel helpers over torch.distributed; each is a no-op in a single process.

torchrun starts one process per device and sets RANK/WORLD_SIZE; `init_from_env` joins them,
the model is wrapped in DistributedDataParallel, and epoch metrics are reduced so every rank
(and the run folder written by rank 0) sees what one process would report for the same data.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import replace

import torch
import torch.distributed as dist
from torch import nn

from .loops import EpochStats, ValidationResult


def is_active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_active() else 0


def world_size() -> int:
    return dist.get_world_size() if is_active() else 1


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env(device: torch.device, timeout_s: float = 300.0) -> None:
    """Join the process group torchrun describes: NCCL on CUDA, gloo on CPU.

    The timeout bounds every collective, so a rank that dies makes the others fail instead of
    hanging.
    """
    if is_active() or not launched_by_torchrun():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    kwargs = {}
    if device.type == "cuda":
        kwargs["device_id"] = device
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout_s), **kwargs)


def shutdown() -> None:
    if is_active():
        dist.destroy_process_group()


def local_device(device: torch.device) -> torch.device:
    """With torchrun on CUDA, each process takes the GPU of its LOCAL_RANK."""
    if device.type == "cuda" and launched_by_torchrun():
        index = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    return device


def wrap_model(model: nn.Module, device: torch.device) -> nn.Module:
    if world_size() == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


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


def gather_validation(result: ValidationResult, device: torch.device) -> ValidationResult:
    """Put every rank's shard of the validation set back together, in validation order."""
    if world_size() == 1:
        return result
    shard = (result.labels, result.predictions, result.confidences, result.losses)
    shards: list = [None] * world_size()
    dist.all_gather_object(shards, shard)
    labels, predictions, confidences, losses = (torch.cat([s[i] for s in shards]) for i in range(4))
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
    )


def broadcast_str(value: str) -> str:
    """Rank 0's `value` on every rank."""
    if world_size() == 1:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier_and_shutdown() -> None:
    """Leave the process group at the end of a run (no-op in a single process)."""
    shutdown()

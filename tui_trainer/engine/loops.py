"""The two loops of the seed recipe: one training epoch with gradient accumulation, one validation.

They keep running sums on the device and read them back (`.item()`, a device sync) only when a
progress report is due, so a fast GPU is never stalled once per batch.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

from .device import Numerics
from .health_probe import StepTimer, grad_norm

ProgressFn = Callable[[int, float, float, int, float], None]
"""progress(batches_done, mean_loss, accuracy, images_done, seconds) during an epoch."""
HealthFn = Callable[[float, float, float | None], None]
"""health(data_seconds, step_seconds, grad_norm): per batch since the last report, just before progress."""


class NonFiniteLoss(FloatingPointError):
    """The training loss became NaN or infinite."""

    def __init__(self, batch: int) -> None:
        self.batch = batch
        super().__init__(f"training loss became non-finite at or before batch {batch}")


@dataclass(frozen=True)
class EpochStats:
    loss: float  # mean over the images seen
    accuracy: float  # 0-1
    images: int
    seconds: float
    completed: bool  # False when stopped between batches


@dataclass(frozen=True)
class ValidationResult:
    loss: float
    accuracy: float
    confusion: torch.Tensor  # int64 [K, K] on CPU, rows = true class
    labels: torch.Tensor  # int64 [N] on CPU, validation order
    predictions: torch.Tensor  # int64 [N]
    confidences: torch.Tensor  # float32 [N], probability of the predicted class
    losses: torch.Tensor  # float32 [N], per-sample loss


def _to_device(images: torch.Tensor, labels: torch.Tensor, numerics: Numerics) -> tuple[torch.Tensor, torch.Tensor]:
    images = images.to(numerics.device, non_blocking=True)
    if numerics.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    return images, labels.to(numerics.device, non_blocking=True)


def dominant_labels(targets: torch.Tensor) -> torch.Tensor:
    """Hard labels for accuracy: int labels as they are; for soft targets [B, K] (mixup, cutmix) the
    class with the most weight, i.e. the label of the image that makes up most of a mixed one."""
    return targets if targets.dim() == 1 else targets.argmax(dim=1)


def train_epoch(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    num_batches: int,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    numerics: Numerics,
    *,
    accumulation_steps: int = 1,
    on_optimizer_step: Callable[[], None] | None = None,
    on_progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress_interval: float = 0.1,
    on_health: HealthFn | None = None,
    grad_norm_every: int = 0,
    clock: Callable[[], float] = time.perf_counter,
    scaler: torch.amp.GradScaler | None = None,
) -> EpochStats:
    """Train for one pass over `batches`, updating every `accumulation_steps` batches.

    Each batch's loss is divided by the number of batches in its group, so a group's gradient
    is the mean over the group, as one larger batch would give; a last, shorter group still
    updates the weights.

    `on_health` gets the step timing (host clocks) and, every `grad_norm_every` optimiser steps
    (0 = never), the gradient norm, read at the progress reports' sync: no sync of its own.
    Seconds (img/s, step times) are on `clock`: the trainer's stands still while the run is paused.

    `scaler` (fp16): the loss is scaled before backward so small gradients survive float16, and the
    step unscales them first; a step whose gradients overflowed is skipped by the scaler (the caller
    counts those with an optimizer step hook) and the scale is lowered.
    """
    model.train()
    device = numerics.device
    # The device holds the sum since the last report, in a dtype it has (MPS has no float64); the
    # host adds those partial sums up in float64 (a Python float) whenever it reads them.
    loss_sum = torch.zeros((), device=device, dtype=accumulator_dtype(device))
    host_loss = 0.0
    correct = torch.zeros((), device=device, dtype=torch.int64)
    seen = 0
    started = last_report = clock()
    completed = True
    optimizer.zero_grad(set_to_none=True)
    no_sync = getattr(model, "no_sync", None)  # DistributedDataParallel: all-reduce once per group
    timer = StepTimer(clock) if on_health is not None else None
    norm: torch.Tensor | None = None  # the latest measured gradient norm, still on the device
    steps = 0

    for index, (images, labels) in enumerate(timer.wrap(batches) if timer is not None else batches):
        if should_stop is not None and should_stop():
            completed = False
            break
        images, labels = _to_device(images, labels, numerics)
        group_start = index - index % accumulation_steps
        group_size = min(accumulation_steps, num_batches - group_start)
        steps_now = (index - group_start + 1) == group_size
        sync = contextlib.nullcontext() if steps_now or no_sync is None else no_sync()
        with sync:
            with numerics.autocast():
                logits = model(images)
                loss = criterion(logits, labels)
            share = loss / group_size
            (share if scaler is None else scaler.scale(share)).backward()
        if steps_now:
            if on_health is not None and grad_norm_every and steps % grad_norm_every == 0:
                if scaler is not None:
                    scaler.unscale_(optimizer)  # the norm of the true gradients; step() will not unscale twice
                norm = grad_norm(model.parameters())  # stays on the device until the next report
            steps += 1
            if scaler is None:
                optimizer.step()
            else:
                scaler.step(optimizer)  # reads whether any gradient overflowed: a device sync point
                scaler.update()
            optimizer.zero_grad(set_to_none=True)
            if on_optimizer_step is not None:
                on_optimizer_step()

        # Running sums stay on the device; no sync here.
        loss_sum += loss.detach().to(loss_sum.dtype) * labels.shape[0]
        # Soft (mixed) targets count as right when the prediction is their dominant label.
        correct += (logits.detach().argmax(dim=1) == dominant_labels(labels)).sum()
        seen += labels.shape[0]

        now = clock()
        last = index + 1 == num_batches
        if on_progress is not None and (last or now - last_report >= progress_interval):
            last_report = now
            host_loss += loss_sum.item()  # device sync point, at most ~10 times a second
            loss_sum.zero_()
            mean_loss = host_loss / seen
            if not math.isfinite(mean_loss):
                raise NonFiniteLoss(index + 1)
            if timer is not None and on_health is not None:
                data_seconds, step_seconds = timer.take(clock())  # after the sync above
                on_health(data_seconds, step_seconds, None if norm is None else float(norm.item()))
            on_progress(index + 1, mean_loss, correct.item() / seen, seen, now - started)

    seconds = clock() - started
    if seen == 0:
        return EpochStats(loss=float("nan"), accuracy=0.0, images=0, seconds=seconds, completed=completed)
    mean_loss = (host_loss + loss_sum.item()) / seen
    if completed and not math.isfinite(mean_loss):
        raise NonFiniteLoss(num_batches)
    return EpochStats(loss=mean_loss, accuracy=correct.item() / seen, images=seen, seconds=seconds, completed=completed)


def accumulator_dtype(device: torch.device) -> torch.dtype:
    """The dtype of running sums on `device`: float64 where it exists, float32 on MPS (Apple GPUs)."""
    return torch.float32 if torch.device(device).type == "mps" else torch.float64


@torch.no_grad()
def validate(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    per_sample_criterion: nn.Module,
    numerics: Numerics,
    num_classes: int,
    tta: bool = False,
) -> ValidationResult:
    """Evaluate without augmentation; keep every sample's label, prediction, confidence and loss.

    With `tta`, each image's logits are the mean of its own and its horizontal mirror's (flip
    test-time augmentation): twice the forward passes for the accuracy a flip-trained model has on
    both views."""
    model.eval()
    labels_all, preds_all, conf_all, loss_all = [], [], [], []
    for images, labels in batches:
        images, labels = _to_device(images, labels, numerics)
        with numerics.autocast():
            logits = model(images)
            if tta:
                logits = (logits.float() + model(torch.flip(images, dims=[3])).float()) / 2
        logits = logits.float()
        losses = per_sample_criterion(logits, labels)
        confidence, predicted = logits.softmax(dim=1).max(dim=1)
        labels_all.append(labels)
        preds_all.append(predicted)
        conf_all.append(confidence)
        loss_all.append(losses.float())
    device = numerics.device
    labels = torch.cat(labels_all) if labels_all else torch.zeros(0, dtype=torch.int64, device=device)
    predicted = torch.cat(preds_all) if preds_all else torch.zeros(0, dtype=torch.int64, device=device)
    confidences = torch.cat(conf_all) if conf_all else torch.zeros(0, device=device)
    losses = torch.cat(loss_all) if loss_all else torch.zeros(0, device=device)
    confusion = torch.bincount(labels * num_classes + predicted, minlength=num_classes * num_classes)
    confusion = confusion.reshape(num_classes, num_classes)
    count = max(int(labels.numel()), 1)
    return ValidationResult(
        loss=math.fsum(losses.cpu().tolist()) / count,  # summed on the host: not every device has float64
        accuracy=float(confusion.diagonal().sum().item()) / count,
        confusion=confusion.cpu(),
        labels=labels.cpu(),
        predictions=predicted.cpu(),
        confidences=confidences.float().cpu(),
        losses=losses.cpu(),
    )

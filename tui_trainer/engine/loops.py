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
class EpochPosition:
    """Where an unfinished epoch stands: what a mid-epoch checkpoint holds to continue it exactly.

    Always at an optimiser step's boundary, so no half-accumulated gradient is lost."""

    batch: int = 0  # batches done; the next one to train is this (0-based)
    loss_sum: float = 0.0  # sum of loss * images over those batches
    correct: int = 0
    seen: int = 0  # images
    seconds: float = 0.0  # training time spent on them
    steps: int = 0  # optimiser steps taken in the epoch

    def to_record(self) -> dict[str, float | int]:
        return dict(vars(self))

    @classmethod
    def from_record(cls, record: dict[str, float | int]) -> EpochPosition:
        return cls(**{name: type(getattr(cls(), name))(record[name]) for name in vars(cls())})


@dataclass(frozen=True)
class EpochStats:
    loss: float  # mean over the images seen
    accuracy: float  # 0-1
    images: int
    seconds: float
    completed: bool  # False when stopped between batches
    position: EpochPosition | None = None  # where a stopped epoch stood (None when completed)


@dataclass(frozen=True)
class ValidationResult:
    loss: float
    accuracy: float
    confusion: torch.Tensor  # int64 [K, K] on CPU, rows = true class
    labels: torch.Tensor  # int64 [N] on CPU, validation order
    predictions: torch.Tensor  # int64 [N]
    confidences: torch.Tensor  # float32 [N], probability of the predicted class
    losses: torch.Tensor  # float32 [N], per-sample loss
    probabilities: torch.Tensor | None = None
    """float16 [N, K] on CPU: each sample's softmax over the classes, in class order (with TTA, of the
    averaged logits, so each row's argmax and max are `predictions` and `confidences`). Float16 keeps
    ImageNet's 50k×1000 at 100 MB; ROC and calibration need no more than three digits."""


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
    start: EpochPosition | None = None,
    checkpoint_due: Callable[[], bool] | None = None,
    on_checkpoint: Callable[[EpochPosition], None] | None = None,
    scaler: torch.amp.GradScaler | None = None,
) -> EpochStats:
    """Train for one pass over `batches`, updating every `accumulation_steps` batches.

    Each batch's loss is divided by the number of batches in its group, so a group's gradient
    is the mean over the group, as one larger batch would give; a last, shorter group still
    updates the weights.

    `on_health` gets the step timing (host clocks) and, every `grad_norm_every` optimiser steps
    (0 = never), the gradient norm, read at the progress reports' sync: no sync of its own.
    Seconds (img/s, step times) are on `clock`: the trainer's stands still while the run is paused.

    `start`: the position of a stopped epoch to continue (`batches` then begin at its batch).
    `should_stop` and `checkpoint_due` are asked at each optimiser step's boundary; when the latter
    says so, `on_checkpoint` gets the position there (one device sync).
    `scaler` (fp16): the loss is scaled before backward so small gradients survive float16, and the
    step unscales them first; a step whose gradients overflowed is skipped by the scaler (the caller
    counts those with an optimizer step hook) and the scale is lowered.
    """
    model.train()
    device = numerics.device
    start = start or EpochPosition()
    loss_sum = RunningSum(device, start.loss_sum)
    correct = torch.tensor(start.correct, device=device, dtype=torch.int64)
    seen = start.seen
    started = last_report = clock() - start.seconds
    completed = True
    optimizer.zero_grad(set_to_none=True)
    no_sync = getattr(model, "no_sync", None)  # DistributedDataParallel: all-reduce once per group
    timer = StepTimer(clock) if on_health is not None else None
    norm: torch.Tensor | None = None  # the latest measured gradient norm, still on the device
    steps = start.steps

    def position(batch: int) -> EpochPosition:
        return EpochPosition(batch, loss_sum.total(), int(correct.item()), seen, clock() - started, steps)

    for index, (images, labels) in enumerate(timer.wrap(batches) if timer is not None else batches, start.batch):
        if index % accumulation_steps == 0:  # between optimiser steps: nothing half-accumulated
            if should_stop is not None and should_stop():
                completed = False
                break
            if on_checkpoint is not None and index > start.batch and checkpoint_due is not None and checkpoint_due():
                on_checkpoint(position(index))
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
        loss_sum.add(loss.detach() * labels.shape[0])
        # Soft (mixed) targets count as right when the prediction is their dominant label.
        correct += (logits.detach().argmax(dim=1) == dominant_labels(labels)).sum()
        seen += labels.shape[0]

        now = clock()
        last = index + 1 == num_batches
        if on_progress is not None and (last or now - last_report >= progress_interval):
            last_report = now
            mean_loss = loss_sum.total() / seen  # device sync point, at most ~10 times a second
            if not math.isfinite(mean_loss):
                raise NonFiniteLoss(index + 1)
            if timer is not None and on_health is not None:
                data_seconds, step_seconds = timer.take(clock())  # after the sync above
                on_health(data_seconds, step_seconds, None if norm is None else float(norm.item()))
            on_progress(index + 1, mean_loss, correct.item() / seen, seen, now - started)

    stopped_at = None if completed else position(index)
    seconds = clock() - started
    if seen == 0:
        return EpochStats(
            loss=float("nan"), accuracy=0.0, images=0, seconds=seconds, completed=completed, position=stopped_at
        )
    mean_loss = loss_sum.total() / seen
    if completed and not math.isfinite(mean_loss):
        raise NonFiniteLoss(num_batches)
    return EpochStats(
        loss=mean_loss,
        accuracy=correct.item() / seen,
        images=seen,
        seconds=seconds,
        completed=completed,
        position=stopped_at,
    )


def accumulator_dtype(device: torch.device) -> torch.dtype:
    """The dtype of running sums on `device`: float64 where it exists, float32 on MPS (Apple GPUs)."""
    return torch.float32 if torch.device(device).type == "mps" else torch.float64


class RunningSum:
    """A sum of per-batch values kept on the device, read (a sync) only when asked.

    In float64 the whole sum stays on the device, added in batch order, so it comes out the same
    however often it is read and when a stopped epoch resumes from `total()`. MPS has no float64:
    there the device holds the part since the last read and the host adds the parts up in float64.
    """

    def __init__(self, device: torch.device, initial: float = 0.0) -> None:
        dtype = accumulator_dtype(device)
        self._device_sum = torch.tensor(initial if dtype == torch.float64 else 0.0, device=device, dtype=dtype)
        self._host = 0.0 if dtype == torch.float64 else initial

    def add(self, value: torch.Tensor) -> None:
        self._device_sum += value.to(self._device_sum.dtype)

    def total(self) -> float:
        if self._device_sum.dtype == torch.float64:
            return self._device_sum.item()
        self._host += self._device_sum.item()
        self._device_sum.zero_()
        return self._host


@torch.no_grad()
def validate(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    per_sample_criterion: nn.Module,
    numerics: Numerics,
    num_classes: int,
    tta: bool = False,
) -> ValidationResult:
    """Evaluate without augmentation; keep every sample's label, prediction, confidence, class
    probabilities and loss.

    With `tta`, each image's logits are the mean of its own and its horizontal mirror's (flip
    test-time augmentation): twice the forward passes for the accuracy a flip-trained model has on
    both views."""
    model.eval()
    labels_all, preds_all, conf_all, loss_all, prob_all = [], [], [], [], []
    for images, labels in batches:
        images, labels = _to_device(images, labels, numerics)
        with numerics.autocast():
            logits = model(images)
            if tta:
                logits = (logits.float() + model(torch.flip(images, dims=[3])).float()) / 2
        logits = logits.float()
        losses = per_sample_criterion(logits, labels)
        probabilities = logits.softmax(dim=1)
        confidence, predicted = probabilities.max(dim=1)
        prob_all.append(probabilities.half())
        labels_all.append(labels)
        preds_all.append(predicted)
        conf_all.append(confidence)
        loss_all.append(losses.float())
    device = numerics.device
    labels = torch.cat(labels_all) if labels_all else torch.zeros(0, dtype=torch.int64, device=device)
    predicted = torch.cat(preds_all) if preds_all else torch.zeros(0, dtype=torch.int64, device=device)
    confidences = torch.cat(conf_all) if conf_all else torch.zeros(0, device=device)
    losses = torch.cat(loss_all) if loss_all else torch.zeros(0, device=device)
    probabilities = torch.cat(prob_all) if prob_all else torch.zeros(0, num_classes, dtype=torch.float16, device=device)
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
        probabilities=probabilities.cpu(),
    )

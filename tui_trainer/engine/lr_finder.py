"""The learning-rate range test (Smith, 2017; fastai's lr_find): train a bounded number of steps
with the learning rate rising exponentially, record the loss, and suggest the lr where the
smoothed loss falls fastest.

The model, optimiser and random state are snapshotted before and restored after, so training
after the test is bit-for-bit the same as training without it.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import count

import numpy as np
import torch
from torch import nn

from ..config import Preset
from ..config.code_trust import TargetAccess
from ..data import DataSplits
from .checkpoint import restore_rng_state, rng_state, unwrap
from .device import Numerics
from .lr_range import DEFAULT_RANGE

RULE = "steepest descent of the smoothed loss"
"""How the suggestion is picked: the lr at which the smoothed loss falls fastest against log(lr),
among the steps before the smoothed loss reaches its minimum."""

SMOOTHING = 0.9
"""Weight of the running loss average (debiased) that decides when the loss has diverged."""

DIVERGE_FACTOR = 4.0
"""Stop once the running average exceeds this multiple of its lowest value: the lr is past useful."""


def centred_average(values: np.ndarray) -> np.ndarray:
    """A moving average over about 5% of the points (at least 3), centred so it does not lag: a
    running average shifts the curve, and so the suggestion, towards higher lrs."""
    half = max(1, len(values) // 40)
    padded = np.pad(values, half, mode="edge")
    return np.convolve(padded, np.ones(2 * half + 1) / (2 * half + 1), mode="valid")


Batches = Iterator[tuple[torch.Tensor, torch.Tensor]]
StepFn = Callable[[int, int, float, float], None]
"""on_step(step, steps, lr, smoothed_loss) after each step, for progress displays."""


@dataclass(frozen=True)
class LRFinderResult:
    lrs: tuple[float, ...]  # the lr of each step taken
    losses: tuple[float, ...]  # the raw training loss of each step
    smoothed: tuple[float, ...]  # centred moving average of losses, what the suggestion reads
    suggestion: float  # one of lrs
    rule: str
    start_lr: float
    end_lr: float
    stopped_early: bool  # the loss diverged (or went non-finite) before the last step


def lr_schedule(start_lr: float, end_lr: float, steps: int) -> np.ndarray:
    """The exponentially rising lr of each step: start_lr at the first, end_lr at the last."""
    if not 0 < start_lr < end_lr:
        raise ValueError(f"the lr range needs 0 < start < end, got {start_lr} and {end_lr}")
    if steps < 2:
        raise ValueError(f"the lr range test needs at least 2 steps, got {steps}")
    return start_lr * (end_lr / start_lr) ** (np.arange(steps) / (steps - 1))


def suggest(lrs: np.ndarray, smoothed: np.ndarray) -> float:
    """The lr of steepest descent of `smoothed` against log(lr), before its minimum (RULE).

    The first tenth of the steps is skipped (the running average is still settling there); with
    too few points left, the lr of the lowest smoothed loss is returned."""
    lowest = int(np.argmin(smoothed))
    skip = len(lrs) // 10
    if lowest - skip < 2:
        return float(lrs[lowest])
    window = slice(skip, lowest + 1)
    slope = np.gradient(smoothed[window], np.log(lrs[window]))
    return float(lrs[skip + int(np.argmin(slope))])


def lr_range_test(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Batches,
    criterion: nn.Module,
    numerics: Numerics,
    *,
    start_lr: float = DEFAULT_RANGE.start,
    end_lr: float = DEFAULT_RANGE.end,
    steps: int = DEFAULT_RANGE.steps,
    on_step: StepFn | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> LRFinderResult:
    """Run the range test on `model` and `optimizer` as they are, then put both back.

    One batch per optimiser step (gradient accumulation is not simulated). `batches` must yield
    at least `steps` batches (e.g. epoch after epoch).
    """
    schedule = lr_schedule(start_lr, end_lr, steps)
    plain = unwrap(model)
    saved_model = copy.deepcopy(plain.state_dict())
    saved_optimizer = copy.deepcopy(optimizer.state_dict())
    saved_rng = rng_state()
    was_training = plain.training
    lrs: list[float] = []
    losses: list[float] = []
    average, best = 0.0, math.inf
    stopped_early = False
    try:
        model.train()
        for step, (images, labels) in zip(range(steps), batches, strict=False):
            if should_stop is not None and should_stop():
                stopped_early = True
                break
            lr = float(schedule[step])
            for group in optimizer.param_groups:
                group["lr"] = lr
            images = images.to(numerics.device, non_blocking=True)
            if numerics.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            labels = labels.to(numerics.device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            with numerics.autocast():
                loss = criterion(model(images), labels)
            loss.backward()
            optimizer.step()
            value = float(loss.item())  # a device sync each step: the test is short and needs every loss
            if not math.isfinite(value):
                stopped_early = True
                break
            average = SMOOTHING * average + (1 - SMOOTHING) * value
            debiased = average / (1 - SMOOTHING ** (step + 1))
            lrs.append(lr)
            losses.append(value)
            best = min(best, debiased)
            if on_step is not None:
                on_step(step + 1, steps, lr, debiased)
            if step >= 10 and debiased > DIVERGE_FACTOR * best:
                stopped_early = True
                break
    finally:
        plain.load_state_dict(saved_model)
        optimizer.load_state_dict(saved_optimizer)
        optimizer.zero_grad(set_to_none=True)
        restore_rng_state(saved_rng)
        plain.train(was_training)
    if not lrs:
        raise ValueError("the lr range test took no step: the loss was not finite at the first lr")
    smoothed = centred_average(np.asarray(losses))
    suggestion = suggest(np.asarray(lrs), smoothed)
    return LRFinderResult(
        lrs=tuple(lrs),
        losses=tuple(losses),
        smoothed=tuple(float(v) for v in smoothed),
        suggestion=suggestion,
        rule=RULE,
        start_lr=start_lr,
        end_lr=end_lr,
        stopped_early=stopped_early or len(lrs) < steps,
    )


def find_lr(
    preset: Preset,
    splits: DataSplits,
    numerics: Numerics,
    *,
    start_lr: float = DEFAULT_RANGE.start,
    end_lr: float = DEFAULT_RANGE.end,
    steps: int = DEFAULT_RANGE.steps,
    on_step: StepFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    code: TargetAccess | None = None,
) -> LRFinderResult:
    """The range test from the preset's initial weights, optimiser and batches (data on its device).

    `code`: where `model.target` may be imported from (config.code_trust)."""
    from .trainer import Trainer  # here, not at the top: the trainer imports much of the engine

    trainer = Trainer(preset, splits, numerics, code=code)
    return lr_range_test(
        trainer.forward_model,
        trainer.optimizer,
        (batch for epoch in count(1) for batch in trainer.batches_of(epoch)),
        trainer.criterion,
        numerics,
        start_lr=start_lr,
        end_lr=end_lr,
        steps=steps,
        on_step=on_step,
        should_stop=should_stop,
    )


def find_lr_for_preset(
    preset: Preset,
    *,
    steps: int = DEFAULT_RANGE.steps,
    start_lr: float = DEFAULT_RANGE.start,
    end_lr: float = DEFAULT_RANGE.end,
    on_step: StepFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    code: TargetAccess | None = None,
) -> LRFinderResult:
    """`find_lr` with the preset's own device and data, loaded here (both front ends call this).

    Raises DeviceError, DataError or ValueError with a message for the user."""
    from ..data import load_data
    from .device import numerics_for, resolve_device

    device = resolve_device(preset.train.device)
    splits = load_data(preset.data, seed=preset.train.seed)
    splits = type(splits)(train=splits.train.to(device), val=splits.val.to(device), classes=splits.classes)
    numerics = numerics_for(device, preset.train.precision, preset.train.channels_last)
    return find_lr(
        preset,
        splits,
        numerics,
        start_lr=start_lr,
        end_lr=end_lr,
        steps=steps,
        on_step=on_step,
        should_stop=should_stop,
        code=code,
    )

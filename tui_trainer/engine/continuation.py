"""Training on past where a schedule was planned to end: a finished run extended, or a fork of another
run's epoch. Which learning rates the new epochs get is the user's choice of `SCHEDULE_POLICIES`.

A continuation is plain data (`Continuation`), recorded by the run folder, so a resumed extension
rebuilds the same schedule and its checkpoint's scheduler state fits it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch only where a schedule is built: the console reads continuations without it
    import torch

    from ..config.schema import SchedulerConfig
    from .builders import Schedule

SCHEDULE_POLICIES = {
    "constant": "keep the learning rate the run ended with (the default: nothing jumps)",
    "restart": "a warm restart: the preset's lr again, its schedule run once over the added epochs "
    "(a cosine's t_max becomes the added epochs)",
    "continue": "the schedule recomputed for the new total, at the point the run had reached: onecycle and "
    "warmup_linear are stretched over all epochs and a cosine's t_max grows to the new total, so the lr jumps "
    "back up",
}
"""`--schedule` choice -> what the added epochs' learning rate does."""
DEFAULT_POLICY = "constant"


@dataclass(frozen=True)
class Continuation:
    """Epochs after `from_epoch` follow the schedule `policy` builds (see SCHEDULE_POLICIES)."""

    from_epoch: int
    policy: str = DEFAULT_POLICY

    def __post_init__(self) -> None:
        if self.policy not in SCHEDULE_POLICIES:
            raise ValueError(f"schedule {self.policy!r}: choose one of {', '.join(SCHEDULE_POLICIES)}")

    def to_record(self) -> dict[str, object]:
        return {"from_epoch": self.from_epoch, "schedule": self.policy}


def continued_schedule(
    cfg: SchedulerConfig,
    optimizer: torch.optim.Optimizer,
    continuation: Continuation,
    *,
    epochs: int,
    steps_per_epoch: int,
) -> Schedule:
    """The schedule of epochs `from_epoch + 1 .. epochs`, built on `optimizer` as it is now.

    "continue" returns it at step 0 of the whole run: `fast_forward` moves it to `from_epoch`.
    """
    from .builders import Schedule, build_scheduler

    added = max(1, epochs - continuation.from_epoch)
    if continuation.policy == "constant":
        return Schedule(None, per_step=False)
    if continuation.policy == "restart":
        return build_scheduler(
            cfg.model_copy(update={"t_max": added}), optimizer, epochs=added, steps_per_epoch=steps_per_epoch
        )
    stretched = cfg.model_copy(update={"t_max": max(cfg.t_max, epochs)})
    return build_scheduler(stretched, optimizer, epochs=epochs, steps_per_epoch=steps_per_epoch)


def fast_forward(schedule: Schedule, epochs: int, steps_per_epoch: int) -> None:
    """Step a schedule built from step 0 on to the end of epoch `epochs` ("continue")."""
    with warnings.catch_warnings():  # torch warns of a scheduler stepped before any optimiser step: meant here
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(epochs * steps_per_epoch if schedule.per_step else epochs):
            if schedule.per_step:
                schedule.step_batch()
            else:
                schedule.step_epoch()


def reset_learning_rates(optimizer: torch.optim.Optimizer, base_lrs: list[float]) -> None:
    """The preset's learning rates back in the optimiser, and the old schedule's start forgotten
    (torch schedulers keep it in each group's `initial_lr` and would start from it again)."""
    for group, lr in zip(optimizer.param_groups, base_lrs, strict=True):
        group["lr"] = lr
        group.pop("initial_lr", None)

"""Optimisers and schedules get exactly the preset's values (tests/test_choices.py checks the registries)."""

from __future__ import annotations

import math

import pytest
import torch

from tui_trainer.config.choices import OPTIMIZERS
from tui_trainer.config.schema import OptimizerConfig, SchedulerConfig
from tui_trainer.engine.builders import build_optimizer, build_scheduler

EXPECTED = {
    "rmsprop": {"lr": 0.02, "alpha": 0.95, "eps": 1e-6, "weight_decay": 0.01, "momentum": 0.8},
    "sgd": {"lr": 0.02, "momentum": 0.8, "nesterov": True, "weight_decay": 0.01},
    "adamw": {"lr": 0.02, "betas": (0.85, 0.99), "eps": 1e-6, "weight_decay": 0.01},
}
CONFIG = {
    "lr": 0.02,
    "alpha": 0.95,
    "eps": 1e-6,
    "weight_decay": 0.01,
    "momentum": 0.8,
    "nesterov": True,
    "beta1": 0.85,
    "beta2": 0.99,
}
CLASSES = {"rmsprop": torch.optim.RMSprop, "sgd": torch.optim.SGD, "adamw": torch.optim.AdamW}


@pytest.mark.parametrize("name", OPTIMIZERS.names)
def test_optimizer_gets_configured_values(name: str) -> None:
    assert set(EXPECTED) == set(OPTIMIZERS.names)
    optimizer = build_optimizer(OptimizerConfig(name=name, **CONFIG), [torch.nn.Parameter(torch.zeros(2))])
    assert type(optimizer) is CLASSES[name]
    group = optimizer.param_groups[0]
    for key, value in EXPECTED[name].items():
        assert group[key] == value, key


def test_seed_rmsprop_values() -> None:
    group = build_optimizer(OptimizerConfig(), [torch.nn.Parameter(torch.zeros(1))]).param_groups[0]
    assert (group["lr"], group["alpha"], group["eps"], group["weight_decay"], group["momentum"]) == (
        0.001,
        0.99,
        1e-8,
        0.0,
        0.9,
    )


def test_sgd_nesterov_without_momentum_is_dropped() -> None:
    cfg = OptimizerConfig(name="sgd", momentum=0.0, nesterov=True)
    assert build_optimizer(cfg, [torch.nn.Parameter(torch.zeros(1))]).param_groups[0]["nesterov"] is False


def _optimizer(lr: float = 0.001) -> torch.optim.Optimizer:
    return torch.optim.RMSprop([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def test_cosine_steps_per_epoch_and_follows_closed_form() -> None:
    optimizer = _optimizer()
    schedule = build_scheduler(SchedulerConfig(), optimizer, epochs=40, steps_per_epoch=100)
    assert not schedule.per_step
    for _ in range(100):
        schedule.step_batch()  # a no-op for a per-epoch schedule
    assert optimizer.param_groups[0]["lr"] == 0.001
    for k in range(1, 41):
        optimizer.step()
        schedule.step_epoch()
        closed = 1e-6 + (0.001 - 1e-6) * (1 + math.cos(math.pi * k / 100)) / 2
        assert optimizer.param_groups[0]["lr"] == pytest.approx(closed, rel=1e-9)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(6.5485e-4, rel=1e-3)  # "lr ends near 7e-4"


def test_onecycle_covers_every_optimiser_step() -> None:
    optimizer = _optimizer(0.1)
    cfg = SchedulerConfig(name="onecycle", pct_start=0.25)
    schedule = build_scheduler(cfg, optimizer, epochs=4, steps_per_epoch=10)
    assert schedule.per_step and schedule.scheduler.total_steps == 40
    lrs = [optimizer.param_groups[0]["lr"]]
    for _ in range(4):
        for _ in range(10):
            optimizer.step()
            schedule.step_batch()
            lrs.append(optimizer.param_groups[0]["lr"])
        schedule.step_epoch()  # a no-op for a per-step schedule
    assert max(lrs) == pytest.approx(0.1)
    assert lrs.index(max(lrs)) == 0.25 * 40 - 1
    assert lrs[0] == pytest.approx(0.1 / 25)
    assert lrs[-1] == pytest.approx(0.1 / 25 / 1e4)
    assert optimizer.param_groups[0]["momentum"] == 0.0  # momentum is left as configured
    schedule.step_batch()  # one step too many holds the last lr instead of raising
    assert optimizer.param_groups[0]["lr"] == lrs[-1]


def test_schedule_state_round_trip() -> None:
    optimizer = _optimizer()
    schedule = build_scheduler(SchedulerConfig(), optimizer, epochs=40, steps_per_epoch=5)
    for _ in range(7):
        optimizer.step()
        schedule.step_epoch()
    state = schedule.state_dict()
    optimizer2 = _optimizer()
    restored = build_scheduler(SchedulerConfig(), optimizer2, epochs=40, steps_per_epoch=5)
    restored.load_state_dict(state)
    optimizer2.load_state_dict(optimizer.state_dict())
    for opt, sched in ((optimizer, schedule), (optimizer2, restored)):
        opt.step()
        sched.step_epoch()
    assert optimizer2.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]


def test_none_schedule() -> None:
    optimizer = _optimizer()
    schedule = build_scheduler(SchedulerConfig(name="none"), optimizer, epochs=2, steps_per_epoch=3)
    assert schedule.scheduler is None and schedule.state_dict() == {}
    schedule.step_batch()
    schedule.step_epoch()
    schedule.load_state_dict({})
    assert optimizer.param_groups[0]["lr"] == 0.001


def test_warmup_linear_rises_then_falls_once_per_optimiser_step() -> None:
    optimizer = _optimizer(0.2)
    cfg = SchedulerConfig(name="warmup_linear", pct_start=0.25)
    schedule = build_scheduler(cfg, optimizer, epochs=4, steps_per_epoch=10)
    assert schedule.per_step
    lrs = []
    for _ in range(4):
        for _ in range(10):
            lrs.append(optimizer.param_groups[0]["lr"])  # the lr this step runs at
            optimizer.step()
            schedule.step_batch()
        schedule.step_epoch()  # a no-op for a per-step schedule
    warmup = 10  # 0.25 × 40 steps
    assert lrs[:warmup] == pytest.approx([0.2 * (i + 1) / warmup for i in range(warmup)])
    assert lrs[warmup - 1] == pytest.approx(0.2) and max(lrs) == pytest.approx(0.2)
    assert lrs[warmup:] == pytest.approx([0.2 * (40 - i) / 30 for i in range(warmup, 40)])
    assert min(lrs) > 0
    schedule.step_batch()  # past the end: the last value holds
    assert optimizer.param_groups[0]["lr"] == pytest.approx(lrs[-1])


def test_warmup_linear_counts_optimiser_steps_under_accumulation() -> None:
    from tests.helpers import tiny_preset
    from tui_trainer.data import load_data
    from tui_trainer.engine.device import numerics_for
    from tui_trainer.engine.trainer import Trainer

    preset = tiny_preset('scheduler.name="warmup_linear"', "train.accumulation_steps=4", "train.epochs=2")
    numerics = numerics_for(torch.device("cpu"), "fp32", False)
    trainer = Trainer(preset, load_data(preset.data), numerics)
    assert len(trainer.train_batches) == 6 and trainer.steps_per_epoch == 2  # 192 / 32 = 6 batches, groups of 4
    trainer.fit()
    # 4 optimiser steps in all: the schedule reached its last step, whose lr is 1 / (4 - 1) of the peak.
    assert trainer.schedule.scheduler.last_epoch == 3
    assert trainer.current_lr() == pytest.approx(preset.optimizer.lr / 3)

"""A paused run's throughput: img/s, epoch seconds and the run's time count training, not the pause."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from tests.helpers import tiny_preset
from tui_trainer.engine.device import numerics_for
from tui_trainer.engine.events import BatchProgress, EpochFinished, RunControl, RunFinished
from tui_trainer.engine.loops import train_epoch
from tui_trainer.runs.launch import run_training

CPU = numerics_for(torch.device("cpu"), "fp32", channels_last=False)
PAUSE = 600.0  # seconds the fake clock moves on while the run is held


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class HeldEvent(threading.Event):
    """`RunControl.resume_allowed` for a test: the run's first wait while paused moves the clock on
    by `advance` and lets the run go on, so the pause is always one the loop really waited in."""

    def __init__(self, advance: Callable[[], None]) -> None:
        super().__init__()
        self.advance = advance
        self.set()  # not paused

    def wait(self, timeout: float | None = None) -> bool:
        if not self.is_set():
            self.advance()
            self.set()
        return super().wait(timeout)


def held(control: RunControl, advance: Callable[[], None]) -> RunControl:
    control.resume_allowed = HeldEvent(advance)
    return control


def test_the_first_img_per_s_after_a_pause_counts_only_the_batches() -> None:
    clock = FakeClock()
    control = held(RunControl(clock=clock), lambda: setattr(clock, "now", clock.now + PAUSE))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 5))

    def batches():
        for _ in range(5):
            clock.now += 1.0  # each batch takes one second
            yield torch.randn(8, 3, 4, 4), torch.randint(0, 5, (8,))

    checks = 0

    def should_stop() -> bool:
        nonlocal checks
        checks += 1
        if checks == 3:  # the user presses p before the third batch
            control.pause()
        control.wait_if_paused()
        return False

    reports: list[tuple[int, int, float]] = []
    stats = train_epoch(
        model,
        batches(),
        5,
        nn.CrossEntropyLoss(),
        torch.optim.SGD(model.parameters(), lr=0.1),
        CPU,
        on_progress=lambda done, loss, acc, images, seconds: reports.append((done, images, seconds)),
        should_stop=should_stop,
        progress_interval=0.0,
        clock=control.running_clock,
    )
    assert control.paused_seconds == PAUSE
    assert [seconds for _, _, seconds in reports] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert [images / seconds for _, images, seconds in reports] == [8.0] * 5  # not 24 / 603 after the pause
    assert stats.seconds == 5.0 and stats.images == 40


def test_a_run_paused_mid_epoch_reports_img_per_s_and_times_without_the_pause(tmp_path: Path) -> None:
    offset = [0.0]
    ticks = itertools.count()  # every reading of the clock is 0.2 s on: each batch reports its progress
    control = RunControl(clock=lambda: next(ticks) * 0.2 + offset[0])
    held(control, lambda: offset.__setitem__(0, offset[0] + PAUSE))
    events: list[object] = []

    def listener(event: object) -> None:
        events.append(event)
        if isinstance(event, BatchProgress) and sum(isinstance(e, BatchProgress) for e in events) == 1:
            control.pause()

    outcome = run_training(
        tiny_preset("train.epochs=1", "scheduler.t_max=1", "data.batch_size=16"),
        runs_dir=tmp_path / "runs",
        listeners=[listener],
        control=control,
    )
    assert outcome.state == "finished"
    assert control.paused_seconds >= PAUSE
    progress = [e for e in events if isinstance(e, BatchProgress)]
    assert progress and all(e.seconds < PAUSE for e in progress)
    assert all(e.images_per_second > 192 / PAUSE for e in progress)
    (epoch,) = [e for e in events if isinstance(e, EpochFinished)]
    assert epoch.metrics["epoch_seconds"] < PAUSE
    assert epoch.metrics["train_images_per_second"] > 192 / PAUSE
    (finished,) = [e for e in events if isinstance(e, RunFinished)]
    assert finished.seconds < PAUSE

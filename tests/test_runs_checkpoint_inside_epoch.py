"""Checkpoints inside an epoch: a run stopped or killed mid-epoch continues at the next batch and,
on CPU, ends with exactly the metrics of a run that was never stopped."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch

from tests.helpers import tiny_preset
from tui_trainer.engine.events import BatchProgress, RunControl
from tui_trainer.runs.folder import RunFolder
from tui_trainer.runs.launch import run_training

LONGER = ("train.epochs=3", "scheduler.t_max=3", "augment.mixup_alpha=0.2", "augment.mix_prob=0.5")
"""Three epochs of six batches, with mixup: every source of randomness a batch draws from."""
VOLATILE = {"epoch_seconds", "train_images_per_second"}


def _ticking_control() -> RunControl:
    """A clock one second further at every reading: every batch is reported, so a test can stop at any."""
    ticks = itertools.count()
    return RunControl(clock=lambda: float(next(ticks)))


def _metrics(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in RunFolder(run_dir).read_metrics()]


def _uninterrupted(tmp_path: Path, *extra: str) -> list[dict]:
    outcome = run_training(tiny_preset(*LONGER, *extra), runs_dir=tmp_path / "full", control=_ticking_control())
    assert outcome.state == "finished"
    return _metrics(outcome.run_dir)


def test_a_run_stopped_mid_epoch_resumes_at_the_next_batch_with_the_same_metrics(tmp_path: Path) -> None:
    control = _ticking_control()

    def stop_in_epoch_2(event) -> None:
        if isinstance(event, BatchProgress) and (event.epoch, event.batch) == (2, 3):
            control.stop()

    stopped = run_training(tiny_preset(*LONGER), runs_dir=tmp_path / "b", listeners=[stop_in_epoch_2], control=control)
    assert stopped.state == "interrupted"
    checkpoint = torch.load(stopped.run_dir / "last.pt", weights_only=True)
    assert checkpoint["epoch"] == 1 and checkpoint["position"]["batch"] == 3

    seen: list[tuple[int, int]] = []
    resumed = run_training(
        tiny_preset(*LONGER),
        runs_dir=tmp_path / "b",
        resume=stopped.run_dir,
        listeners=[lambda e: seen.append((e.epoch, e.batch)) if isinstance(e, BatchProgress) else None],
        control=_ticking_control(),
    )
    assert resumed.state == "finished"
    assert seen[:3] == [(2, 4), (2, 5), (2, 6)]  # batches 1-3 of epoch 2 are not trained again
    assert _metrics(resumed.run_dir) == _uninterrupted(tmp_path)


class _Killed(BaseException):
    """Stands in for kill -9: nothing of the run's own stop handling runs."""


def test_a_run_killed_mid_epoch_resumes_from_its_periodic_checkpoint_with_the_same_metrics(tmp_path: Path) -> None:
    every_batch = "train.checkpoint_minutes=0.01"  # 0.6 s of the ticking clock: a checkpoint before each batch
    saved: list[int] = []

    def kill_in_epoch_2(event) -> None:
        if isinstance(event, BatchProgress) and (event.epoch, event.batch) == (2, 5):
            saved.append(torch.load(folder.last_checkpoint, weights_only=True)["position"]["batch"])
            raise _Killed

    folder = RunFolder(tmp_path / "killed")
    with pytest.raises(_Killed):
        run_training(
            tiny_preset(*LONGER, every_batch),
            runs_dir=tmp_path,
            into=folder.path,
            listeners=[kill_in_epoch_2],
            control=_ticking_control(),
        )
    assert saved == [4]  # written before batch 5, inside epoch 2
    folder.write_status(state="interrupted")  # what a dead process's "running" reads as

    resumed = run_training(
        tiny_preset(*LONGER, every_batch), runs_dir=tmp_path, resume=folder.path, control=_ticking_control()
    )
    assert resumed.state == "finished"
    assert _metrics(folder.path) == _uninterrupted(tmp_path, every_batch)

"""The console tests' scaffolding, written once: the terminal size, waiting on a condition, a trainer
without torch, keys sent while a run keeps the app busy, and run folders and apps to test against.

Pilot tests import these rather than each other: a test module is for tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from textual import events
from textual.widgets import Input

from tests.helpers import SMOKE, TINY, tiny_preset
from tui_trainer.config import resolved_toml
from tui_trainer.engine.events import (
    BatchProgress,
    EpochFinished,
    Predictions,
    RunControl,
    RunFailed,
    RunFinished,
    RunStarted,
    emit,
)
from tui_trainer.runs.folder import RunFolder
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.preset.editor import PresetEditorScreen

SIZE = (80, 24)
"""Every Pilot test runs the console at 80x24, the size it promises to fit."""

NARROW = (60, 20)
"""The smallest terminal the console keeps its key facts visible in (a phone's SSH app, a split pane)."""


def screen_text(app) -> str:
    """What the terminal shows now, line by line (the composited screen, notifications included)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def run(coro) -> None:
    asyncio.run(coro)


async def wait_for(pilot, condition, timeout: float = 60.0) -> None:
    """Until `condition()` holds; the bound only matters when it never does (a loaded machine is slow)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.02)


async def press(pilot, *keys: str) -> None:
    """Send keys without Pilot's wait for an idle process (never idle while training runs)."""
    for key in keys:
        pilot.app._driver.send_message(events.Key(key, key if len(key) == 1 else None))
        await pilot.pause(0.05)


@dataclass(frozen=True)
class FakeOutcome:
    state: str
    run_dir: Path | None
    exit_code: int
    error: str = ""


class FakeTrainer:
    """`run_training`'s contract with plausible events and no torch; `delay` seconds per batch.

    `hold`: after each batch the run waits until this event is set (or a stop is asked), so a test
    that needs a run still going finds it going however slow the machine is.
    """

    def __init__(
        self,
        delay: float = 0.001,
        fail_with: Exception | None = None,
        report_failure: str = "",
        hold: threading.Event | None = None,
        hint: str = "lower the learning rate",
        details: str = "Traceback ...",
        user_error: bool = False,
    ) -> None:
        self.delay = delay
        self.hold = hold
        self.fail_with = fail_with
        self.report_failure = report_failure
        self.failure = (hint, details, user_error)
        self.calls = 0
        self.outcome: FakeOutcome | None = None

    def __call__(self, preset, *, runs_dir, listeners=(), control=None, resume=None, preset_source=None, code=None):
        self.calls += 1
        self.outcome = self._run(preset, Path(runs_dir), list(listeners), control or RunControl())
        return self.outcome

    def _run(self, preset, runs_dir: Path, listeners, control: RunControl) -> FakeOutcome:
        if self.fail_with is not None:
            raise self.fail_with
        run_dir = runs_dir / f"fake-{preset.name}"
        run_dir.mkdir(parents=True, exist_ok=True)
        classes = ("circle", "square", "triangle")
        batches = max(1, preset.data.synthetic_train_size // preset.data.batch_size)
        emit(
            listeners,
            RunStarted(str(run_dir), preset.name, preset.train.epochs, 1, batches, 99, 30, classes, "cpu", "fp32"),
        )
        if self.report_failure:
            hint, details, user_error = self.failure
            emit(listeners, RunFailed(str(run_dir), self.report_failure, hint, details, user_error=user_error))
            return FakeOutcome("failed", run_dir, 1, self.report_failure)
        for epoch in range(1, preset.train.epochs + 1):
            start = time.monotonic()
            for batch in range(1, batches + 1):
                control.wait_if_paused()
                if control.stop_requested.is_set():
                    emit(listeners, RunFinished(str(run_dir), "interrupted", epoch - 1, None, None, 0.1))
                    return FakeOutcome("interrupted", run_dir, 130)
                time.sleep(self.delay)
                seconds = time.monotonic() - start
                emit(listeners, BatchProgress(epoch, batch, batches, 1.0 / epoch, 0.3, 500.0, 0.01, seconds))
                while self.hold is not None and not self.hold.is_set() and not control.stop_requested.is_set():
                    time.sleep(0.01)
            labels = np.arange(30) % 3
            guesses = labels.copy()
            guesses[:3] = 0
            confusion = np.zeros((3, 3), dtype=np.int64)
            np.add.at(confusion, (labels, guesses), 1)
            predictions = Predictions(labels, guesses, np.ones(30, np.float32), np.ones(30, np.float32), classes)
            metrics = {
                "epoch": epoch,
                "train_loss": 1.0 / epoch,
                "train_acc": 0.3 * epoch,
                "val_loss": 1.1 / epoch,
                "val_acc": 0.25 * epoch,
                "lr": 0.01,
                "epoch_seconds": time.monotonic() - start,
            }
            emit(listeners, EpochFinished(epoch, preset.train.epochs, metrics, confusion, predictions, True))
        emit(listeners, RunFinished(str(run_dir), "finished", preset.train.epochs, 0.5, preset.train.epochs, 0.2))
        return FakeOutcome("finished", run_dir, 0)


def capture_notices(app: TrainerApp) -> tuple[list[int], list[tuple[str, str]]]:
    """The app's bells (one item each) and notifications (title, message) from now on; they still show."""
    bells: list[int] = []
    notices: list[tuple[str, str]] = []
    app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
    original = app.notify

    def notify(message: str, **kwargs) -> None:
        notices.append((kwargs.get("title", ""), message))
        original(message, **kwargs)

    app.notify = notify  # type: ignore[method-assign]
    return bells, notices


def training_app(tmp_path: Path, trainer=None, overrides=TINY) -> TrainerApp:
    """The console on the smoke preset (TINY), training with `trainer` (None: the real run_training)."""
    return TrainerApp(SMOKE, list(overrides), tmp_path / "runs", trainer=trainer)


def editor_app(path: Path | None, tmp_path: Path, overrides: tuple[str, ...] = ()) -> TrainerApp:
    """The console on `path` for editing; a test that starts training by mistake fails."""
    return TrainerApp(path, list(overrides), tmp_path / "runs", trainer=_no_training)


def _no_training(*args, **kwargs):  # pragma: no cover - the editor tests never train
    raise AssertionError("training started")


async def type_into(pilot, app: TrainerApp, path: str, text: str, *, pasted: str = "") -> None:
    """Types `text` into the field at `path`, key by key, after `pasted` (put there at once, as a paste
    would: typing a long path key by key costs a refresh a key)."""
    editor = app.screen
    assert isinstance(editor, PresetEditorScreen)
    editor.focus_field(path)
    await pilot.pause()
    field = editor.row(path).editor
    assert isinstance(field, Input)
    field.value = pasted
    field.cursor_position = len(pasted)
    await pilot.press(*text)
    await pilot.pause()


def make_run(runs: Path, name: str, state: str = "finished", *overrides: str, pid: int | None = None) -> Path:
    """A run folder with a real resolved preset and three epochs of metrics."""
    folder = RunFolder(runs / name)
    folder.path.mkdir(parents=True)
    preset = tiny_preset("train.epochs=3", "scheduler.t_max=3", *overrides)
    folder.write_preset(resolved_toml(preset))
    records = [
        {"epoch": e, "train_loss": 2.0 / e, "val_loss": 2.2 / e, "val_acc": 0.1 * e + 0.01 * len(overrides)}
        for e in (1, 2, 3)
    ]
    folder.metrics_file.write_text("".join(json.dumps(r) + "\n" for r in records))
    folder.status_file.write_text(
        json.dumps(
            {
                "format": 1,
                "state": state,
                "pid": pid or os.getpid(),
                "host": os.uname().nodename,
                "preset_name": preset.name,
                "epochs_planned": 3,
                "epochs_done": 3,
                "started_at": f"2026-11-28T0{len(list(runs.iterdir()))}:00:00+00:00",
            }
        )
    )
    folder.last_checkpoint.write_bytes(b"x")
    return folder.path


def make_fork(runs: Path, name: str, parent: Path, at: int, *overrides: str) -> Path:
    """A finished run folder forked from `parent` at epoch `at`, as `train --fork` leaves it: status.json
    names its parent, and its three epochs of metrics are numbered on from the fork (at+1 .. at+3)."""
    path = make_run(runs, name, "finished", *overrides)
    folder = RunFolder(path)
    records = [json.loads(line) for line in folder.metrics_file.read_text().splitlines()]
    folder.metrics_file.write_text("".join(json.dumps({**r, "epoch": r["epoch"] + at}) + "\n" for r in records))
    status = json.loads(folder.status_file.read_text())
    fork = {"parent": {"run": parent.name, "epoch": at}, "epochs_planned": at + 3, "epochs_done": at + 3}
    folder.status_file.write_text(json.dumps({**status, **fork}))
    return path

"""Snapshots of the console's main screens at 80x24 (pytest-textual-snapshot, SVGs in __snapshots__/).

After a deliberate change of a screen: `pytest tests/test_snapshots.py --snapshot-update`, then look
at the new SVGs before committing them. Everything that varies between runs and checkouts is fixed
here: the working folder is a temporary one holding copies of the built-in presets and the runs
(so every path shown is relative and the same everywhere), the run is a scripted trainer that sends
fixed events, run folders carry fixed dates, and text cursors do not blink.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from tests.console_kit import FakeOutcome
from tui_trainer.config import catalog
from tui_trainer.config.builtin import builtin_preset_dir
from tui_trainer.engine.events import (
    BatchProgress,
    EpochFinished,
    Predictions,
    RunControl,
    RunFinished,
    RunStarted,
    emit,
)
from tui_trainer.runs.folder import RunFolder
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.common.help_screen import HelpScreen
from tui_trainer.tui.confusion.screen import ConfusionScreen
from tui_trainer.tui.preset.editor import PresetEditorScreen
from tui_trainer.tui.run.training_screen import TrainingScreen
from tui_trainer.tui.runs.screen import RunsScreen

SIZE = (80, 24)
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
RUN_DIR = "runs/20261201-100000-seed"
BATCHES = 782


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with the built-in presets in ./presets (listed once, by relative path)."""
    shutil.copytree(builtin_preset_dir(), tmp_path / "presets", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    monkeypatch.setattr(catalog, "builtin_preset_dir", lambda: tmp_path / "presets")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def epoch_events(epoch: int, epochs: int) -> tuple[BatchProgress, EpochFinished]:
    """The last batch and the end of `epoch`: numbers that improve a little each epoch, the same every time."""
    rng = np.random.default_rng(epoch)
    labels = np.arange(1000) % len(CLASSES)
    right = rng.random(1000) < 0.45 + 0.1 * epoch
    predictions = np.where(right, labels, (labels + 1 + rng.integers(0, 3, 1000)) % len(CLASSES))
    confusion = np.zeros((len(CLASSES), len(CLASSES)), dtype=np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    loss = 1.8 / epoch
    metrics = {
        "epoch": epoch,
        "train_loss": loss,
        "train_acc": 0.40 + 0.1 * epoch,
        "val_loss": loss * 1.1,
        "val_acc": float(right.mean()),
        "lr": 0.01 / epoch,
        "epoch_seconds": 41.5,
        "train_images_per_second": 1205.0,
        "per_class_acc": [float(confusion[i, i] / confusion[i].sum()) for i in range(len(CLASSES))],
        "val_weights": "train",
    }
    last_batch = BatchProgress(epoch, BATCHES, BATCHES, loss, 0.40 + 0.1 * epoch, 1205.0, 0.01 / epoch, 41.5)
    samples = Predictions(
        labels=labels,
        predictions=predictions,
        confidences=rng.random(1000).astype(np.float32),
        losses=rng.random(1000).astype(np.float32),
        classes=CLASSES,
    )
    return last_batch, EpochFinished(epoch, epochs, metrics, confusion, samples, is_best=True)


class ScriptedTrainer:
    """`run_training`'s contract with fixed events: three epochs, half the fourth, then a wait to be stopped."""

    def __init__(self) -> None:
        self.waiting = threading.Event()

    def __call__(
        self, preset, *, runs_dir, listeners=(), control=None, resume=None, preset_source=None, code=None
    ) -> FakeOutcome:
        listeners, control = list(listeners), control or RunControl()
        epochs = preset.train.epochs
        emit(
            listeners,
            RunStarted(RUN_DIR, preset.name, epochs, 1, BATCHES, 50_000, 10_000, CLASSES, "cpu", "fp32", "device"),
        )
        for epoch in (1, 2, 3):
            for event in epoch_events(epoch, epochs):
                emit(listeners, event)
        time.sleep(1.1)  # the console shows at most one progress message a second: let this one through
        emit(listeners, BatchProgress(4, BATCHES // 2, BATCHES, 0.52, 0.79, 1198.0, 0.0025, 20.7))
        self.waiting.set()
        control.stop_requested.wait(timeout=60)  # the app stops it when the snapshot is taken
        emit(listeners, RunFinished(RUN_DIR, "interrupted", 3, 0.75, 3, 125.0))
        return FakeOutcome("interrupted", Path(RUN_DIR), 130)


def make_run(runs: Path, name: str, status: dict[str, object], command: str = "") -> None:
    """A run folder with a fixed status.json (dates in UTC, as runs write them)."""
    folder = RunFolder(runs / name)
    folder.path.mkdir(parents=True)
    folder.status_file.write_text(json.dumps({"format": 1, "host": "snapshot-host", "pid": 1, **status}))
    folder.last_checkpoint.write_bytes(b"")
    if command:
        folder.write_command(command.split())


def make_runs(runs: Path) -> None:
    make_run(
        runs,
        "20261128-090000-seed",
        {
            "state": "finished",
            "preset_name": "seed",
            "epochs_planned": 40,
            "epochs_done": 40,
            "best_val_acc": 0.9012,
            "best_epoch": 37,
            "started_at": "2026-11-28T09:00:00+00:00",
            "ended_at": "2026-11-28T09:42:10+00:00",
        },
    )
    make_run(
        runs,
        "20261129-140000-smoke",
        {
            "state": "interrupted",
            "preset_name": "smoke",
            "epochs_planned": 3,
            "epochs_done": 2,
            "best_val_acc": 0.4375,
            "best_epoch": 2,
            "started_at": "2026-11-29T14:00:00+00:00",
            "ended_at": "2026-11-29T14:00:41+00:00",
        },
        command="tui-trainer --headless runs/20261129-140000-smoke/preset.toml --runs-dir runs",
    )
    make_run(
        runs,
        "20261130-080000-cifar10-fast",
        {
            "state": "failed",
            "preset_name": "cifar10-fast",
            "epochs_planned": 10,
            "epochs_done": 0,
            "error": "CUDA out of memory: lower data.batch_size",
            "started_at": "2026-11-30T08:00:00+00:00",
            "ended_at": "2026-11-30T08:00:12+00:00",
        },
    )


async def settle(pilot: Pilot, condition=lambda: True, timeout: float = 60.0) -> None:
    """Wait for `condition`, then for the screen to be idle, and stop every text cursor's blinking."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.05)
    await pilot.pause()
    for widget in pilot.app.screen.query("Input, TextArea"):
        if isinstance(widget, (Input, TextArea)):
            widget.cursor_blink = False
    await pilot.pause()


def console(workspace: Path, preset: str | None = None, trainer: ScriptedTrainer | None = None) -> TrainerApp:
    return TrainerApp(Path("presets", preset) if preset else None, [], Path("runs"), trainer=trainer)


def test_preset_list(workspace: Path, snap_compare) -> None:
    app = console(workspace)
    assert snap_compare(app, terminal_size=SIZE, run_before=settle)


@pytest.mark.slow
def test_preset_editor_with_the_seed_preset(workspace: Path, snap_compare) -> None:
    app = console(workspace, "seed.toml")

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot, lambda: isinstance(pilot.app.screen, PresetEditorScreen))

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def _training_started(pilot: Pilot, trainer: ScriptedTrainer):
    async def started() -> None:
        await pilot.pause()
        await pilot.press("ctrl+r")
        await settle(pilot, lambda: trainer.waiting.is_set() and isinstance(pilot.app.screen, TrainingScreen))
        app = pilot.app
        await settle(pilot, lambda: "batch 391/782" in str(app.screen.query_one("#progress-text").render()))

    return started()


@pytest.mark.slow
def test_training_screen_during_a_run(workspace: Path, snap_compare) -> None:
    trainer = ScriptedTrainer()
    app = console(workspace, "seed.toml", trainer)

    async def run_before(pilot: Pilot) -> None:
        await _training_started(pilot, trainer)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


@pytest.mark.slow
def test_confusion_screen_of_the_latest_epoch(workspace: Path, snap_compare) -> None:
    trainer = ScriptedTrainer()
    app = console(workspace, "seed.toml", trainer)

    async def run_before(pilot: Pilot) -> None:
        await _training_started(pilot, trainer)
        await pilot.press("c")
        await settle(pilot, lambda: isinstance(pilot.app.screen, ConfusionScreen))

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


async def runs_screen_shown(pilot: Pilot) -> None:
    """The runs screen (ctrl+l) over the three runs of `make_runs`, listed."""
    await pilot.pause()
    await pilot.press("ctrl+l")
    await settle(pilot, lambda: isinstance(pilot.app.screen, RunsScreen) and bool(pilot.app.screen.shown))


def test_runs_screen(workspace: Path, snap_compare) -> None:
    make_runs(workspace / "runs")

    async def run_before(pilot: Pilot) -> None:
        await runs_screen_shown(pilot)
        await pilot.press("down")  # the interrupted run: its recorded command shows below the list
        await settle(pilot)

    assert snap_compare(console(workspace), terminal_size=SIZE, run_before=run_before)


def test_help_of_the_runs_screen(workspace: Path, snap_compare) -> None:
    make_runs(workspace / "runs")

    async def run_before(pilot: Pilot) -> None:
        await runs_screen_shown(pilot)
        await pilot.press("question_mark")
        await settle(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))

    assert snap_compare(console(workspace), terminal_size=SIZE, run_before=run_before)

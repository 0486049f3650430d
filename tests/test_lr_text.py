"""A learning rate reads the same on the training screen, in its epoch table and in headless output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from textual.widgets import DataTable

from tui_trainer.engine.events import BatchProgress, EpochFinished, Predictions
from tui_trainer.headless import format_epoch
from tui_trainer.lr_text import format_lr
from tui_trainer.runs.live import RunHistory
from tui_trainer.tui.app import TrainerApp

from .test_tui_training import SIZE, FakeTrainer, run

LR = 9.54321e-4  # a cosine schedule's value mid-run: neither a round number nor tiny


def epoch_event() -> EpochFinished:
    labels = np.array([0, 1, 1, 0])
    predictions = Predictions(labels, labels, np.ones(4, np.float32), np.ones(4, np.float32), ("a", "b"))
    metrics = {
        "epoch": 1,
        "train_loss": 0.5,
        "train_acc": 0.8,
        "val_loss": 0.6,
        "val_acc": 0.75,
        "lr": LR,
        "epoch_seconds": 3.0,
        "train_images_per_second": 900.0,
    }
    return EpochFinished(1, 2, metrics, np.array([[2, 0], [0, 2]]), predictions, True)


def test_the_lr_has_three_significant_digits_as_the_lr_finder_writes_it() -> None:
    assert float(format_lr(LR)) == float(f"{LR:.3g}") != LR
    assert format_lr(LR) in format_epoch(epoch_event()).split()


def test_screen_table_and_headless_print_the_same_lr() -> None:
    async def scenario() -> None:
        app = TrainerApp(None, [], Path("runs"), trainer=FakeTrainer())
        async with app.run_test(size=SIZE) as pilot:
            app.history = RunHistory(preset_name="smoke", state="running", epochs_planned=2)
            app.history.add_epoch(epoch_event())
            app.history.add_progress(BatchProgress(2, 3, 10, 1.0, 0.5, 500.0, LR, 1.0))
            app.push_screen("training")
            await pilot.pause()
            live = str(app.screen.query_one("#live-metrics").content)
            table = app.screen.query_one("#epoch-table", DataTable)
            cell = str(table.get_cell("1", "lr"))
            headless = format_epoch(epoch_event())
            assert f"lr {cell} " in f"{live} " and f"lr {cell} " in headless
            assert cell == format_lr(LR)

    run(scenario())

"""The training screen's progress row and footer: a bar as wide as the terminal allows, `p` says what it does."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from textual.widgets import ProgressBar
from textual.widgets._footer import FooterKey
from textual.widgets._progress_bar import Bar

from tests.console_kit import FakeTrainer, press, run, wait_for
from tests.console_kit import training_app as make_app
from tests.helpers import TINY
from tui_trainer.engine.events import BatchProgress
from tui_trainer.runs.view import RunView
from tui_trainer.tui.app import TrainerApp


def footer_keys(app: TrainerApp) -> dict[str, str]:
    return {key.description: key.key for key in app.screen.query(FooterKey)}


@pytest.mark.slow
def test_p_reads_resume_while_the_run_is_paused(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = make_app(tmp_path, FakeTrainer(hold=threading.Event()), overrides=(*TINY, "train.epochs=1000"))
        async with app.run_test(size=(100, 24)) as pilot:
            await pilot.pause()
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: app.history is not None and app.history.progress is not None)
            await pilot.pause()
            assert "Pause" in footer_keys(app) and "Resume" not in footer_keys(app)
            await press(pilot, "p")
            assert app.control is not None and app.control.paused
            await pilot.pause()
            assert "Resume" in footer_keys(app) and "Pause" not in footer_keys(app)
            await press(pilot, "p")
            assert not app.control.paused
            await pilot.pause()
            assert "Pause" in footer_keys(app) and "Resume" not in footer_keys(app)
            app.action_stop_training()
            await wait_for(pilot, lambda: not app.training_active)

    run(scenario())


@pytest.mark.parametrize("width", [80, 160])
def test_the_progress_bar_takes_the_width_the_text_leaves(width: int) -> None:
    async def scenario() -> None:
        app = TrainerApp(None, [], Path("runs"), trainer=FakeTrainer())
        async with app.run_test(size=(width, 24)) as pilot:
            app.history = RunView(preset_name="smoke", state="running", epochs_planned=2)
            app.history.add_progress(BatchProgress(1, 4, 10, 1.0, 0.5, 500.0, 0.01, 1.0))
            app.push_screen("training")
            await pilot.pause()
            row = app.screen.query_one("#progress-row")
            bar = app.screen.query_one("#batch-progress", ProgressBar)
            text = app.screen.query_one("#progress-text")
            inner = row.content_region
            # The bar and the whole text fill the row: the bar is not a fixed 32 cells.
            assert bar.region.x == inner.x and text.region.right == inner.right
            assert text.size.width >= len(str(text.content))
            assert bar.query_one(Bar).size.width > (32 if width == 160 else 8)

    run(scenario())

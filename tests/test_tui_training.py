"""The console's training side: the thread worker, live charts, stop/pause, errors, quitting (Pilot, 80x24)."""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from textual.app import App

from tests.console_kit import SIZE, FakeOutcome, FakeTrainer, press, run, wait_for
from tests.console_kit import training_app as make_app
from tests.helpers import TINY
from tui_trainer.engine.events import (
    BatchProgress,
    EpochFinished,
    Predictions,
    RunControl,
    RunFinished,
    SetupProgress,
    emit,
)
from tui_trainer.runs.view import RunView
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.common.confirm_screen import ConfirmScreen
from tui_trainer.tui.common.error_screen import ErrorScreen
from tui_trainer.tui.messages import RunEvent
from tui_trainer.tui.run.training_screen import TrainingScreen


def test_training_the_tiny_smoke_preset_draws_one_point_per_epoch(tmp_path: Path) -> None:
    """The real run_training in the App's thread worker, driven by keys."""

    async def scenario() -> None:
        app = make_app(tmp_path)  # no fake: tui_trainer.runs.launch.run_training
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen))
            await wait_for(pilot, lambda: not app.training_active, timeout=120)
            await wait_for(pilot, lambda: app.history is not None and app.history.state == "finished")
            history = app.history
            assert history is not None and len(history.epochs) == 2
            assert history.run_dir is not None and (history.run_dir / "status.json").is_file()
            assert history.confusion is not None and history.predictions is not None
            assert len(history.per_class_accuracy) == 2
            screen = app.screen
            assert isinstance(screen, TrainingScreen)
            for chart_id in ("#loss-chart", "#acc-chart"):
                points = screen.query_one(chart_id).points
                assert [x for x, _ in points["train"]] == [1, 2]
                assert [x for x, _ in points["val"]] == [1, 2]
            assert screen.query_one("#epoch-table").row_count == 2
            assert str(history.run_dir) in str(screen.query_one("#run-dir").render())

    run(scenario())


def test_charts_and_table_follow_each_epoch(tmp_path: Path) -> None:
    trainer = FakeTrainer()

    async def scenario() -> None:
        app = make_app(tmp_path, trainer, overrides=(*TINY, "train.epochs=3"))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: app.history is not None and app.history.state == "finished")
            screen = app.screen
            assert isinstance(screen, TrainingScreen)
            assert screen.query_one("#acc-chart").points["val"] == [(1, 25.0), (2, 50.0), (3, 75.0)]
            assert screen.query_one("#epoch-table").row_count == 3
            assert app.history.version > 3
            # Leaving the screen and coming back redraws from the history.
            await pilot.press("escape")
            await pilot.press("ctrl+t")
            await pilot.pause()
            assert app.screen is screen and len(screen.query_one("#loss-chart").points["train"]) == 3

    run(scenario())


@pytest.mark.slow
def test_stop_and_pause_steer_the_run(tmp_path: Path) -> None:
    trainer = FakeTrainer(delay=0.05)

    async def scenario() -> None:
        app = make_app(tmp_path, trainer, overrides=(*TINY, "train.epochs=1000"))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: app.history is not None and app.history.progress is not None)
            await press(pilot, "p")
            assert app.control is not None and app.control.paused and app.history.state == "paused"
            await pilot.pause(0.1)
            batch = app.history.progress
            await pilot.pause(0.2)
            assert app.history.progress == batch  # nothing moves while paused
            await press(pilot, "p")
            assert not app.control.paused
            await press(pilot, "x")
            assert isinstance(app.screen, ConfirmScreen) and app.training_active  # x asks first
            await press(pilot, "y")
            await wait_for(pilot, lambda: not app.training_active)
            await wait_for(pilot, lambda: app.history.state == "interrupted")
            assert trainer.outcome is not None and trainer.outcome.state == "interrupted"
            await press(pilot, "s")  # a new run starts after a stop
            await wait_for(pilot, lambda: trainer.calls == 2)
            await press(pilot, "x", "escape")  # asked, and kept going
            assert app.training_active and not isinstance(app.screen, ConfirmScreen)
            await press(pilot, "x", "y")
            await wait_for(pilot, lambda: not app.training_active)

    run(scenario())


class DecodingTrainer(FakeTrainer):
    """A run that is still decoding its images when it is stopped (as `run_training` ends one)."""

    def _run(self, preset, runs_dir: Path, listeners, control: RunControl) -> FakeOutcome:
        run_dir = runs_dir / f"fake-{preset.name}"
        done = 0
        while not control.stop_requested.is_set():
            done += 256
            emit(listeners, SetupProgress(stage="decode train", done=done, total=10**9, rate=1000.0, eta=60.0))
            time.sleep(0.02)
        emit(listeners, RunFinished(str(run_dir), "interrupted", 0, None, None, 0.0))
        return FakeOutcome("interrupted", run_dir, 130)


def test_stopping_while_the_images_decode_says_nothing_is_trained_and_ends_the_run(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = make_app(tmp_path, DecodingTrainer())
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: app.history is not None and "decode train" in app.history.setup_stage)
            await press(pilot, "x")
            assert isinstance(app.screen, ConfirmScreen)
            assert "Nothing is trained yet" in app.screen._question and "last.pt" not in app.screen._question
            await press(pilot, "y")
            await wait_for(pilot, lambda: not app.training_active and app.history.state == "interrupted")
            assert app.history.setup_stage == ""  # the header no longer shows a decode going on

    run(scenario())


def test_an_exception_in_training_shows_an_error_and_the_app_keeps_running(tmp_path: Path) -> None:
    trainer = FakeTrainer(fail_with=RuntimeError("model factory exploded"))

    async def scenario() -> None:
        app = make_app(tmp_path, trainer)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen))
            assert "RuntimeError: model factory exploded" in app.screen.message
            assert "Traceback" in app.screen.details
            assert app.history is not None and app.history.state == "failed"
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, TrainingScreen) and app.is_running
            trainer.fail_with = None
            await pilot.press("s")
            await wait_for(pilot, lambda: app.history.state == "finished")

    run(scenario())


def test_a_real_model_factory_error_reaches_the_user(tmp_path: Path, monkeypatch) -> None:
    def broken(target: str):
        raise ValueError("no such layer")

    monkeypatch.setattr("tui_trainer.engine.builders.resolve_factory", broken)

    async def scenario() -> None:
        app = make_app(tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen), timeout=120)
            assert "no such layer" in app.screen.message
            await wait_for(pilot, lambda: not app.training_active)
            assert app.history is not None and app.history.state == "failed"

    run(scenario())


def test_a_failure_reported_by_the_run_is_shown_with_its_hint(tmp_path: Path) -> None:
    trainer = FakeTrainer(report_failure="loss became NaN in epoch 1")

    async def scenario() -> None:
        app = make_app(tmp_path, trainer)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen))
            await wait_for(pilot, lambda: not app.training_active)
            await pilot.pause()
            errors = [s for s in app.screen_stack if isinstance(s, ErrorScreen)]
            assert len(errors) == 1  # the RunFailed event, not a second modal for the outcome
            assert errors[0].hint == "lower the learning rate"

    run(scenario())


CRASH = """Traceback (most recent call last):
  File "/site-packages/tui_trainer/engine/trainer.py", line 1, in fit
KeyError: 'head'
"""


def dialog_text(screen: ErrorScreen) -> str:
    """What the error dialog shows (its widgets that are displayed)."""
    from textual.widgets import Static

    return "\n".join(str(w.content) for w in screen.query(Static) if w.display)


async def failed_run(pilot) -> ErrorScreen:
    """Start a run that fails; its error dialog once the run has ended."""
    await pilot.pause()
    await pilot.press("ctrl+r")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ErrorScreen))
    await wait_for(pilot, lambda: not pilot.app.training_active)
    return pilot.app.screen


def test_a_users_error_shows_its_message_and_hint_only(tmp_path: Path) -> None:
    trainer = FakeTrainer(
        report_failure="data.root: no folder train/ in /data/cats",
        hint="check data.dataset and data.root in the preset",
        details=CRASH,
        user_error=True,
    )

    async def scenario() -> None:
        app = make_app(tmp_path, trainer)
        async with app.run_test(size=SIZE) as pilot:
            screen = await failed_run(pilot)
            shown = dialog_text(screen)
            assert "no folder train/" in shown and "Hint: check data.dataset and data.root" in shown
            assert "Traceback" not in shown and not screen.query("#error-details")
            await pilot.press("t")  # nothing to unfold
            assert "Traceback" not in dialog_text(screen)
            assert not (trainer.outcome.run_dir / "log.txt").exists()
            await pilot.press("enter")
            assert isinstance(app.screen, TrainingScreen)

    run(scenario())


def test_a_crash_folds_its_traceback_behind_t_and_saves_it_to_the_run_log(tmp_path: Path) -> None:
    trainer = FakeTrainer(report_failure="KeyError: 'head'", hint="", details=CRASH)

    async def scenario() -> None:
        app = make_app(tmp_path, trainer)
        async with app.run_test(size=SIZE) as pilot:
            screen = await failed_run(pilot)
            log = trainer.outcome.run_dir / "log.txt"
            shown = dialog_text(screen)
            assert "KeyError: 'head'" in shown and f"t: show the traceback (saved in {log})" in shown
            assert "Traceback" not in shown and "tui_trainer" not in screen.hint and ".py" not in screen.hint
            assert CRASH.strip() in log.read_text()
            await pilot.press("t")
            assert "engine/trainer.py" in dialog_text(screen)
            await pilot.press("t")
            assert "Traceback" not in dialog_text(screen)
            await pilot.press("enter")
            assert isinstance(app.screen, TrainingScreen)

    run(scenario())


def test_quitting_during_training_asks_then_stops_and_waits(tmp_path: Path) -> None:
    trainer = FakeTrainer(hold=threading.Event())  # a run that stays at its first batch until stopped

    async def scenario() -> None:
        app = make_app(tmp_path, trainer, overrides=(*TINY, "train.epochs=1000"))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: app.history is not None and app.history.progress is not None)
            await press(pilot, "ctrl+q")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await press(pilot, "n")
            assert app.training_active and app.is_running and not isinstance(app.screen, ConfirmScreen)
            await press(pilot, "ctrl+q")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await press(pilot, "y")
            await wait_for(pilot, lambda: not app.training_active)
            # The run has stopped and saved; the --set values are not edits to ask about: it quits.
            assert trainer.outcome is not None and trainer.outcome.state == "interrupted"
            await wait_for(pilot, lambda: not app.is_running)  # before: a second question, "Unsaved changes"

    run(scenario())


def test_ctrl_c_outside_a_text_field_quits_the_same_way(tmp_path: Path) -> None:
    trainer = FakeTrainer(hold=threading.Event())  # a run that stays at its first batch until stopped

    async def scenario() -> None:
        app = make_app(tmp_path, trainer, overrides=(*TINY, "train.epochs=1000"))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: app.history is not None and app.history.progress is not None)
            await press(pilot, "ctrl+c")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await press(pilot, "y")
            await wait_for(pilot, lambda: not app.training_active)
            assert trainer.outcome is not None and trainer.outcome.state == "interrupted"

    run(scenario())


def progress(batch: int, batches: int = 1000) -> BatchProgress:
    return BatchProgress(1, batch, batches, 1.0, 0.5, 100.0, 0.1, batch / 100)


def test_a_backlog_of_progress_collapses_into_the_newest_event() -> None:
    """A UI that falls behind handles one progress message for the backlog, never a queue of stale ones."""
    handled: list[object] = []

    class Recorder(App[None]):
        def on_run_event(self, message: RunEvent) -> None:
            handled.append(message.event)

    async def scenario() -> None:
        app = Recorder()
        async with app.run_test(size=SIZE) as pilot:
            # Posted from other threads, as a run does, while the UI thread is busy.
            threads = [
                threading.Thread(target=lambda part=part: [app.post_message(RunEvent(progress(b))) for b in part])
                for part in (range(1, 501), range(501, 1001))
            ]
            app.call_later(lambda: [thread.start() for thread in threads] and [t.join() for t in threads])
            await pilot.pause(0.2)
            assert 1 <= len(handled) < 10
            assert handled[-1].batch in (500, 1000)  # the newest of one thread or the other
            handled.clear()
            ended = RunFinished("run", "finished", 1, None, None, 1.0)
            app.call_later(
                lambda: [app.post_message(RunEvent(e)) for e in (progress(1), progress(2), ended, progress(3))]
            )
            await pilot.pause(0.2)
            assert handled == [progress(2), ended, progress(3)]  # only progress collapses, and only into progress

    run(scenario())


def test_progress_of_another_run_or_kind_is_never_replaced() -> None:
    assert RunEvent(progress(1), run=2).can_replace(RunEvent(progress(2), run=2))
    assert not RunEvent(progress(1), run=1).can_replace(RunEvent(progress(2), run=2))
    assert not RunEvent(progress(1)).can_replace(RunEvent(SetupProgress("decode train", 1, 9)))
    epoch_end = RunFinished("run", "finished", 1, None, None, 1.0)
    assert not RunEvent(epoch_end).can_replace(RunEvent(epoch_end))


def test_every_progress_event_reaches_the_history_and_the_screen_draws_the_newest_once_a_second() -> None:
    async def scenario() -> None:
        app = TrainerApp(None, [], Path("runs"), trainer=FakeTrainer())
        async with app.run_test(size=SIZE) as pilot:
            app.history = RunView(preset_name="smoke", state="running", epochs_planned=2)
            app.push_screen("training")
            await pilot.pause(1.1)
            app.post_message(RunEvent(progress(1, 10)))
            await pilot.pause()
            text = lambda: str(app.screen.query_one("#progress-text").content)  # noqa: E731
            assert text().startswith("batch 1/10")  # a second after the last redraw: at once
            for batch in range(2, 11):
                app.post_message(RunEvent(progress(batch, 10)))
                await pilot.pause(0.01)
            assert app.history.progress.batch == 10  # the history has every event, the last batch too
            assert text().startswith("batch 1/10")  # the screen waits for its interval
            await pilot.pause(1.1)
            assert text().startswith("batch 10/10")

    run(scenario())


def test_history_keeps_what_the_confusion_screen_reads() -> None:
    history = RunView()
    before = history.version
    confusion = np.array([[3, 1], [0, 4]])
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    predictions = Predictions(labels, labels, np.ones(8, np.float32), np.ones(8, np.float32), ("a", "b"))
    history.add_epoch(EpochFinished(1, 2, {"epoch": 1, "val_acc": 0.875}, confusion, predictions, True))
    assert history.version > before and history.classes == ("a", "b")
    assert history.per_class_accuracy == [[0.75, 1.0]] and history.best_epoch == 1
    assert history.confusion is confusion and history.predictions is predictions


def test_the_console_never_imports_torch() -> None:
    code = (
        "import sys, tui_trainer.tui.app, tui_trainer.tui.run.training_screen, tui_trainer.tui.preset.editor;"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_epoch_table_keeps_its_rows_and_stars_the_best_epoch() -> None:
    from types import SimpleNamespace

    from textual.app import App, ComposeResult

    from tui_trainer.tui.run.charts import EpochTable

    class TableApp(App):
        def compose(self) -> ComposeResult:
            yield EpochTable(id="table")

    def record(epoch: int, val_acc: float) -> dict:
        return {"epoch": epoch, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.0, "val_acc": val_acc, "lr": 0.1}

    def stars(table: EpochTable) -> list[str]:
        return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]

    async def scenario() -> None:
        async with TableApp().run_test(size=SIZE) as pilot:
            table = pilot.app.query_one(EpochTable)
            epochs = [record(1, 0.3), record(2, 0.5)]
            table.show_history(SimpleNamespace(epochs=epochs, best_epoch=2))
            assert stars(table) == ["", "*"]
            epochs.append(record(3, 0.4))
            table.show_history(SimpleNamespace(epochs=epochs, best_epoch=2))
            assert stars(table) == ["", "*", ""] and table.cursor_row == 2
            epochs.append(record(4, 0.6))
            table.show_history(SimpleNamespace(epochs=epochs, best_epoch=4))
            assert stars(table) == ["", "", "", "*"]
            assert [str(table.get_row_at(i)[5]) for i in range(4)] == ["30.0%", "50.0%", "40.0%", "60.0%"]
            # A resume that dropped epochs newer than its checkpoint: the rows follow.
            table.show_history(SimpleNamespace(epochs=epochs[:2], best_epoch=2))
            assert stars(table) == ["", "*"] and table.row_count == 2

    asyncio.run(scenario())


def test_the_loss_chart_draws_a_per_step_curve_during_the_first_epoch(tmp_path: Path) -> None:
    trainer = FakeTrainer(delay=0.05)  # 100 batches: 5 s an epoch
    epoch = ("data.synthetic_train_size=2000", "data.batch_size=20")

    async def scenario() -> None:
        app = make_app(tmp_path, trainer, overrides=(*TINY, *epoch, "train.epochs=2"))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("ctrl+r")
            chart = app.screen.query_one("#loss-chart")
            await wait_for(pilot, lambda: len(chart.points["steps"]) >= 2)
            assert not app.history.epochs  # still in epoch 1, and the chart is not empty
            xs = [x for x, _ in chart.points["steps"]]
            assert xs == sorted(xs) and 0 < xs[0] < xs[-1] <= 1
            await press(pilot, "l")
            assert chart.log_scale
            await press(pilot, "l")
            assert not chart.log_scale
            app.stop_training(wait=True, timeout=10)

    run(scenario())


def test_per_step_loss_is_the_loss_between_reports_smoothed() -> None:
    from tui_trainer.runs.view import STEP_SMOOTHING

    history = RunView()
    history.add_progress(BatchProgress(1, 10, 100, 2.0, 0.1, 100.0, 0.1, 1.0))
    history.add_progress(BatchProgress(1, 20, 100, 1.5, 0.2, 100.0, 0.1, 2.0))  # batches 11-20 averaged 1.0
    assert history.step_losses[0] == (0.1, 2.0)
    weight = math.exp(-0.1 / STEP_SMOOTHING)  # 0.1 epoch later
    assert history.step_losses[1] == (pytest.approx(0.2), pytest.approx(weight * 2.0 + (1 - weight) * 1.0))
    history.add_progress(BatchProgress(1, 20, 100, 1.5, 0.2, 100.0, 0.1, 2.0))  # repeated: no new point
    assert len(history.step_losses) == 2


def test_the_accuracy_axis_fits_the_data_so_close_values_stay_apart() -> None:
    from tui_trainer.tui.run.charts import fitted_range

    low, high = fitted_range([99.2, 100.0])
    assert 98 < low < 99.2 and high == 100.0
    assert fitted_range([]) == (0.0, 100.0)
    low, high = fitted_range([10.0, 60.0])
    assert low == 5.0 and high == 65.0


def test_the_progress_line_has_no_dangling_separator_after_the_run_and_says_validating() -> None:
    async def scenario() -> None:
        app = TrainerApp(None, [], Path("runs"), trainer=FakeTrainer())
        async with app.run_test(size=SIZE) as pilot:
            app.history = RunView(preset_name="smoke", state="running", epochs_planned=2)
            app.history.add_progress(BatchProgress(1, 10, 10, 1.0, 0.5, 500.0, 0.01, 1.0))
            app.push_screen("training")
            await pilot.pause()
            text = lambda: str(app.screen.query_one("#progress-text").content)  # noqa: E731
            assert text() == "batch 10/10 · 500 img/s · validating"
            app.history.set_state("finished")
            app.screen.show_history()
            await pilot.pause(1.1)
            app.screen.show_history()
            await pilot.pause()
            assert text() == "batch 10/10 · 500 img/s"

    run(scenario())

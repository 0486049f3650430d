"""The console's health panel (toggled with h) and its word when a run ends (Pilot, 80x24)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import SimpleNamespace

from tests.console_kit import SIZE, capture_notices, wait_for
from tests.helpers import SMOKE, TINY, tiny_preset
from tui_trainer.engine.events import BatchProgress, RunControl, RunFinished, RunStarted, emit
from tui_trainer.engine.health import Health
from tui_trainer.runs.launch import run_training
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.run.training_screen import TrainingScreen

SLOW_DATA = Health(data_seconds=0.02, step_seconds=0.05, grad_norm=1.5, cpu_percent=90.0, rss_bytes=300 * 2**20)


class HealthyFakeTrainer:
    """`run_training`'s contract without torch: one epoch whose progress carries `health`, then
    it waits for a stop (so the test sees the panel of a running run)."""

    def __init__(self, health: Health) -> None:
        self.health = health

    def __call__(self, preset, *, runs_dir, listeners=(), control=None, resume=None, preset_source=None, code=None):
        control = control or RunControl()
        run_dir = Path(runs_dir) / "fake"
        run_dir.mkdir(parents=True, exist_ok=True)
        emit(listeners, RunStarted(str(run_dir), preset.name, 1, 1, 4, 99, 30, ("a", "b"), "cpu", "fp32"))
        emit(listeners, BatchProgress(1, 4, 4, 0.5, 0.5, 100.0, 0.01, 1.0, health=self.health))
        deadline = time.monotonic() + 30
        while not control.stop_requested.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        emit(listeners, RunFinished(str(run_dir), "interrupted", 0, None, None, 1.0))

        return SimpleNamespace(state="interrupted", run_dir=run_dir, exit_code=130, error="")


def test_h_shows_and_hides_the_health_panel_with_the_input_bound_warning(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = TrainerApp(SMOKE, list(TINY), tmp_path / "runs", trainer=HealthyFakeTrainer(SLOW_DATA))
        bells, notices = capture_notices(app)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen) and app.screen.query("#health-panel"))
            screen = app.screen
            await wait_for(pilot, lambda: app.history is not None and app.history.progress is not None)
            panel = screen.query_one("#health-panel")
            assert not screen.health_shown and panel.region.height == 0  # off until asked for

            await pilot.press("h")
            await wait_for(pilot, lambda: panel.region.height > 0)
            text = str(panel.render())
            assert "grad norm 1.5" in text and "RSS 300.0 MiB" in text
            assert "input-bound" in text and panel.has_class("-input-bound")
            assert panel.region.height == 3 and panel.region.width <= SIZE[0]

            await pilot.press("h")
            await wait_for(pilot, lambda: panel.region.height == 0)
            assert not screen.health_shown

            await pilot.press("x")  # stop (asked first): the run ends with a bell and a notice
            await wait_for(pilot, lambda: not isinstance(app.screen, TrainingScreen))
            await pilot.press("y")
            await wait_for(pilot, lambda: bells)
            assert len(bells) == 1 and "stopped" in notices[-1][0]

    asyncio.run(scenario())


def test_opening_a_finished_run_replays_it_without_a_bell(tmp_path: Path) -> None:
    outcome = run_training(tiny_preset("train.epochs=1"), runs_dir=tmp_path / "runs")
    assert outcome.exit_code == 0

    async def scenario() -> None:
        app = TrainerApp(None, [], tmp_path / "runs")
        bells, notices = capture_notices(app)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            app.open_run(outcome.run_dir)
            await wait_for(pilot, lambda: app.history is not None and app.history.state == "finished")
            await pilot.press("h")
            await wait_for(pilot, lambda: "health: step" in str(app.screen.query_one("#health-panel").render()))
            assert bells == [] and not any("tui-trainer: run" in title for title, _ in notices)

    asyncio.run(scenario())


def test_the_palettes_health_command_opens_the_training_screen_with_the_panel(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = TrainerApp(SMOKE, list(TINY), tmp_path / "runs")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert not isinstance(app.screen, TrainingScreen)
            await app.run_action("toggle_health")
            await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen) and app.screen.query("#health-panel"))
            panel = app.screen.query_one("#health-panel")
            await wait_for(pilot, lambda: panel.region.height > 0)
            assert "no figures yet" in str(panel.render())

    asyncio.run(scenario())

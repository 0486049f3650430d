"""Opening a run folder: the bell and the "run failed/stopped" notice are news of a run the console
watched end, so an old failed or interrupted run shows how it ended without them; the header names
the run's preset from the start (Pilot, 80x24, no torch)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.console_kit import SIZE, FakeTrainer, capture_notices, make_run, run, training_app, wait_for
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.common.error_screen import ErrorScreen


@pytest.mark.parametrize("state", ["failed", "interrupted"])
def test_opening_an_old_failed_or_interrupted_run_rings_no_bell(tmp_path: Path, state: str) -> None:
    folder = make_run(tmp_path / "runs", "old", state)

    async def scenario() -> None:
        app = TrainerApp(None, [], tmp_path / "runs")
        bells, notices = capture_notices(app)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            app.open_run(folder)
            await wait_for(pilot, lambda: app.history is not None and app.history.state == state)
            if state == "failed":
                await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen))  # the failure is still shown
            for _ in range(5):  # the follower goes on polling (a resume elsewhere would be picked up)
                await pilot.pause(0.05)
            assert bells == [] and not any(title.startswith("tui-trainer: run") for title, _ in notices)

    run(scenario())


def test_a_run_that_fails_while_watched_rings_the_bell(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = training_app(tmp_path, FakeTrainer(report_failure="loss is nan"))
        bells, notices = capture_notices(app)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: isinstance(app.screen, ErrorScreen))
            assert bells == [1] and ("tui-trainer: run failed", "fake-smoke: loss is nan") in [
                (title, message.rsplit("/", 1)[-1]) for title, message in notices
            ]

    run(scenario())


def test_a_followed_run_is_named_by_its_preset_from_the_start(tmp_path: Path) -> None:
    folder = make_run(tmp_path / "runs", "2026-11-28-folder-name", "finished")

    async def scenario() -> None:
        app = TrainerApp(None, [], tmp_path / "runs")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            app.open_run(folder)
            assert app.history is not None and app.history.preset_name == "smoke"  # before any poll
            await wait_for(pilot, lambda: app.screen.sub_title == "run of smoke")

    run(scenario())

"""Set-up progress carries a unit, in the console and in headless output: no bare `generate: 0/2`."""

from __future__ import annotations

import io
from pathlib import Path

from tui_trainer.engine.events import SetupProgress
from tui_trainer.headless import PlainPrinter
from tui_trainer.runs.live import RunHistory
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.messages import RunEvent

from .test_tui_training import SIZE, FakeTrainer, run


def test_headless_names_what_it_counts() -> None:
    out = io.StringIO()
    printer = PlainPrinter(out)
    printer(SetupProgress(stage="generate", done=0, total=2))
    printer(SetupProgress(stage="decode val", done=0, total=5000))
    printer(SetupProgress(stage="cache val", done=1, total=1))
    assert out.getvalue().splitlines() == ["generate: 0/2 splits", "decode val: 0/5,000 images", "cache val: done"]


def test_the_console_shows_the_same_set_up_line() -> None:
    async def scenario() -> None:
        app = TrainerApp(None, [], Path("runs"), trainer=FakeTrainer())
        async with app.run_test(size=SIZE) as pilot:
            app.history = RunHistory(preset_name="smoke", state="starting", epochs_planned=2)
            app.push_screen("training")
            await pilot.pause()
            app.post_message(RunEvent(SetupProgress(stage="generate", done=0, total=2)))
            await pilot.pause()
            app.screen.show_history()
            await pilot.pause()
            assert "generate: 0/2 splits" in str(app.screen.query_one("#run-state").content)

    run(scenario())

"""How a run's end reads: a stop during set-up says so and counts the set-up's time, a stop in the first
epoch names the epoch, and counts of problems are singular for one."""

from __future__ import annotations

import io
from pathlib import Path

from tests.console_kit import SIZE, capture_notices, editor_app, run, wait_for
from tests.helpers import tiny_preset
from tui_trainer.cli.train import PlainPrinter
from tui_trainer.engine.events import RunControl, RunFinished, SetupProgress
from tui_trainer.runs.launch import run_training
from tui_trainer.runs.notify import ended_text, outcome_message


def _stopped(epochs_done: int, setup_stage: str = "") -> RunFinished:
    return RunFinished("runs/a", "interrupted", epochs_done, None, None, 14.0, setup_stage)


def test_a_stop_during_set_up_says_what_was_under_way_and_for_how_long(tmp_path: Path) -> None:
    control = RunControl()
    ends: list[RunFinished] = []

    def listener(event) -> None:
        if isinstance(event, SetupProgress):
            control.stop()
        if isinstance(event, RunFinished):
            ends.append(event)

    outcome = run_training(tiny_preset(), runs_dir=tmp_path / "runs", listeners=[listener], control=control)
    assert outcome.state == "interrupted" and len(ends) == 1
    end = ends[0]
    assert end.epochs_done == 0 and end.setup_stage and end.seconds > 0  # the set-up's time, not 0.0
    out = io.StringIO()
    PlainPrinter(out)(end)
    assert out.getvalue().startswith("interrupted while preparing the data (")
    assert "after 0 epochs" not in out.getvalue()


def test_the_end_names_the_stage_or_the_epoch() -> None:
    assert ended_text(_stopped(0, "decode train")) == "interrupted while decoding the data (14.0s)"
    assert ended_text(_stopped(0)) == "interrupted in epoch 1 after 14.0s"
    assert ended_text(_stopped(1)) == "interrupted after 1 epoch in 14.0s"
    assert outcome_message(_stopped(0, "decode train"))[1] == "runs/a: stopped while decoding the data (14.0s)"


def test_one_problem_is_fix_it_not_fix_them(tmp_path: Path) -> None:
    preset = tmp_path / "p.toml"
    preset.write_text('name = "p"\n[data]\nbatch_size = 0\n')

    async def scenario() -> None:
        app = editor_app(preset, tmp_path)
        _, notices = capture_notices(app)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: notices)
            assert notices[-1][1] == "The preset has 1 problem: fix it before training"

    run(scenario())

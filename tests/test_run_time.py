"""One run, one time, whoever tells it: the headless end line, the run's own listeners (the console's
notice, the webhook), a console following the run and the runs screen all give the run's training time by
runs.timing's one definition: wall time, set-up included, less the time its loop was held, less the gaps
before a resume."""

from __future__ import annotations

import io
import os
import re
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.helpers import tiny_preset
from tui_trainer.cli.train import PlainPrinter
from tui_trainer.engine.events import BatchProgress, Event, RunControl, RunFinished, RunPaused
from tui_trainer.runs.folder import RunFolder
from tui_trainer.runs.follow import read_events
from tui_trainer.runs.launch import run_training
from tui_trainer.runs.summary import summarize
from tui_trainer.runs.timing import resume_fields, training_time
from tui_trainer.tui.runs.screen import row_cells

HOLD = 0.6
"""Seconds the run below is held: long enough to tell apart from the rest of a tiny run."""


class HoldOnce:
    """Pauses the run at its first progress report and lets it go on HOLD seconds after the loop holds."""

    def __init__(self, control: RunControl) -> None:
        self.control = control
        self.pressed = False

    def __call__(self, event: Event) -> None:
        if isinstance(event, BatchProgress) and not self.pressed:
            self.pressed = True
            self.control.pause()
        elif isinstance(event, RunPaused):
            threading.Timer(HOLD, self.control.resume).start()


@pytest.mark.usefixtures("one_thread")
def test_a_paused_run_ends_with_one_time_in_the_headless_line_a_follower_and_the_runs_list(tmp_path: Path) -> None:
    control = RunControl()
    out = io.StringIO()
    told: list[RunFinished] = []
    keep_end = lambda event: told.append(event) if isinstance(event, RunFinished) else None  # noqa: E731
    outcome = run_training(
        tiny_preset(),
        runs_dir=tmp_path / "runs",
        listeners=[PlainPrinter(out), keep_end, HoldOnce(control)],
        control=control,
    )
    assert outcome.state == "finished" and outcome.run_dir is not None
    headless = re.search(r"finished after \d+ epochs? in ([\d.]+)s", out.getvalue())
    assert headless is not None, out.getvalue()
    [followed] = [e for e in read_events(outcome.run_dir) if isinstance(e, RunFinished)]
    listed = summarize(outcome.run_dir).duration
    assert listed is not None
    figures = {headless.group(1), f"{told[0].seconds:.1f}", f"{followed.seconds:.1f}", f"{listed:.1f}"}
    assert len(figures) == 1, figures  # the console's notice and the webhook say the event's figure

    status = RunFolder(outcome.run_dir).read_status()
    assert status["paused_seconds"] >= HOLD and "paused_since" not in status  # the hold was counted, once
    wall = (datetime.fromisoformat(status["ended_at"]) - datetime.fromisoformat(status["started_at"])).total_seconds()
    assert listed == pytest.approx(wall - status["paused_seconds"])  # set-up in, the pause out


def _held_run(tmp_path: Path, started: datetime, held_from: datetime) -> Path:
    """A running run of this (live) process, held since `held_from` after a 3 s hold earlier on."""
    folder = RunFolder(tmp_path / "runs" / "20261128-100000-smoke")
    folder.path.mkdir(parents=True)
    folder.write_status(
        state="running",
        pid=os.getpid(),
        preset_name="smoke",
        epochs_planned=3,
        started_at=started.isoformat(),
        paused_seconds=3.0,
    )
    folder.record_pause(held_from)
    return folder.path


def test_a_paused_runs_time_stands_still_in_the_runs_list_while_it_is_held(tmp_path: Path) -> None:
    now = time.time()
    start = datetime.fromtimestamp(now - 100).astimezone()
    path = _held_run(tmp_path, start, held_from=start + timedelta(seconds=40))
    assert summarize(path, now).duration == pytest.approx(37.0, abs=0.01)  # 40 s, less the earlier 3 s hold
    later = summarize(path, now + 600)  # ten minutes later, still held
    assert later.label == "paused" and later.duration == pytest.approx(37.0, abs=0.01)
    assert row_cells(later, selected=False)[5] == "0:37"  # the runs screen's time column


def test_a_hold_that_ends_joins_the_paused_time_and_a_resume_carries_it(tmp_path: Path) -> None:
    start = datetime.now().astimezone() - timedelta(seconds=100)
    folder = RunFolder(_held_run(tmp_path, start, held_from=start + timedelta(seconds=40)))
    folder.record_pause(None)  # the loop goes on, 60 s after it began to hold
    status = folder.read_status()
    assert "paused_since" not in status and status["paused_seconds"] == pytest.approx(63.0, abs=1.0)

    ended = {**status, "state": "interrupted", "ended_at": (start + timedelta(seconds=100)).isoformat()}
    resumed = {**ended, **resume_fields(ended, (start + timedelta(hours=1)).isoformat())}
    assert resumed["earlier_seconds"] == pytest.approx(37.0, abs=1.0) and resumed["paused_seconds"] == 0.0
    resumed["ended_at"] = (start + timedelta(hours=1, seconds=20)).isoformat()
    trained = training_time(resumed)
    assert trained is not None and trained.part == pytest.approx(20.0) and trained.total == pytest.approx(57.0, abs=1.0)

"""A paused run's status.json says so: the loop's hold is recorded as `paused_since`, from the moment
the batch is done to the moment it goes on."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import tiny_preset
from tui_trainer.engine.events import BatchProgress, Event, RunControl, RunPaused
from tui_trainer.runs.folder import RunFolder
from tui_trainer.runs.launch import run_training

pytestmark = pytest.mark.usefixtures("one_thread")


class PressP:
    """A listener that pauses the run at its first progress report (as `p` would) and lets it go on, or
    stops it, from another thread once the loop holds; before it is held, `on_held` reads the folder.
    (Were the hold never reported, the thread lets the run go on after HOLD_WAIT, so a test fails, not hangs.)"""

    HOLD_WAIT = 30.0

    def __init__(self, control: RunControl, then: Callable[[], None], on_held: Callable[[], None] = lambda: None):
        self.control, self.then, self.on_held = control, then, on_held
        self.held = threading.Event()
        self.pressed = False

    def __call__(self, event: Event) -> None:  # after the run folder's recorder has had the event
        if isinstance(event, BatchProgress) and not self.pressed:
            self.pressed = True
            self.control.pause()
            threading.Thread(target=lambda: (self.held.wait(self.HOLD_WAIT), self.then())).start()
        elif isinstance(event, RunPaused):
            self.on_held()
            self.held.set()


def run_dir_of(runs: Path) -> Path:
    (path,) = [p for p in runs.iterdir() if not p.name.startswith(".")]
    return path


def test_a_stop_while_paused_leaves_no_pause_in_the_status(tmp_path: Path) -> None:
    control = RunControl()
    held: list[str | None] = []
    press = PressP(
        control,
        then=control.stop,
        on_held=lambda: held.append(RunFolder(run_dir_of(tmp_path / "runs")).read_status().get("paused_since")),
    )
    outcome = run_training(tiny_preset(), runs_dir=tmp_path / "runs", listeners=[press], control=control)
    status = RunFolder(outcome.run_dir).read_status()
    assert held and held[0]  # it was paused
    assert status["state"] == "interrupted" and "paused_since" not in status

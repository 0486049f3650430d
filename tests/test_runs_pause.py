"""A paused run looks paused to every reader of its folder: the loop's hold is recorded in status.json
(`paused_since`, from the moment the batch is done to the moment it goes on), and a process the
kernel stopped (ctrl+z, SIGSTOP) reads as paused too; the runs table and a follower say so."""

from __future__ import annotations

import io
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import tiny_preset
from tui_trainer.cli.runs_table import print_runs
from tui_trainer.engine.events import BatchProgress, Event, RunControl, RunPaused, RunResumed
from tui_trainer.runs.folder import RunFolder, now_iso
from tui_trainer.runs.follow import RunFollower
from tui_trainer.runs.launch import run_training
from tui_trainer.runs.summary import summarize

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


def test_status_says_paused_from_the_loops_hold_to_its_resume_and_other_readers_see_it(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    control = RunControl()
    seen: dict[str, object] = {}
    follower: list[RunFollower] = []

    def at_pause() -> None:
        folder = RunFolder(run_dir_of(runs))
        seen["held"] = folder.read_status().get("paused_since")
        seen["summary"] = summarize(folder.path).state_text
        table = io.StringIO()
        print_runs(runs, table)
        seen["table"] = table.getvalue()
        seen["followed"] = [type(e).__name__ for e in follower[0].poll()]

    def listener(event: Event) -> None:
        if isinstance(event, BatchProgress) and not follower:
            folder = RunFolder(run_dir_of(runs))
            seen["pressed"] = folder.read_status().get("paused_since")  # `p` now: the batch goes on first
            follower.append(RunFollower(folder.path))
            follower[0].poll()  # a second console, following from the start
        elif isinstance(event, RunResumed):
            seen["resumed"] = RunFolder(run_dir_of(runs)).read_status().get("paused_since")
            seen["followed after"] = [type(e).__name__ for e in follower[0].poll()]

    press = PressP(control, then=control.resume, on_held=at_pause)
    outcome = run_training(tiny_preset(), runs_dir=runs, listeners=[listener, press], control=control)
    assert outcome.state == "finished"
    assert seen["pressed"] is None
    held = seen["held"]
    assert isinstance(held, str) and held[:10] == now_iso()[:10]  # an ISO time, today
    assert str(seen["summary"]).startswith("paused since") and held[11:16] in str(seen["summary"])
    assert "paused since" in str(seen["table"])
    assert "RunPaused" in seen["followed"]  # type: ignore[operator]
    assert seen["resumed"] is None
    assert seen["followed after"] == ["RunResumed"]
    final = RunFolder(outcome.run_dir).read_status()
    assert final["state"] == "finished" and "paused_since" not in final


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


def test_a_run_whose_process_the_kernel_stopped_reads_as_paused(tmp_path: Path) -> None:
    """ctrl+z in the run's terminal writes nothing: the process table says it is stopped."""
    stand_in = subprocess.Popen(["sleep", "60"])  # the run's process, as status.json names it
    try:
        folder = RunFolder(tmp_path / "runs" / "20261128-010000-tiny")
        folder.path.mkdir(parents=True)
        folder.write_status(
            state="running",
            pid=stand_in.pid,
            preset_name="tiny",
            epochs_planned=3,
            classes=["a", "b"],
            started_at=now_iso(),
        )
        follower = RunFollower(folder.path)
        assert not any(isinstance(e, RunPaused) for e in follower.poll())
        assert summarize(folder.path).label == "running"

        stand_in.send_signal(signal.SIGSTOP)
        wait_until(stand_in.pid, stopped=True)
        assert summarize(folder.path).label == "paused"
        table = io.StringIO()
        print_runs(folder.path.parent, table)
        assert "paused (process stopped)" in table.getvalue()
        assert [e for e in follower.poll() if isinstance(e, RunPaused)] == [RunPaused(since=None)]

        stand_in.send_signal(signal.SIGCONT)  # fg
        wait_until(stand_in.pid, stopped=False)
        assert [type(e) for e in follower.poll()] == [RunResumed]
        assert summarize(folder.path).label == "running"
    finally:
        stand_in.kill()
        stand_in.wait()


def wait_until(pid: int, stopped: bool) -> None:
    """Signals are delivered asynchronously: until the process table says the process is (not) stopped."""
    import psutil

    for _ in range(500):
        if (psutil.Process(pid).status() == psutil.STATUS_STOPPED) == stopped:
            return
        threading.Event().wait(0.01)
    raise AssertionError(f"pid {pid} is {'not ' if stopped else ''}stopped")

"""Following a run folder (`runs.follow`) and runs that outlive their console (`runs.detach`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import SMOKE, TINY, tiny_preset
from tui_trainer.engine.events import (
    BatchProgress,
    EpochFinished,
    RunControl,
    RunFailed,
    RunFinished,
    RunStarted,
    SetupProgress,
)
from tui_trainer.runs import follow
from tui_trainer.runs.detach import DetachError, find_run_by_pid, resume_detached, stop_run
from tui_trainer.runs.folder import RunFolder
from tui_trainer.runs.follow import RunFollower, read_events
from tui_trainer.runs.launch import run_training

REPO = Path(__file__).resolve().parents[1]
THREE_EPOCHS = (*TINY, "train.epochs=3", "scheduler.t_max=3")


pytestmark = pytest.mark.usefixtures("one_thread")


def overrides_args(overrides: tuple[str, ...]) -> list[str]:
    return [arg for item in overrides for arg in ("--set", item)]


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def follow_to_end(follower: RunFollower, timeout: float = 90.0, interval: float = 0.1) -> list[tuple[int, object]]:
    """Poll until the run ends; every event with the number of the poll that produced it."""
    seen: list[tuple[int, object]] = []
    deadline = time.monotonic() + timeout
    poll = 0
    while not follower.done:
        assert time.monotonic() < deadline, f"the follower did not see the end: {seen[-3:]}"
        seen += [(poll, event) for event in follower.poll()]
        poll += 1
        time.sleep(interval)
    return seen


def check_complete_run(events: list[object], epochs: int, val_images: int = 64) -> None:
    """The event stream of a whole run, as an in-process run would send it.

    An epoch whose predictions file was already replaced by the next epoch's (a follower that
    polled too late, or a replay) comes with an empty confusion matrix; the last one never does.
    """
    kinds = [type(e) for e in events if not isinstance(e, SetupProgress)]
    assert kinds[0] is RunStarted and kinds[-1] is RunFinished
    finished = [e for e in events if isinstance(e, EpochFinished)]
    assert [e.epoch for e in finished] == list(range(1, epochs + 1))
    assert finished[-1].confusion.sum() == val_images
    for event in finished:
        assert event.confusion.sum() in (0, val_images)
        assert len(event.predictions.labels) == event.confusion.sum()
        if event.confusion.sum():
            assert np.trace(event.confusion) / val_images == pytest.approx(event.metrics["val_acc"])
    assert finished[0].is_best
    end = next(i for i, e in enumerate(events) if isinstance(e, EpochFinished) and e.epoch == epochs)
    progress = [e for e in events[:end] if isinstance(e, BatchProgress) and e.epoch == epochs]
    assert progress and progress[-1].batch == progress[-1].batches  # the last batch comes before the end


@pytest.mark.slow
def test_a_headless_run_is_followed_live_to_its_end(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    args = [sys.executable, "-m", "tui_trainer", "--headless", str(SMOKE), "--runs-dir", str(runs)]
    proc = subprocess.Popen(args + overrides_args(THREE_EPOCHS), stdout=subprocess.DEVNULL, cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while (run_dir := find_run_by_pid(runs, proc.pid)) is None:
            assert proc.poll() is None and time.monotonic() < deadline, "the run made no folder"
            time.sleep(0.05)
        follower = RunFollower(run_dir)
        seen = follow_to_end(follower)
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
        proc.wait()
    events = [event for _, event in seen]
    check_complete_run(events, epochs=3)
    end = events[-1]
    assert isinstance(end, RunFinished) and end.state == "finished" and end.epochs_done == 3
    started = next(e for e in events if isinstance(e, RunStarted))
    assert started.classes and started.device == "cpu" and started.epochs == 3 and started.val_images == 64
    # Live: the follower saw the run before it ended, not only its finished folder.
    assert seen[0][0] < seen[-1][0]
    # A second follower of the finished folder gets the same run in one poll.
    replay = read_events(run_dir)
    check_complete_run(replay, epochs=3)
    assert [e.metrics for e in replay if isinstance(e, EpochFinished)] == RunFolder(run_dir).read_metrics()


def _status(folder: RunFolder, **fields) -> None:
    base = {"format": 1, "state": "running", "pid": os.getpid(), "host": os.uname().nodename}
    base.update(preset_name="smoke", epochs_planned=3, classes=["a", "b"], device="cpu", precision="fp32")
    base.update(started_at="2026-11-28T10:00:00+00:00")
    base.update(fields)
    folder.status_file.write_text(json.dumps(base))


def _predictions(folder: RunFolder, epoch: int, which: str = "last") -> None:
    arrays = {
        "labels": np.array([0, 1, 1]),
        "predictions": np.array([0, 1, 0]),
        "confidences": np.array([0.9, 0.8, 0.6], dtype=np.float32),
        "losses": np.array([0.1, 0.2, 0.9], dtype=np.float32),
        "confusion": np.array([[1, 0], [1, 1]]),
    }
    folder.write_predictions(which, epoch, arrays, ("a", "b"))


def _line(epoch: int, val_acc: float) -> str:
    return json.dumps({"epoch": epoch, "val_acc": val_acc, "val_loss": 1.0, "train_loss": 1.0, "train_acc": 0.5}) + "\n"


def test_files_that_appear_late_and_a_torn_last_line(tmp_path: Path) -> None:
    now = [0.0]
    folder = RunFolder(tmp_path / "run")
    folder.path.mkdir()
    follower = RunFollower(folder.path, clock=lambda: now[0])
    assert [type(e) for e in follower.poll()] == [SetupProgress]  # nothing yet: waiting
    _status(folder, classes=None)
    assert [e.stage for e in follower.poll()] == ["setting up the run (loading data)"]
    _status(folder)
    folder.metrics_file.write_text(_line(1, 0.5) + _line(2, 0.7)[:20])  # epoch 2 is being written
    _predictions(folder, 1)
    events = follower.poll()
    assert [type(e) for e in events] == [RunStarted, EpochFinished]
    assert events[0].classes == ("a", "b") and events[1].epoch == 1 and events[1].confusion.sum() == 3
    assert follower.poll() == []
    folder.metrics_file.write_text(_line(1, 0.5) + _line(2, 0.7))
    assert follower.poll() == []  # epoch 2's predictions are not written yet: wait for them
    _predictions(folder, 2)
    [event] = follower.poll()
    assert isinstance(event, EpochFinished) and event.epoch == 2 and event.is_best and event.confusion.sum() == 3
    folder.write_progress({"epoch": 3, "batch": 2, "batches": 5, "loss": 0.5, "accuracy": 0.6, "seconds": 1.0})
    [event] = follower.poll()
    assert isinstance(event, BatchProgress) and (event.epoch, event.batch, event.batches) == (3, 2, 5)
    with open(folder.metrics_file, "a") as handle:  # epoch 3 ends; its predictions never come
        handle.write(_line(3, 0.6))
    assert follower.poll() == []
    now[0] += follow.PREDICTIONS_WAIT + 1
    [event] = follower.poll()
    assert isinstance(event, EpochFinished) and event.epoch == 3 and not event.is_best
    assert event.confusion.shape == (2, 2) and event.confusion.sum() == 0  # shown without its predictions
    _status(
        folder, state="finished", epochs_done=3, best_val_acc=0.7, best_epoch=2, ended_at="2026-11-28T10:01:00+00:00"
    )
    [event] = follower.poll()
    assert isinstance(event, RunFinished) and event.state == "finished" and event.seconds == 60.0
    assert (event.epochs_done, event.best_val_acc, event.best_epoch) == (3, 0.7, 2)
    assert follower.done and follower.poll() == []


def test_a_run_whose_process_is_gone_ends_interrupted(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    _status(folder, pid=dead_pid())
    folder.metrics_file.write_text(_line(1, 0.5) + _line(2, 0.6) + '{"epoch": 3, "va')
    _predictions(folder, 2)
    folder.last_checkpoint.write_bytes(b"x")
    events = read_events(folder.path)
    assert [type(e) for e in events] == [RunStarted, EpochFinished, EpochFinished, RunFinished]
    assert events[1].confusion.sum() == 0 and events[2].confusion.sum() == 3  # only epoch 2's file is left
    assert events[-1].state == "interrupted" and events[-1].epochs_done == 2


def test_failed_newer_and_missing_runs_end_with_a_readable_failure(tmp_path: Path) -> None:
    failed = RunFolder(tmp_path / "failed")
    failed.path.mkdir()
    _status(failed, state="failed", classes=None, error="out of memory", hint="lower data.batch_size")
    failed.log_file.write_text("loading\nTraceback: boom\n")
    [event] = read_events(failed.path)
    assert isinstance(event, RunFailed) and event.error == "out of memory" and "boom" in event.details

    newer = RunFolder(tmp_path / "newer")
    newer.path.mkdir()
    _status(newer, format=2)
    [event] = read_events(newer.path)
    assert isinstance(event, RunFailed) and "newer" in event.error

    now = [0.0]
    empty = RunFollower(tmp_path / "newer" / "nothing-here", clock=lambda: now[0])
    assert isinstance(empty.poll()[0], SetupProgress)
    now[0] += follow.STATUS_GRACE + 1
    [event] = empty.poll()
    assert isinstance(event, RunFailed) and "status.json" in event.error


def test_a_resumed_run_is_not_taken_for_its_old_status(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    _status(folder, state="interrupted", pid=12345678)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        follower = RunFollower(folder.path, expect_pid=child.pid)
        [event] = follower.poll()
        assert isinstance(event, SetupProgress) and str(child.pid) in event.stage
        assert follower.poll() == [] and not follower.done
    finally:
        child.kill()
        child.wait()
    [event] = follower.poll()
    assert isinstance(event, RunFailed) and "ended before the run started" in event.error


# Detached runs ----------------------------------------------------------------------------------

CONSOLE = """
import sys, time
from pathlib import Path
from tui_trainer.runs.detach import start_detached
run = start_detached(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:])
print(run.pid, run.run_dir, flush=True)
time.sleep(60)
"""


@pytest.mark.slow
def test_a_detached_run_outlives_its_console_and_stops_on_sigint(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    # The "console" runs in a session of its own, as in a terminal: a hang-up kills its whole group.
    console = subprocess.Popen(
        [sys.executable, "-c", CONSOLE, str(SMOKE), str(runs), *TINY, "train.epochs=500", "scheduler.t_max=500"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        cwd=REPO,
    )
    try:
        pid_text, run_dir_text = console.stdout.readline().split(maxsplit=1)
        os.killpg(console.pid, signal.SIGHUP)
        assert console.wait(timeout=10) == -signal.SIGHUP
    finally:
        console.kill()
        console.wait()
    pid, run_dir = int(pid_text), Path(run_dir_text.strip())
    assert run_dir.parent == runs and RunFolder(run_dir).read_status()["pid"] == pid
    assert os.getsid(pid) == pid != console.pid  # a session of its own: the hang-up did not reach it
    assert not [p for p in runs.iterdir() if p.name.startswith(".")]  # the temporary log moved in

    follower = RunFollower(run_dir)
    deadline = time.monotonic() + 60
    while not any(isinstance(e, EpochFinished) for e in follower.poll()):  # still training after the hang-up
        assert time.monotonic() < deadline and not follower.done
        time.sleep(0.1)
    assert stop_run(run_dir) == pid
    with pytest.raises(DetachError, match=r"was asked to stop|not running"):  # a second SIGINT would abort it
        stop_run(run_dir)
    end = follow_to_end(follower)[-1][1]
    assert isinstance(end, RunFinished) and end.state == "interrupted" and 1 <= end.epochs_done < 500
    folder = RunFolder(run_dir)
    assert folder.read_status()["state"] == "interrupted" and folder.last_checkpoint.exists()
    log = folder.log_file.read_text()
    assert "epoch   1/500" in log and "SIGINT: stopping after this batch" in log and "interrupted after" in log


@pytest.mark.slow
def test_an_interrupted_run_resumes_detached_in_the_same_folder(tmp_path: Path) -> None:
    control = RunControl()

    def stop_after_first_epoch(event) -> None:
        if isinstance(event, EpochFinished) and event.epoch == 1:
            control.stop()

    preset = tiny_preset("train.epochs=3", "scheduler.t_max=3")
    outcome = run_training(preset, runs_dir=tmp_path / "runs", listeners=[stop_after_first_epoch], control=control)
    assert outcome.state == "interrupted"
    run = resume_detached(outcome.run_dir)
    assert run.run_dir == outcome.run_dir
    seen = follow_to_end(RunFollower(run.run_dir, expect_pid=run.pid))
    check_complete_run([e for _, e in seen], epochs=3)
    folder = RunFolder(run.run_dir)
    status = folder.read_status()
    assert status["state"] == "finished" and status["pid"] == run.pid and status["epochs_done"] == 3
    assert [r["epoch"] for r in folder.read_metrics()] == [1, 2, 3]
    assert "resumed detached" in folder.log_file.read_text()
    with pytest.raises(DetachError, match="not running"):
        stop_run(run.run_dir)
    with pytest.raises(DetachError, match="already finished"):
        resume_detached(run.run_dir)


def test_a_follower_picks_up_a_run_that_another_process_resumes(tmp_path: Path) -> None:
    """Interrupted, then resumed elsewhere: "starting" until the new process reports, never its
    predecessor's last batch as live, then the run again from its first epoch."""
    folder = RunFolder(tmp_path)
    _status(folder, pid=dead_pid())
    folder.metrics_file.write_text(_line(1, 0.5) + _line(2, 0.6))
    _predictions(folder, 2)
    folder.last_checkpoint.write_bytes(b"x")
    folder.write_progress({"epoch": 3, "batch": 4, "batches": 5, "loss": 0.5, "accuracy": 0.6, "seconds": 1.0})
    follower = RunFollower(folder.path, watch_resumes=True)
    assert isinstance(follower.poll()[-1], RunFinished) and follower.awaiting_resume
    assert follower.poll() == []
    assert not RunFollower(folder.path).awaiting_resume  # without watch_resumes, the end is the end

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        _status(folder, pid=child.pid, classes=None, resumed_at="2026-11-28T11:00:00+00:00")
        events = follower.poll()
        assert events and all(isinstance(e, SetupProgress) for e in events)
        assert str(child.pid) in events[0].stage and not follower.done
        assert follower.poll() == []  # still setting up: the old progress.json is not shown
        folder.clear_progress()
        _status(folder, pid=child.pid)  # the new process reports (RunStarted)
        events = follower.poll()
        assert [type(e) for e in events] == [RunStarted, EpochFinished, EpochFinished]
        folder.write_progress({"epoch": 3, "batch": 1, "batches": 5, "loss": 0.4, "accuracy": 0.7, "seconds": 0.2})
        [event] = follower.poll()
        assert isinstance(event, BatchProgress) and event.batch == 1
    finally:
        child.kill()
        child.wait()
    [event] = follower.poll()
    assert isinstance(event, RunFinished) and event.state == "interrupted"


@pytest.mark.slow
def test_a_live_follower_sees_the_run_resumed_detached(tmp_path: Path) -> None:
    control = RunControl()
    preset = tiny_preset("train.epochs=3", "scheduler.t_max=3")
    stop_early = [lambda e: control.stop() if isinstance(e, EpochFinished) and e.epoch == 1 else None]
    outcome = run_training(preset, runs_dir=tmp_path / "runs", listeners=stop_early, control=control)
    first_start = RunFolder(outcome.run_dir).read_status()["started_at"]
    seen: list[object] = []
    follower = RunFollower(outcome.run_dir, [seen.append], watch_resumes=True)
    follower.poll()
    assert follower.awaiting_resume and isinstance(seen[-1], RunFinished) and seen[-1].state == "interrupted"
    ended = len(seen)
    run = resume_detached(outcome.run_dir)
    deadline = time.monotonic() + 90
    while not (follower.done and not follower.awaiting_resume):
        assert time.monotonic() < deadline, f"the follower did not see the resumed run end: {seen[-3:]}"
        follower.poll()
        time.sleep(0.1)
    again = seen[ended:]
    assert isinstance(again[0], SetupProgress) and str(run.pid) in again[0].stage
    check_complete_run(again, epochs=3)
    assert again[-1].state == "finished"
    status = RunFolder(outcome.run_dir).read_status()
    assert status["started_at"] == first_start and status["resumed_at"] >= first_start  # the first start stays
    assert status["earlier_seconds"] >= 0  # times have whole seconds: a tiny first part may be 0

"""Run folders under faults: two processes on one folder, killed runs, reused pids, full disks,
damaged records and checkpoints, hostile file names."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.helpers import tiny_preset
from tui_trainer import atomic
from tui_trainer.cli import main
from tui_trainer.engine.events import EpochFinished, RunControl
from tui_trainer.process import process_start_time
from tui_trainer.runs import lock
from tui_trainer.runs.detach import DetachError, stop_run
from tui_trainer.runs.folder import GONE, RunFolder, effective_state
from tui_trainer.runs.follow import RunFollower
from tui_trainer.runs.launch import run_training
from tui_trainer.runs.summary import summarize
from tui_trainer.runs.view import RunView

pytestmark = pytest.mark.usefixtures("one_thread")


def interrupted_run(tmp_path: Path, epochs: int = 3) -> RunFolder:
    """A run stopped after its first epoch, ready to resume."""
    control = RunControl()

    def stop_after_first(event) -> None:
        if isinstance(event, EpochFinished):
            control.stop()

    extra = (f"train.epochs={epochs}", f"scheduler.t_max={epochs}")
    outcome = run_training(
        tiny_preset(*extra), runs_dir=tmp_path / "runs", listeners=[stop_after_first], control=control
    )
    assert outcome.state == "interrupted"
    return RunFolder(outcome.run_dir)


# ---------------------------------------------------------------------------------------- item 1


def _resume_child(run_dir: str, barrier, out_dir: str, index: int) -> None:
    torch.set_num_threads(1)
    out = open(os.path.join(out_dir, f"{index}.out"), "w")  # noqa: SIM115 - the child leaves by os._exit
    err = open(os.path.join(out_dir, f"{index}.err"), "w")  # noqa: SIM115
    sys.stdout, sys.stderr = out, err
    barrier.wait()
    code = 99
    try:
        code = main(["--headless", "--resume", run_dir])
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


@pytest.mark.slow
def test_twenty_simultaneous_resumes_exactly_one_trains(tmp_path: Path) -> None:
    folder = interrupted_run(tmp_path)
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(20)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    children = [
        context.Process(target=_resume_child, args=(str(folder.path), barrier, str(out_dir), i)) for i in range(20)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=300)
    codes = sorted(child.exitcode for child in children)
    assert codes == [0] + [2] * 19, codes
    losers = [(out_dir / f"{i}.err").read_text() for i, c in enumerate(children) if c.exitcode == 2]
    assert all("still running (pid" in text and "two processes must not train one folder" in text for text in losers)
    assert [r["epoch"] for r in folder.read_metrics()] == [1, 2, 3]
    assert folder.read_status()["state"] == "finished"


def test_a_live_lock_holder_blocks_a_resume_and_a_killed_one_never_does(tmp_path: Path, capsys) -> None:
    folder = interrupted_run(tmp_path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from tui_trainer.runs import lock; lock.acquire({str(folder.path)!r}); "
            "print('held', flush=True); import time; time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        # status.json says interrupted, yet a process holds the folder: the lock decides.
        assert main(["--headless", "--resume", str(folder.path)]) == 2
        assert f"still running (pid {holder.pid})" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    assert main(["--headless", "--resume", str(folder.path)]) == 0
    assert not lock.held(folder.path)  # given back when the run ended


# ---------------------------------------------------------------------------------------- items 3, 10


def test_resume_removes_the_temporary_files_a_killed_run_left(tmp_path: Path) -> None:
    folder = interrupted_run(tmp_path)
    leftovers = [folder.path / ".progress.json.k1ll3d.tmp", folder.path / ".status.json.abc123.tmp"]
    for path in leftovers:
        path.write_text("{half")
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    assert (
        run_training(tiny_preset("train.epochs=3", "scheduler.t_max=3"), runs_dir=tmp_path, resume=folder.path).state
        == "finished"
    )
    assert not any(path.exists() for path in leftovers)


def test_a_killed_run_reads_stopped_process_gone_everywhere(tmp_path: Path) -> None:
    folder = interrupted_run(tmp_path)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    folder.write_status(state="running", pid=gone.pid, ended_at=None)
    summary = summarize(folder.path)
    assert summary.label == GONE and summary.resumable
    assert RunView.from_run_dir(folder.path).state == GONE


def test_a_reused_pid_does_not_keep_a_dead_run_alive(tmp_path: Path) -> None:
    folder = interrupted_run(tmp_path)
    started = process_start_time(os.getpid())
    assert started is not None
    # This very process has the recorded pid, but it started at another time: not the run's process.
    folder.write_status(state="running", pid=os.getpid(), pid_started=started - 1000.0, ended_at=None)
    status = folder.read_status()
    assert effective_state(status) == "interrupted" and summarize(folder.path).label == GONE
    folder.write_status(pid_started=started)
    assert effective_state(folder.read_status()) == "running"


def test_stop_never_signals_a_process_that_reused_a_dead_runs_pid(tmp_path: Path) -> None:
    folder = interrupted_run(tmp_path)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)  # another tui_trainer run"])
    try:
        deadline = time.monotonic() + 10
        while process_start_time(other.pid) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        status = json.loads(folder.status_file.read_text())
        status.update(state="running", pid=other.pid, pid_started=process_start_time(other.pid) - 500.0)
        folder.status_file.write_text(json.dumps(status))
        with pytest.raises(DetachError, match="not running"):
            stop_run(folder.path)
        time.sleep(0.3)
        assert other.poll() is None  # never signalled
    finally:
        other.kill()
        other.wait()


# ---------------------------------------------------------------------------------------- items 8, 9


class _FullDisk:
    """Stands in a full file system for the `nth` write to a file called `name`."""

    def __init__(self, name: str, nth: int) -> None:
        self.name, self.nth, self.seen = name, nth, 0
        self.real = atomic._open_fd

    def __call__(self, fd: int, mode: str):
        handle = self.real(fd, mode)
        target = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
        if target == self.name or (target.startswith(f".{self.name}.") and target.endswith(".tmp")):
            self.seen += 1
            if self.seen == self.nth:
                return _FailingWrites(handle)
        return handle


class _FailingWrites:
    def __init__(self, handle) -> None:
        self._handle = handle

    def write(self, data) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._handle.close()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="finds the file of a descriptor through /proc")
@pytest.mark.parametrize(
    ("name", "nth"),
    [
        ("last.pt", 3),  # epoch 2's (the first is written before epoch 1): epoch 1's must stay whole
        ("best.pt", 1),
        ("predictions-last.npz", 1),
        ("metrics.jsonl", 1),
        ("status.json", 3),
        ("val_images.npy", 1),
        ("preset.toml", 1),
    ],
)
def test_a_full_disk_fails_the_run_naming_the_file_and_keeps_last_pt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, name: str, nth: int
) -> None:
    full = _FullDisk(name, nth)
    monkeypatch.setattr(atomic, "_open_fd", full)
    runs = tmp_path / "runs"
    code = main(
        [
            "--headless",
            "presets/smoke.toml",
            "--runs-dir",
            str(runs),
            *_tiny_args("train.epochs=3", "scheduler.t_max=3"),
        ]
    )
    assert full.seen >= nth
    assert code == 1
    err_and_out = "".join(capsys.readouterr())
    [run_dir] = list(runs.iterdir())
    folder = RunFolder(run_dir)
    assert f"no space left on {run_dir / name}" in err_and_out and "enforce fail" not in err_and_out
    if name == "preset.toml":  # before status.json exists: the exit code and the message say it
        return
    status = folder.read_status()
    assert status["state"] == "failed"
    assert status["error"] == f"no space left on {run_dir / name}"
    assert f"no space left on {run_dir / name}" in err_and_out and "enforce fail" not in err_and_out
    if name == "last.pt":
        assert torch.load(folder.last_checkpoint, weights_only=True)["epoch"] == 1
    assert not list(run_dir.glob(".*.tmp"))


def _tiny_args(*extra: str) -> list[str]:
    from tests.helpers import TINY

    return [arg for override in (*TINY, *extra) for arg in ("--set", override)]


# ---------------------------------------------------------------------------------------- items 2, 12


@pytest.mark.parametrize(
    ("key", "value"),
    [("pid", "abc"), ("format", "one"), ("epochs_planned", "x"), ("epochs_done", [1]), ("pid", 10**40)],
)
def test_resume_refuses_a_damaged_status_naming_file_and_key(tmp_path: Path, capsys, key: str, value) -> None:
    folder = interrupted_run(tmp_path)
    status = json.loads(folder.status_file.read_text())
    status[key] = value
    folder.status_file.write_text(json.dumps(status))
    assert main(["--headless", "--resume", str(folder.path)]) == 2
    err = capsys.readouterr().err
    assert f"{folder.status_file}: damaged: {key}: expected" in err and "Traceback" not in err
    follower = RunFollower(folder.path)
    events = follower.poll()
    assert follower.done and str(folder.status_file) in events[-1].error


@pytest.mark.parametrize("line", ["[1, 2]", "7", '{"epoch": 2, "val_acc": "high"}', '{"epoch": 2, "val_acc": null}'])
def test_resume_and_followers_refuse_a_damaged_metrics_line(tmp_path: Path, capsys, line: str) -> None:
    folder = interrupted_run(tmp_path)
    with open(folder.metrics_file, "a") as handle:
        handle.write(line + "\n")
    assert main(["--headless", "--resume", str(folder.path)]) == 2
    assert f"{folder.metrics_file}:2: damaged" in capsys.readouterr().err
    follower = RunFollower(folder.path)
    events = follower.poll()
    assert follower.done and f"{folder.metrics_file}:2: damaged" in events[-1].error
    assert RunView.from_run_dir(folder.path).state == "broken"


def test_a_runs_folder_that_cannot_be_created_is_an_error_not_a_traceback(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code = main(["--headless", "presets/smoke.toml", "--runs-dir", str(blocker / "runs"), *_tiny_args()])
    err = "".join(capsys.readouterr())
    assert code == 2 and f"cannot write {blocker / 'runs'}" in err and "Traceback" not in err


# ---------------------------------------------------------------------------------------- item 15


@pytest.mark.parametrize(
    "content",
    [b"", b"PK\x03\x04 truncated", os.urandom(4096), "pickle-list"],
)
def test_a_damaged_last_pt_names_the_file(tmp_path: Path, content) -> None:
    folder = interrupted_run(tmp_path)
    if content == "pickle-list":
        torch.save([1, 2, 3], folder.last_checkpoint)
    else:
        good = folder.last_checkpoint.read_bytes()
        folder.last_checkpoint.write_bytes(content if content else b"")
        if content.startswith(b"PK"):
            folder.last_checkpoint.write_bytes(good[: len(good) // 2])
    outcome = run_training(tiny_preset("train.epochs=3", "scheduler.t_max=3"), runs_dir=tmp_path, resume=folder.path)
    assert outcome.exit_code == 1
    assert outcome.error.startswith(f"{folder.last_checkpoint}: damaged checkpoint"), outcome.error


# ---------------------------------------------------------------------------------------- item 14


def test_escape_codes_in_a_folder_name_never_reach_the_terminal(tmp_path: Path, capsys) -> None:
    runs = tmp_path / "evil\x1b]0;pwned\x07\x1b[2J"
    assert main(["--headless", "presets/smoke.toml", "--runs-dir", str(runs), *_tiny_args()]) == 0
    out, err = capsys.readouterr()
    assert "\x1b" not in out + err and "\x07" not in out + err
    assert "evil\\x1b]0;pwned\\x07\\x1b[2J" in out


def test_printable_escapes_every_control_character_but_keeps_lines_when_asked() -> None:
    from tui_trainer.text import printable

    assert printable("run\x1b[2J\x07\x9b/x") == "run\\x1b[2J\\x07\\x9b/x"
    assert printable("a\nb\tc\x1b", lines=True) == "a\nb\tc\\x1b"
    assert printable("a\nb") == "a\\x0ab"

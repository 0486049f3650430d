"""Run and sweep folders whose files are not what they claim: a symlinked or FIFO `.lock`, records
that are links to /dev/zero or FIFOs, a pid that now belongs to another tui-trainer, a full disk at
the first status write, a sweep trial killed twice."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import tiny_preset
from tui_trainer import atomic
from tui_trainer.cli import main
from tui_trainer.config import PresetError
from tui_trainer.engine.events import EpochFinished, RunControl
from tui_trainer.regular_file import MAX_RECORD_BYTES
from tui_trainer.runs import lock
from tui_trainer.runs.detach import DetachError, resume_detached, stop_run
from tui_trainer.runs.folder import RunFolder
from tui_trainer.runs.follow import log_tail
from tui_trainer.runs.launch import load_run_preset, run_training
from tui_trainer.runs.records import DamagedRecord, RunFolderError
from tui_trainer.runs.summary import summarize

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and O_NOFOLLOW are POSIX")


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run stopped after its first epoch (copied by each test that changes it)."""
    control = RunControl()

    def stop_after_first(event) -> None:
        if isinstance(event, EpochFinished):
            control.stop()

    runs = tmp_path_factory.mktemp("runs")
    preset = tiny_preset("train.epochs=3", "scheduler.t_max=3")
    outcome = run_training(preset, runs_dir=runs, listeners=[stop_after_first], control=control)
    assert outcome.state == "interrupted"
    return outcome.run_dir


@pytest.fixture
def folder(stopped_run: Path, tmp_path: Path) -> RunFolder:
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(stopped_run, copy)
    (copy / lock.LOCK_NAME).unlink(missing_ok=True)
    return RunFolder(copy)


# ---------------------------------------------------------------------------------------- item 5


def test_a_symlinked_lock_is_refused_and_its_target_never_written(folder: RunFolder, tmp_path: Path, capsys) -> None:
    victim = tmp_path / "notes.txt"
    victim.write_text("precious\n")
    (folder.path / lock.LOCK_NAME).symlink_to(victim)
    assert main(["--headless", "--resume", str(folder.path)]) == 2
    err = capsys.readouterr().err
    assert ".lock: is a symbolic link, not a regular file" in err and len(err.strip().splitlines()) == 1
    assert victim.read_text() == "precious\n"
    assert folder.read_status()["state"] == "interrupted"


def test_a_dangling_lock_link_creates_nothing(folder: RunFolder, tmp_path: Path, capsys) -> None:
    target = tmp_path / "created-by-the-link"
    (folder.path / lock.LOCK_NAME).symlink_to(target)
    assert main(["--headless", "--resume", str(folder.path)]) == 2
    assert "symbolic link" in capsys.readouterr().err
    assert not target.exists()


def test_a_fifo_lock_is_refused_without_blocking(folder: RunFolder, capsys) -> None:
    os.mkfifo(folder.path / lock.LOCK_NAME)
    assert main(["--headless", "--resume", str(folder.path)]) == 2
    assert "a FIFO, not a regular file" in capsys.readouterr().err
    assert not lock.locked_by_other(folder.path)


# ---------------------------------------------------------------------------------------- item 6


@pytest.mark.parametrize("name", ["status.json", "metrics.jsonl", "progress.json"])
def test_a_record_linked_to_dev_zero_is_damage_not_read(folder: RunFolder, capsys, name: str) -> None:
    record = folder.path / name
    record.unlink(missing_ok=True)
    record.symlink_to("/dev/zero")
    assert main(["--headless", "--resume", str(folder.path)]) == 2
    assert f"{name}: damaged: is a symbolic link" in capsys.readouterr().err
    assert summarize(folder.path).damaged or name == "progress.json"


@pytest.mark.parametrize("name", ["status.json", "metrics.jsonl", "progress.json", "preset.toml"])
def test_a_fifo_record_never_blocks_a_reader(folder: RunFolder, name: str) -> None:
    record = folder.path / name
    record.unlink(missing_ok=True)
    os.mkfifo(record)
    summary = summarize(folder.path)  # the runs screen's reader: returns at once
    if name == "status.json":
        assert summary.damaged and "FIFO" in summary.problem
    with pytest.raises((RunFolderError, PresetError), match="FIFO"):
        load_run_preset(folder.path)
    assert not lock.held(folder.path)


def test_a_fifo_log_has_no_tail(folder: RunFolder) -> None:
    os.mkfifo(folder.log_file)
    assert log_tail(folder) == ""


def test_a_record_past_the_cap_is_damaged_not_read(folder: RunFolder, monkeypatch: pytest.MonkeyPatch) -> None:
    from tui_trainer import regular_file

    monkeypatch.setattr(regular_file, "MAX_RECORD_BYTES", 64)
    with open(folder.metrics_file, "r+b") as handle:
        handle.truncate(MAX_RECORD_BYTES + 1)  # sparse: a record larger than any run writes
    with pytest.raises(DamagedRecord, match=f"metrics.jsonl: damaged: is {MAX_RECORD_BYTES + 1} bytes"):
        folder.read_metrics()
    tail = summarize(folder.path)
    assert tail.damaged


def test_a_predictions_file_linked_elsewhere_is_not_loaded(folder: RunFolder) -> None:
    path = folder.predictions_file("last")
    path.unlink()
    os.mkfifo(path)
    with pytest.raises(ValueError, match="FIFO"):
        folder.read_predictions("last")


# ---------------------------------------------------------------------------------------- item 11


@pytest.fixture
def other_trainer():
    """A live process with tui_trainer in its command line that holds no run folder."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)  # tui_trainer --headless"])
    yield proc
    proc.kill()
    proc.wait()


def _claim(folder: RunFolder, pid: int) -> None:
    status = json.loads(folder.status_file.read_text())
    status.update(state="running", pid=pid)
    status.pop("pid_started", None)  # hand-made, or written by an older version
    folder.status_file.write_text(json.dumps(status))


def test_stop_never_signals_a_process_that_holds_no_lock(folder: RunFolder, other_trainer) -> None:
    _claim(folder, other_trainer.pid)
    with pytest.raises(DetachError, match="no process holds its lock"):
        stop_run(folder.path)
    time.sleep(0.3)
    assert other_trainer.poll() is None  # never signalled


def test_resume_is_not_refused_because_another_process_has_the_pid(folder: RunFolder, other_trainer) -> None:
    _claim(folder, other_trainer.pid)
    try:
        assert load_run_preset(folder.path).name  # the lock was free, so no process trains the folder
    finally:
        lock.release(folder.path)


def test_a_detached_resume_is_not_refused_for_a_reused_pid(
    folder: RunFolder, other_trainer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _claim(folder, other_trainer.pid)
    started = []
    monkeypatch.setattr("tui_trainer.runs.detach.spawn", lambda args, log: started.append(args) or other_trainer)
    assert resume_detached(folder.path).run_dir == folder.path and started


# ---------------------------------------------------------------------------------------- item 12


def test_a_retry_killed_before_its_run_started_keeps_the_folder_it_inherited() -> None:
    optuna = pytest.importorskip("optuna")
    from tui_trainer.runs.sweep import _requeue

    study = optuna.create_study()
    first = study.ask()
    first.suggest_float("x", 0.0, 2.0)
    first.set_user_attr("run_dir", "/runs/trial-000")
    study.tell(first, state=optuna.trial.TrialState.FAIL)  # killed mid-run
    _requeue(study, study.trials[0])
    retry = study.ask()
    assert retry.user_attrs["resume_dir"] == "/runs/trial-000"
    retry.suggest_float("x", 0.0, 2.0)
    study.tell(retry, state=optuna.trial.TrialState.FAIL)  # killed again, before its run named a folder
    _requeue(study, study.trials[1])
    [again] = [t for t in study.trials if t.state == optuna.trial.TrialState.WAITING]
    assert again.user_attrs["resume_dir"] == "/runs/trial-000"  # continues there, no second folder


class _DiskFullAfter:
    """From the first write of status.json on, every atomic write fails as on a full disk."""

    def __init__(self) -> None:
        self.real = atomic._open_fd
        self.full = False

    def __call__(self, fd: int, mode: str):
        target = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
        handle = self.real(fd, mode)
        if self.full:
            handle.close()
            raise OSError(errno.ENOSPC, "No space left on device")
        self.full = target.startswith(".status.json.")
        return handle


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="finds the file of a descriptor through /proc")
def test_a_run_failing_on_a_full_disk_before_its_first_status_rewrite_reads_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(atomic, "_open_fd", _DiskFullAfter())
    outcome = run_training(tiny_preset(), runs_dir=tmp_path / "runs")
    assert outcome.state == "failed" and outcome.run_dir is not None
    assert not lock.held(outcome.run_dir)
    status = RunFolder(outcome.run_dir).read_status()
    assert status["state"] == "failed" and "no space left" in status["error"]

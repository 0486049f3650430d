"""`--headless PRESET --run-dir DIR`: one command line that starts, resumes, or sees finished the run in
DIR; SIGUSR1 (SLURM's warning) checkpoints and, in a job that allows it, requeues the job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import SET_TINY, SMOKE, TINY, tiny_preset
from tui_trainer.cli import main
from tui_trainer.engine.events import EpochFinished, RunControl
from tui_trainer.runs.folder import RunFolder
from tui_trainer.runs.launch import run_training


def _run_dir_args(run_dir: Path, *extra: str) -> list[str]:
    return ["--headless", str(SMOKE), *SET_TINY, *extra, "--run-dir", str(run_dir)]


def test_the_same_command_starts_the_run_then_says_it_has_finished(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "cluster" / "run-1"
    assert main(_run_dir_args(run_dir)) == 0
    folder = RunFolder(run_dir)
    assert folder.read_status()["state"] == "finished"
    assert [r["epoch"] for r in folder.read_metrics()] == [1, 2]
    before = folder.metrics_file.read_bytes()
    capsys.readouterr()

    assert main(_run_dir_args(run_dir)) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [f"{run_dir}: finished all 2 epochs; nothing to do"]
    assert folder.metrics_file.read_bytes() == before


def test_the_same_command_resumes_an_interrupted_run_in_its_folder(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    control = RunControl()
    stop_after_1 = lambda event: control.stop() if isinstance(event, EpochFinished) else None  # noqa: E731
    stopped = run_training(
        tiny_preset("train.epochs=3", "scheduler.t_max=3"),
        runs_dir=tmp_path,
        into=run_dir,
        listeners=[stop_after_1],
        control=control,
    )
    assert stopped.state == "interrupted" and stopped.run_dir == run_dir

    # The command line that started it (with its --set) resumes it; --set does not change a run.
    assert main(_run_dir_args(run_dir, "--set", "train.epochs=3", "--set", "scheduler.t_max=3")) == 0
    assert [r["epoch"] for r in RunFolder(run_dir).read_metrics()] == [1, 2, 3]
    assert list(tmp_path.iterdir()) == [run_dir]  # no second run folder


def test_run_dir_refuses_a_folder_another_process_trains_or_one_that_is_not_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    hold = f"from tui_trainer.runs import lock; lock.acquire({str(run_dir)!r}); print('held', flush=True); input()"
    holder = subprocess.Popen([sys.executable, "-c", hold], stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(_run_dir_args(run_dir)) == 2
        assert "still running" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    assert not RunFolder(run_dir).status_file.exists()

    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_bytes(b"")
    assert main(_run_dir_args(other)) == 2
    assert "is not a run folder" in capsys.readouterr().err


FAKE_SCONTROL = """#!/bin/sh
# Stands in for SLURM's scontrol: the job allows requeueing; each call is logged.
echo "$@" >> "{log}"
case "$1" in show) echo "JobId=$3 JobState=RUNNING Requeue=1 Restarts=0";; esac
"""


@pytest.mark.slow
def test_sigusr1_in_a_slurm_job_checkpoints_requeues_and_the_job_list_grows(tmp_path: Path) -> None:
    """Without a real SLURM (tests/test_slurm.py has one): scontrol is a script that logs its calls."""
    bin_dir, log = tmp_path / "bin", tmp_path / "scontrol.log"
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text(FAKE_SCONTROL.format(log=log))
    (bin_dir / "scontrol").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "SLURM_JOB_ID": "77"}
    env.pop("SLURM_RESTART_COUNT", None)
    run_dir = tmp_path / "run"
    args = [sys.executable, "-m", "tui_trainer", *_run_dir_args(run_dir, "--set", "train.epochs=500")]
    assert _signal_after_an_epoch(args, env, signal.SIGUSR1) == 130
    assert log.read_text().splitlines().count("requeue 77") == 1
    folder = RunFolder(run_dir)
    assert folder.read_status()["state"] == "interrupted" and folder.read_status()["slurm_job_id"] == "77"
    assert [(j["job_id"], j["restart"], j["event"]) for j in folder.read_jobs()] == [
        ("77", 0, "started"),
        ("77", 0, "requeued"),
    ]

    # SLURM runs the same script again: the run continues in its folder. SIGTERM (scancel, a
    # preemption) checkpoints too, but leaves requeueing to SLURM: scancel must end a job.
    env["SLURM_RESTART_COUNT"] = "1"
    assert _signal_after_an_epoch(args, env, signal.SIGTERM) == 130
    assert log.read_text().splitlines().count("requeue 77") == 1
    assert [(j["restart"], j["event"]) for j in folder.read_jobs()][2:] == [(1, "started"), (1, "interrupted")]
    assert folder.read_status()["slurm_restart"] == 1
    epochs = [r["epoch"] for r in folder.read_metrics()]
    assert epochs == list(range(1, len(epochs) + 1)) and len(epochs) >= 2


def _signal_after_an_epoch(args: list[str], env: dict[str, str], signum: int) -> int:
    """Start `args`, send `signum` once an epoch has finished, return the exit code."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while not proc.stdout.readline().startswith("epoch "):
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
        proc.send_signal(signum)
        return proc.wait(timeout=60)
    finally:
        proc.kill()
        proc.wait()


MY_NET = """\
import torch.nn as nn


def build(num_classes):
    return nn.Sequential(nn.Flatten(), nn.LazyLinear(num_classes))
"""


def test_a_requeued_run_of_the_users_own_model_resumes_and_a_planted_target_does_not_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The user's PRESET names the target, so resuming their --run-dir needs no --trust-code; a folder whose
    preset.toml names other code than PRESET does is refused, and that code never runs."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "my_requeue_net.py").write_text(MY_NET)
    preset_file = project / "mine.toml"
    preset_file.write_text(SMOKE.read_text().replace("[model]\n", '[model]\ntarget = "my_requeue_net:build"\n', 1))
    run_dir = tmp_path / "run"
    args = ["--headless", str(preset_file), *SET_TINY, "--set", "train.epochs=3", "--set", "scheduler.t_max=3"]
    control = RunControl()
    stop_after_1 = lambda event: control.stop() if isinstance(event, EpochFinished) else None  # noqa: E731
    from tui_trainer.config import load_preset
    from tui_trainer.config.code_trust import TargetAccess

    preset = load_preset(preset_file, [*TINY, "train.epochs=3", "scheduler.t_max=3"])
    code = TargetAccess.beside(preset_file)
    stopped = run_training(
        preset, runs_dir=tmp_path, into=run_dir, listeners=[stop_after_1], control=control, code=code
    )
    assert stopped.state == "interrupted"

    assert main([*args, "--run-dir", str(run_dir)]) == 0  # the same line resumes it, no --trust-code asked
    assert [r["epoch"] for r in RunFolder(run_dir).read_metrics()] == [1, 2, 3]

    # Someone else's folder, planted where the job will look: its preset names code PRESET does not.
    planted = tmp_path / "planted"
    control = RunControl()
    stop_after_1 = lambda event: control.stop() if isinstance(event, EpochFinished) else None  # noqa: E731
    stopped = run_training(
        preset, runs_dir=tmp_path, into=planted, listeners=[stop_after_1], control=control, code=code
    )
    assert stopped.state == "interrupted"
    planted_file = RunFolder(planted).preset_file
    planted_file.write_text(planted_file.read_text().replace("my_requeue_net:build", "evil_requeue:build"))
    marker = tmp_path / "ran"
    (project / "evil_requeue.py").write_text(f"open({str(marker)!r}, 'w').close()\n" + MY_NET)
    capsys.readouterr()
    assert main([*args, "--run-dir", str(planted)]) == 2
    assert "--trust-code" in capsys.readouterr().err
    assert not marker.exists()

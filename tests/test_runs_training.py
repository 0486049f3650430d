"""Whole runs through `run_training` and `--headless`: files, resume, faults and exit codes."""

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
import torch

from tests.helpers import SET_TINY, SMOKE, tiny_preset
from tui_trainer.cli import main
from tui_trainer.engine.events import (
    BatchProgress,
    EpochFinished,
    RunControl,
    RunFailed,
    RunFinished,
    RunStarted,
    SetupProgress,
)
from tui_trainer.runs.folder import RunFolder
from tui_trainer.runs.launch import run_training


def _run(tmp_path: Path, *extra: str, control: RunControl | None = None):
    events = []
    outcome = run_training(tiny_preset(*extra), runs_dir=tmp_path / "runs", listeners=[events.append], control=control)
    return outcome, events


def test_a_run_writes_every_file_of_the_run_folder(tmp_path: Path) -> None:
    outcome, _ = _run(tmp_path)
    assert outcome.state == "finished" and outcome.exit_code == 0
    folder = RunFolder(outcome.run_dir)
    assert outcome.run_dir.parent == tmp_path / "runs" and outcome.run_dir.name.endswith("-smoke")
    for name in ("preset.toml", "status.json", "metrics.jsonl", "last.pt", "best.pt", "val_images.npy"):
        assert (outcome.run_dir / name).is_file(), name
    status = folder.read_status()
    assert status["state"] == "finished" and status["epochs_done"] == 2 and status["pid"] == os.getpid()
    assert status["started_at"] and status["ended_at"]
    records = folder.read_metrics()
    assert [r["epoch"] for r in records] == [1, 2]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_seconds", "train_images_per_second"):
        assert all(isinstance(r[key], float) for r in records), key
    assert all(0 <= r["val_acc"] <= 1 for r in records)
    last = folder.read_predictions("last")
    assert last["epoch"] == 2 and len(last["labels"]) == 64 and last["confusion"].sum() == 64
    assert np.trace(last["confusion"]) / 64 == pytest.approx(records[-1]["val_acc"])
    assert folder.read_val_images().shape == (64, 16, 16, 3)
    checkpoint = torch.load(outcome.run_dir / "last.pt", weights_only=True)
    assert checkpoint["epoch"] == 2 and {"model", "optimizer", "scheduler", "rng"} <= set(checkpoint)
    assert (
        tiny_preset().model_dump()
        == __import__("tui_trainer.config", fromlist=["x"]).load_preset(outcome.run_dir / "preset.toml").model_dump()
    )


def test_events_arrive_in_order(tmp_path: Path) -> None:
    _, events = _run(tmp_path)
    kinds = [type(e) for e in events if not isinstance(e, SetupProgress)]
    assert kinds[0] is RunStarted and kinds[-1] is RunFinished
    epochs = [e.epoch for e in events if isinstance(e, EpochFinished)]
    assert epochs == [1, 2]
    # Every batch report of epoch 1 comes before epoch 1 ends.
    first_end = next(i for i, e in enumerate(events) if isinstance(e, EpochFinished))
    assert all(e.epoch == 1 for e in events[:first_end] if isinstance(e, BatchProgress))
    assert any(isinstance(e, BatchProgress) and e.batch == e.batches for e in events[:first_end])


def test_resume_ends_with_the_same_metrics_as_an_uninterrupted_run(tmp_path: Path) -> None:
    full, _ = _run(tmp_path / "a", "train.epochs=3", "scheduler.t_max=3")

    control = RunControl()

    def stop_after_first_epoch(event) -> None:
        if isinstance(event, EpochFinished) and event.epoch == 1:
            control.stop()

    outcome = run_training(
        tiny_preset("train.epochs=3", "scheduler.t_max=3"),
        runs_dir=tmp_path / "b",
        listeners=[stop_after_first_epoch],
        control=control,
    )
    assert outcome.state == "interrupted" and outcome.exit_code == 130
    assert RunFolder(outcome.run_dir).read_status()["state"] == "interrupted"
    resumed = run_training(
        tiny_preset("train.epochs=3", "scheduler.t_max=3"), runs_dir=tmp_path / "b", resume=outcome.run_dir
    )
    assert resumed.state == "finished" and resumed.run_dir == outcome.run_dir
    expected = RunFolder(full.run_dir).read_metrics()
    got = RunFolder(resumed.run_dir).read_metrics()
    volatile = {"epoch_seconds", "train_images_per_second"}
    assert [{k: v for k, v in r.items() if k not in volatile} for r in got] == [
        {k: v for k, v in r.items() if k not in volatile} for r in expected
    ]


def test_resume_refuses_a_run_that_is_still_training_or_already_finished(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    finished, _ = _run(tmp_path)
    folder = RunFolder(finished.run_dir)
    before = folder.metrics_file.read_bytes()
    assert main(["--headless", "--resume", str(finished.run_dir)]) == 2
    assert "already finished" in capsys.readouterr().err

    # Another process is still training the folder: it holds the folder's lock (a live pid alone is not
    # enough, it may be reused by an unrelated process).
    run_dir = str(finished.run_dir)
    hold = f"from tui_trainer.runs import lock; lock.acquire({run_dir!r}); print('held', flush=True); input()"
    holder = subprocess.Popen([sys.executable, "-c", hold], stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        folder.write_status(state="running", pid=holder.pid, ended_at=None)
        assert main(["--headless", "--resume", str(finished.run_dir)]) == 2
        err = capsys.readouterr().err
        assert "still running" in err and str(finished.run_dir) in err
    finally:
        holder.kill()
        holder.wait()
    assert folder.metrics_file.read_bytes() == before

    # Once that process is gone the run counts as interrupted and resumes.
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    folder.write_status(state="running", pid=gone.pid, ended_at=None)
    assert main(["--headless", "--resume", str(finished.run_dir)]) == 0
    assert folder.read_status()["state"] == "finished"


def test_huge_learning_rate_fails_with_a_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "--headless",
            str(SMOKE),
            "--runs-dir",
            str(tmp_path),
            *SET_TINY,
            "--set",
            "optimizer.lr=100",
            "--set",
            "optimizer.name=sgd",
            "--set",
            "optimizer.weight_decay=10",
        ]
    )
    assert code == 1
    out = capsys.readouterr()
    assert "non-finite" in out.out.lower() or "nan" in out.out.lower()
    assert "optimizer.lr" in out.out
    [run_dir] = list(tmp_path.iterdir())
    status = RunFolder(run_dir).read_status()
    assert status["state"] == "failed" and "optimizer.lr" in status["hint"]


def test_absent_device_is_refused_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code = main(["--headless", str(SMOKE), "--runs-dir", str(tmp_path / "runs"), "--set", "train.device=cuda"])
    assert code == 2
    assert "no CUDA device" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_bad_preset_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--headless", str(SMOKE), "--set", "train.epochs=0"]) == 2
    assert "train.epochs" in capsys.readouterr().err


def test_a_failure_in_setup_becomes_a_failed_run(tmp_path: Path) -> None:
    outcome, events = _run(tmp_path, "model.target=nowhere.module:make")
    assert outcome.state == "failed" and outcome.exit_code == 1
    failed = [e for e in events if isinstance(e, RunFailed)]
    assert len(failed) == 1 and "nowhere.module" in failed[0].error


@pytest.mark.slow
def test_plain_output_has_one_line_per_epoch_and_no_control_characters(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tui_trainer", "--headless", str(SMOKE), "--runs-dir", str(tmp_path), *SET_TINY],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len([line for line in lines if line.startswith("epoch ")]) == 2
    assert "\x1b" not in result.stdout and "\r" not in result.stdout


@pytest.mark.slow
def test_sigint_stops_with_exit_130_and_a_loadable_checkpoint(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "tui_trainer", "--headless", str(SMOKE), "--runs-dir", str(tmp_path)]
    args += [*SET_TINY, "--set", "train.epochs=500", "--set", "scheduler.t_max=500"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("epoch "):
                break
        else:
            pytest.fail("no epoch finished within 60 s")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    finally:
        proc.kill()
    [run_dir] = list(tmp_path.iterdir())
    folder = RunFolder(run_dir)
    assert folder.read_status()["state"] == "interrupted"
    checkpoint = torch.load(folder.last_checkpoint, weights_only=True)
    assert checkpoint["epoch"] >= 1
    assert json.loads(folder.metrics_file.read_text().splitlines()[-1])["epoch"] >= checkpoint["epoch"]


def test_the_nan_hint_offers_fp32_only_to_a_run_that_was_not_fp32() -> None:
    from tests.helpers import tiny_preset
    from tui_trainer.engine.loops import NonFiniteLoss
    from tui_trainer.runs.launch import describe_failure

    bf16 = tiny_preset('train.precision="bf16"')
    _, hint = describe_failure(NonFiniteLoss(3), bf16, 1, precision="fp32")  # bf16 on a CPU runs in fp32
    assert "lower the learning rate" in hint and "fp32" not in hint
    _, hint = describe_failure(NonFiniteLoss(3), bf16, 1, precision="bf16")
    assert "train in fp32" in hint

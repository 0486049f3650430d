"""The runs list (`tui_trainer.runs.summary`) over folders in every condition, and progress.json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tui_trainer.engine.events import BatchProgress, RunStarted
from tui_trainer.runs.folder import RunFolder
from tui_trainer.runs.recorder import RunRecorder
from tui_trainer.runs.summary import BROKEN, list_runs, summarize


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def make_run(
    runs: Path,
    name: str,
    status: dict[str, Any] | None = None,
    epochs: int = 0,
    metrics_tail: str = "",
    **fields: Any,
) -> Path:
    """A run folder as tui-trainer writes it; `status=None` leaves status.json out."""
    path = runs / name
    path.mkdir(parents=True)
    if status is not None:
        base = {
            "format": 1,
            "state": "finished",
            "pid": os.getpid(),
            "host": os.uname().nodename,
            "preset_name": name.split("-")[-1],
            "epochs_planned": 3,
            "epochs_done": epochs,
            "started_at": "2026-11-28T10:00:00+00:00",
            "ended_at": "2026-11-28T10:01:30+00:00",
        }
        base.update(status)
        (path / "status.json").write_text(json.dumps(base))
    if epochs or metrics_tail:
        lines = "".join(
            json.dumps({"epoch": e, "val_acc": 0.2 * e, "val_loss": 2.0 / e, "train_loss": 2.1 / e}) + "\n"
            for e in range(1, epochs + 1)
        )
        (path / "metrics.jsonl").write_text(lines + metrics_tail)
    for key, value in fields.items():
        (path / key).write_text(value)
    return path


def test_every_kind_of_folder_gets_a_row_newest_first(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    make_run(runs, "20261128-100000-done", {"best_val_acc": 0.6, "best_epoch": 3}, epochs=3)
    make_run(
        runs,
        "20261128-110000-live",
        {
            "state": "running",
            "started_at": (datetime.now(timezone.utc) - timedelta(minutes=5)).isoformat(),
            "ended_at": None,
        },
        epochs=1,
    )
    make_run(
        runs,
        "20261128-120000-killed",
        {"state": "running", "pid": dead_pid(), "started_at": "2026-11-28T12:00:00+00:00", "ended_at": None},
        epochs=2,
        **{"last.pt": "x"},
    )
    make_run(
        runs,
        "20261128-130000-nan",
        {"state": "failed", "error": "loss became NaN", "started_at": "2026-11-28T13:00:00+00:00"},
        epochs=1,
        **{"last.pt": "x"},
    )
    make_run(runs, "20261128-140000-torn", {"started_at": "2026-11-28T14:00:00+00:00"}, 2, '{"epoch": 3, "val_')
    make_run(runs, "20261128-150000-future", {"format": 99, "started_at": "2026-11-28T15:00:00+00:00"})
    make_run(runs, "20261128-160000-halfmade", None, **{"preset.toml": "name = 'x'\n"})
    make_run(runs, "20261128-170000-garbage", None, **{"status.json": '{"format": 1, "state": "runn'})
    (runs / ".detached-123.log").write_text("hidden files are not runs")

    rows = {run.name: run for run in list_runs(runs)}
    assert len(rows) == 8
    done = rows["20261128-100000-done"]
    assert (done.state, done.epochs_done, done.epochs_planned, done.best_val_acc, done.duration) == (
        "finished",
        3,
        3,
        0.6,
        90.0,
    )
    assert done.started_at is not None and done.started_at.hour == 10 and not done.problem
    live = rows["20261128-110000-live"]
    assert live.state == "running" and 299 < live.duration < 400  # up to now
    killed = rows["20261128-120000-killed"]
    assert killed.state == "interrupted" and killed.resumable and killed.epochs_done == 2
    assert killed.best_val_acc == 0.4  # from metrics.jsonl, as status.json has none
    nan = rows["20261128-130000-nan"]
    assert nan.state == "failed" and nan.error == "loss became NaN" and nan.resumable
    torn = rows["20261128-140000-torn"]
    assert torn.epochs_done == 2 and "incomplete" in torn.problem
    future = rows["20261128-150000-future"]
    assert future.state == BROKEN and "newer" in future.problem and "format 99" in future.problem
    assert (
        rows["20261128-160000-halfmade"].state == BROKEN
        and "no status.json" in rows["20261128-160000-halfmade"].problem
    )
    assert rows["20261128-170000-garbage"].state == BROKEN and "unreadable" in rows["20261128-170000-garbage"].problem

    ordered = [run.name for run in list_runs(runs) if run.started_at is not None and run.name != live.name]
    assert ordered == sorted(ordered, reverse=True)


def test_filter_matches_every_word(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    make_run(runs, "20261128-100000-seed", {}, epochs=3)
    make_run(runs, "20261128-110000-smoke", {"state": "failed"}, epochs=1)
    make_run(runs, "20261128-120000-smoke", {}, epochs=3)
    assert [r.name for r in list_runs(runs, "smoke")] == ["20261128-120000-smoke", "20261128-110000-smoke"]
    assert [r.name for r in list_runs(runs, "SMOKE failed")] == ["20261128-110000-smoke"]
    assert list_runs(runs, "cifar") == []
    assert list_runs(tmp_path / "nowhere") == []


def test_a_summary_never_raises(tmp_path: Path) -> None:
    path = make_run(tmp_path, "20261128-100000-odd", {"state": "sideways"})
    (path / "metrics.jsonl").write_bytes(b"\xff\xfe not json\n")
    run = summarize(path)
    assert run.state == "sideways" and run.epochs_done == 0 and run.best_val_acc is None
    assert "unknown state" in run.problem and "metrics.jsonl line 1: damaged" in run.problem


@pytest.mark.parametrize(
    ("status", "metrics", "where", "expected"),
    [
        ({"epochs_done": "three"}, None, "status.json", "epochs_done: expected a whole number"),
        ({"state": 7}, None, "status.json", "state: expected a string"),
        ({"pid": "123"}, None, "status.json", "pid: expected a whole number"),
        ({"format": "1"}, None, "status.json", "format: expected a whole number"),
        ({"epochs_planned": 10**30}, None, "status.json", "epochs_planned: expected a whole number"),
        ({"best_val_acc": "high"}, None, "status.json", "best_val_acc: expected a number"),
        ({}, "[1, 2]\n", "metrics.jsonl line 1", "expected a JSON object, got list"),
        ({}, "3\n", "metrics.jsonl line 1", "expected a JSON object, got int"),
        ({}, '{"epoch": 1, "val_acc": "0.5"}\n', "metrics.jsonl line 1", "val_acc: expected a number"),
        ({}, '{"epoch": 1, "val_loss": null}\n', "metrics.jsonl line 1", "val_loss: expected a number"),
        ({}, '{"epoch": true}\n', "metrics.jsonl line 1", "epoch: expected a whole number"),
        ({}, '{"epoch": 1, "val_acc": 1' + "0" * 400 + "}\n", "metrics.jsonl line 1", "val_acc: expected a number"),
    ],
)
def test_a_folder_whose_records_have_the_wrong_shape_is_shown_as_damaged(
    tmp_path: Path, status: dict, metrics: str | None, where: str, expected: str
) -> None:
    path = make_run(tmp_path, "20261128-100000-odd", {"state": "interrupted", **status}, epochs=0)
    (path / "last.pt").write_bytes(b"x")
    if metrics is not None:
        (path / "metrics.jsonl").write_text(metrics)
    run = summarize(path)
    assert run.damaged and not run.resumable
    assert where in run.problem and expected in run.problem, run.problem


def _progress(batch: int, batches: int = 10, epoch: int = 1) -> BatchProgress:
    return BatchProgress(epoch, batch, batches, 1.0 / batch, 0.1 * batch, 1000.0, 0.01, 0.1 * batch)


def test_progress_json_is_throttled_but_keeps_the_last_batch_of_each_epoch(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    now = [100.0]
    recorder = RunRecorder(folder, clock=lambda: now[0])
    written = []
    original = folder.write_progress
    object.__setattr__(folder, "write_progress", lambda record: (written.append(record["batch"]), original(record)))
    for batch in range(1, 11):  # ten batches in 0.9 s: the first, then the epoch's last
        recorder(_progress(batch))
        now[0] += 0.1
    assert written == [1, 10]
    record = folder.read_progress()
    assert record is not None and record["epoch"] == 1 and record["batch"] == 10 and record["batches"] == 10
    assert {"loss", "accuracy", "images_per_second", "lr", "seconds", "updated_at", "format"} <= set(record)
    now[0] += 1.5
    recorder(_progress(3, epoch=2))
    assert written[-1] == 3
    # A new process starting the run (a resume) drops the progress of the old one.
    recorder(RunStarted(str(tmp_path), "x", 3, 2, 10, 100, 10, ("a",), "cpu", "fp32"))
    assert folder.read_progress() is None and not folder.progress_file.exists()


def test_unreadable_or_newer_progress_reads_as_none(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    folder.progress_file.write_text('{"format": 1, "epoch": 1, "bat')
    assert folder.read_progress() is None
    folder.progress_file.write_text('{"format": 2, "epoch": 1}')
    assert folder.read_progress() is None


def test_the_runs_layer_never_imports_the_ui() -> None:
    code = (
        "import sys, tui_trainer.runs.summary, tui_trainer.runs.follow, tui_trainer.runs.detach\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich', 'plotext', 'torch')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"  # nor torch: the console lists and follows runs without it


def test_a_resumed_run_keeps_its_first_start_and_counts_every_part(tmp_path: Path) -> None:
    """90 s trained, interrupted, resumed an hour later for 30 s: the list says 120 s and the first start."""
    from tui_trainer.runs.timing import resume_fields, training_time

    first = {"started_at": "2026-11-28T10:00:00+00:00", "ended_at": "2026-11-28T10:01:30+00:00"}
    resumed = {**first, **resume_fields(first, "2026-11-28T11:00:00+00:00"), "ended_at": "2026-11-28T11:00:30+00:00"}
    trained = training_time(resumed)
    assert trained is not None and (trained.total, trained.part, trained.resumed) == (120.0, 30.0, True)
    assert trained.describe() == "120.0s in all, 30.0s since the resume"
    run = summarize(make_run(tmp_path, "resumed-smoke", resumed, epochs=3))
    assert run.duration == 120.0 and run.started_at == datetime(2026, 11, 28, 10, tzinfo=timezone.utc)
    twice = {**resumed, **resume_fields(resumed, "2026-11-28T12:00:00+00:00"), "ended_at": "2026-11-28T12:00:10+00:00"}
    assert training_time(twice).total == 130.0


def test_the_headless_summary_of_a_resumed_run_names_both_times(tmp_path: Path) -> None:
    import io

    from tui_trainer.cli.train import PlainPrinter
    from tui_trainer.engine.events import RunFinished

    status = {
        "resumed_at": "2026-11-28T11:00:00+00:00",
        "earlier_seconds": 90.0,
        "ended_at": "2026-11-28T11:00:30+00:00",
    }
    path = make_run(tmp_path, "resumed-smoke", status, epochs=3)
    out = io.StringIO()
    PlainPrinter(out)(
        RunFinished(
            run_dir=str(path), state="finished", epochs_done=3, best_val_acc=None, best_epoch=None, seconds=29.0
        )
    )
    assert "in 120.0s in all, 30.0s since the resume" in out.getvalue()

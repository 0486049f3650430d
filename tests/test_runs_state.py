"""A run's state changes only in the ways a run goes: the one rule, and the folder that keeps it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tui_trainer.runs.folder import STATES, RunFolder
from tui_trainer.runs.state import IllegalTransition, RunState, advance


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (None, "running"),
        (None, "pending"),  # submitted to SLURM
        ("pending", "running"),  # its job started
        ("pending", "failed"),  # sbatch refused it
        ("running", "finished"),
        ("running", "failed"),
        ("running", "interrupted"),
        ("running", "pruned"),
        ("interrupted", "running"),  # resumed
        ("failed", "running"),  # resumed from last.pt
        ("finished", "running"),  # a finished run extended by more epochs
        ("interrupted", "pruned"),  # a sweep's pruner stopped it
        ("damaged by hand", "failed"),  # a word tui-trainer never writes constrains nothing
    ],
)
def test_the_ways_a_run_goes(before: str | None, after: str) -> None:
    assert advance(before, after) is RunState(after)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (None, "finished"),
        ("finished", "interrupted"),
        ("finished", "failed"),
        ("pruned", "running"),
        ("failed", "pruned"),
        ("running", "pending"),
        ("pending", "finished"),
    ],
)
def test_a_change_no_run_makes_is_refused(before: str | None, after: str) -> None:
    with pytest.raises(IllegalTransition, match=f"to {after}"):
        advance(before, after)


def test_status_json_holds_the_plain_word(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    folder.change_state(RunState.RUNNING, epochs_planned=3)
    folder.change_state(RunState.FINISHED)
    assert json.loads(folder.status_file.read_text())["state"] == "finished"
    assert STATES == ("pending", "running", "finished", "failed", "interrupted", "pruned")


def test_a_late_second_ctrl_c_leaves_a_finished_run_finished(tmp_path: Path) -> None:
    """The run ended on its own; an abort as the process exits must not mark it interrupted."""
    folder = RunFolder(tmp_path)
    folder.change_state(RunState.RUNNING)
    folder.change_state(RunState.FINISHED)
    folder.record_abort()
    assert folder.read_status()["state"] == "finished"


def test_an_abort_mid_run_leaves_it_interrupted_and_resumable(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    folder.change_state(RunState.RUNNING)
    folder.record_abort()
    status = folder.read_status()
    assert status["state"] == "interrupted" and status["ended_at"]


def test_a_crash_is_kept_in_the_runs_log(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    log = folder.record_crash("out of memory", "Traceback ...\n  boom\n")
    assert log == folder.log_file and log.read_text().endswith("the run failed: out of memory\nTraceback ...\n  boom\n")

"""`tui-trainer runs`: the runs in a runs folder as a table, newest first, from the runs list's summaries.

A run submitted to SLURM gets a `slurm job` column beside its folder's state (PENDING (Priority),
RUNNING, ...); where no run has a job SLURM knows (or there is no SLURM), the column is left out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from ..runs.outcome import ExitCode
from ..runs.slurm_queue import with_job_states
from ..runs.summary import RunSummary, list_runs
from ..text import printable

HEADER = ("name", "state", "epochs", "best val acc", "started")
JOB_HEADER = "slurm job"


def run_row(run: RunSummary) -> tuple[str, str, str, str, str]:
    """One run's cells; a folder that could not be read fully says so after its state."""
    state = run.state_text + (" (damaged)" if run.damaged else "")
    best = f"{run.best_val_acc * 100:.2f}%" if run.best_val_acc is not None else "-"
    started = run.started_at.strftime("%Y-%m-%d %H:%M") if run.started_at else "-"
    return (printable(run.name), printable(state), f"{run.epochs_done}/{run.epochs_planned}", best, started)


def runs_table(runs: list[RunSummary]) -> str:
    rows: list[tuple[str, ...]] = [HEADER, *(run_row(run) for run in runs)]
    if any(run.job is not None for run in runs):  # beside the state: "pending  PENDING (Priority)"
        jobs = [JOB_HEADER, *(f"{run.job.job_id} {run.job.text}" if run.job else "-" for run in runs)]
        rows = [(*row[:2], printable(job), *row[2:]) for row, job in zip(rows, jobs, strict=True)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def print_runs(runs_dir: Path, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    runs = with_job_states(list_runs(runs_dir))
    if not runs:
        print(printable(f"no runs in {runs_dir}"), file=out)
    else:
        print(runs_table(runs), file=out)
    return ExitCode.OK

"""`tui-trainer runs`: the runs in a runs folder as a table, newest first, from the runs list's summaries."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from ..runs.outcome import ExitCode
from ..runs.summary import RunSummary, list_runs
from ..text import printable

HEADER = ("name", "state", "epochs", "best val acc", "started")


def run_row(run: RunSummary) -> tuple[str, str, str, str, str]:
    """One run's cells; a folder that could not be read fully says so after its state."""
    state = run.label + (" (damaged)" if run.damaged else "")
    best = f"{run.best_val_acc * 100:.2f}%" if run.best_val_acc is not None else "-"
    started = run.started_at.strftime("%Y-%m-%d %H:%M") if run.started_at else "-"
    return (printable(run.name), printable(state), f"{run.epochs_done}/{run.epochs_planned}", best, started)


def runs_table(runs: list[RunSummary]) -> str:
    rows = [HEADER, *(run_row(run) for run in runs)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def print_runs(runs_dir: Path, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    runs = list_runs(runs_dir)
    if not runs:
        print(printable(f"no runs in {runs_dir}"), file=out)
    else:
        print(runs_table(runs), file=out)
    return ExitCode.OK

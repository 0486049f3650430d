"""`tui-trainer --sweep SWEEP.toml`: run a sweep's trials without the console, then print the table.

Ctrl+C or SIGTERM stops the current trial after its batch (it goes back in the queue) and starts
no other; a second Ctrl+C aborts at once. Rerunning the command continues the study. Exit codes
as --headless: 0 done, 1 every trial this process ran failed, 2 a bad sweep file, 130 stopped.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TextIO

from ..config import PresetError
from ..config.sweep_file import SweepSpec, load_sweep
from ..runs.outcome import ExitCode
from ..runs.state import RunState
from ..runs.sweep_study import (
    SweepError,
    SweepFolder,
    TrialRow,
    best_row,
    load_study,
    sort_rows,
    sweep_access,
    trial_rows,
    untrusted_sweep_problem,
)
from ..text import format_value, printable


def format_table(rows: Sequence[TrialRow], spec_params: Sequence[str], metric: str, best: TrialRow | None) -> str:
    """The trials as a plain text table (already sorted), the best one starred."""
    header = ["trial", "state", metric, *spec_params, "epochs", "time"]
    body = []
    for row in rows:
        body.append(
            [
                f"{row.number}{' *' if best is not None and row.number == best.number else ''}",
                row.state,
                format_value(row.value),
                *[format_value(row.params.get(p)) for p in spec_params],
                format_value(row.epochs),
                "-" if row.seconds is None else f"{row.seconds:.1f}s",
            ]
        )
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in body]
    return "\n".join(line.rstrip() for line in lines)


def sweep_summary(spec: SweepSpec, sweeps_dir: Path, trials: int | None = None) -> str:
    folder = SweepFolder.for_spec(sweeps_dir, spec)
    study = load_study(folder)
    rows = trial_rows(study)
    objective = spec.file.objective
    rows = sort_rows(rows, "objective", descending=objective.direction == "maximize")
    best = best_row(rows, objective.direction)
    done = sum(r.state in ("finished", "pruned") for r in rows)
    title = f"sweep {spec.name}: {done} finished or pruned trials of {trials or spec.trials} ({folder.path})"
    return title + "\n" + format_table(rows, list(spec.space), f"{objective.metric}({objective.epoch})", best)


def run_sweep_headless(
    sweep_path: Path,
    sweeps_dir: Path,
    *,
    trials: int | None = None,
    overrides: Sequence[str] = (),
    out: TextIO | None = None,
    err: TextIO | None = None,
    trust_code: bool = False,
) -> int:
    """Run the sweep's trials, then print the table; returns the exit code.

    A sweep folder's own sweep.toml is data from elsewhere: its trials' `model.target` is imported
    only with `trust_code` (--trust-code), as a run folder's.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        spec = load_sweep(sweep_path, overrides)
    except PresetError as exc:
        for problem in exc.problems:
            print(printable(f"error: {problem}"), file=err)
        return ExitCode.USAGE
    code = sweep_access(spec, trust_code)
    refused = untrusted_sweep_problem(spec, code)
    if refused:
        print(printable(f"error: {refused}"), file=err)
        return ExitCode.USAGE
    from ..runs.sweep import SweepControl, TrialEnded, TrialStarted, run_sweep
    from .train import PlainPrinter

    control = SweepControl()

    def stop(signum: int, _frame: FrameType | None) -> None:
        if control.stop_requested.is_set():
            raise KeyboardInterrupt
        name = signal.Signals(signum).name
        print(f"\n{name}: stopping the current trial after this batch (again to abort)", file=err, flush=True)
        control.stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    def on_trial(record: TrialStarted | TrialEnded) -> None:
        if isinstance(record, TrialStarted):
            values = ", ".join(f"{k}={format_value(v)}" for k, v in record.params.items())
            again = f" (again, for trial {record.retry_of})" if record.retry_of is not None else ""
            print(printable(f"trial {record.number}{again}: {values}"), file=out, flush=True)
        else:
            value = f" {format_value(record.value)}" if record.value is not None else ""
            error = f": {record.error}" if record.error else ""
            print(printable(f"trial {record.number} {record.state}{value}{error}", lines=True), file=out, flush=True)

    try:
        outcome = run_sweep(
            spec,
            sweeps_dir,
            trials=trials,
            control=control,
            listeners=[PlainPrinter(out)],
            on_trial=on_trial,
            code=code,
        )
    except SweepError as exc:
        print(printable(f"error: {exc}", lines=True), file=err)
        return ExitCode.USAGE
    except KeyboardInterrupt:
        print("aborted; rerun the same command to continue the study", file=err, flush=True)
        return ExitCode.INTERRUPTED
    print("", file=out)
    print(printable(sweep_summary(spec, sweeps_dir, trials), lines=True), file=out, flush=True)
    if outcome.state == RunState.INTERRUPTED:
        print("stopped; rerun the same command to continue the study", file=err, flush=True)
    return outcome.exit_code

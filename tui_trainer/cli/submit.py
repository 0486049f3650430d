"""`tui-trainer submit PRESET`: write the sbatch script that trains PRESET into a run folder, and submit it.

The options default to the `[slurm]` table of the user's settings file; the script is printed
(and kept in the run folder as `submit.sbatch`), so the user can read, keep and edit it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from ..runs.outcome import ExitCode
from ..runs.slurm_submit import SubmitError, prepare, submit
from ..text import command_line, printable


def run_submit(
    preset_path: Path,
    preset_arg: str,
    overrides: Sequence[str],
    options: dict[str, Any],
    runs_dir: Path,
    run_dir: Path | None,
    dry_run: bool,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Check the preset and settings, print the script, and (unless `dry_run`) submit it; the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    builtin = Path(preset_arg) != preset_path  # a built-in preset by name: the script names it so too
    try:
        submission = prepare(preset_path, overrides, options, runs_dir, run_dir, preset_arg if builtin else None)
        print(submission.script, end="", file=out)
        if dry_run:
            return ExitCode.OK
        submitted = submit(submission)
    except SubmitError as exc:
        for problem in exc.problems:
            print(printable(f"error: {problem}", lines=True), file=err)
        return ExitCode.USAGE
    except OSError as exc:
        print(printable(f"error: cannot write the run folder: {exc}"), file=err)
        return ExitCode.FAILED
    where = printable(str(submitted.folder.path))
    print(f"\nsubmitted job {submitted.job_id}: {where} (script: submit.sbatch, output: slurm-%j.out)", file=out)
    follow = command_line("tui-trainer", submitted.folder.path)
    listed = command_line("tui-trainer", "runs", "--runs-dir", submitted.folder.path.parent)
    print(f"follow it: {follow}   or   {listed}", file=out)
    return ExitCode.OK

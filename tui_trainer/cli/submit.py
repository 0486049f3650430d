"""`tui-trainer submit PRESET`: write the sbatch script that trains PRESET into a run folder, and submit it.

The options default to the `[slurm]` table of the user's settings file; the script is printed
(and kept in the run folder as `submit.sbatch`), so the user can read, keep and edit it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from ..config import PresetError, load_preset
from ..config.slurm_settings import SlurmSettings, load_slurm_settings, value_problem
from ..runs.outcome import ExitCode
from ..runs.slurm_script import JobScript, run_dir_problem, sbatch_script
from ..runs.slurm_submit import SubmitError, submit
from ..text import printable


def job_name(preset_name: str) -> str:
    """The preset's name as SLURM shows the job (only characters an #SBATCH line takes as they are)."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in preset_name).strip("-")[:64] or "tui-trainer"


def settings_with(settings: SlurmSettings, options: dict[str, Any]) -> tuple[SlurmSettings, list[str]]:
    """`settings` with the command line's options (those given) over them, and what is wrong with those."""
    given = {key: value for key, value in options.items() if value is not None}
    wrong = [
        f"--{key.replace('_', '-')}: {problem}"
        for key, value in given.items()
        if (problem := value_problem(key, value))
    ]
    return replace(settings, **{k: v for k, v in given.items() if not value_problem(k, v)}), wrong


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
    settings, problems = load_slurm_settings()
    given = {f"slurm.{key}" for key, value in options.items() if value is not None}
    problems = [p for p in problems if p.key not in given]  # the command line's value stands instead
    settings, wrong = settings_with(settings, options)
    for problem in [*map(str, problems), *wrong]:
        print(printable(f"error: {problem}", lines=True), file=err)
    if problems or wrong:
        return ExitCode.USAGE
    try:
        preset = load_preset(preset_path, overrides)  # a preset that cannot run is refused here, not in the queue
    except PresetError as exc:
        for problem in exc.problems:
            print(printable(f"error: {problem}", lines=True), file=err)
        return ExitCode.USAGE
    name = job_name(preset.name)
    folder = (run_dir or runs_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}").absolute()
    problem = run_dir_problem(folder)
    if problem:
        print(printable(f"error: {folder}: {problem}"), file=err)
        return ExitCode.USAGE
    preset_word = preset_arg if Path(preset_arg) != preset_path else str(preset_path.absolute())  # a built-in by name
    job = JobScript(preset_word, folder, tuple(overrides), name, settings)
    print(sbatch_script(job), end="", file=out)
    if dry_run:
        return ExitCode.OK
    try:
        submitted = submit(job, preset.name, preset.train.epochs)
    except SubmitError as exc:
        print(printable(f"error: {exc}", lines=True), file=err)
        return ExitCode.USAGE
    except OSError as exc:
        print(printable(f"error: {folder}: cannot write the run folder ({exc.strerror or exc})"), file=err)
        return ExitCode.FAILED
    where = printable(str(submitted.folder.path))
    print(f"\nsubmitted job {submitted.job_id}: {where} (script: submit.sbatch, output: slurm-%j.out)", file=out)
    print(
        f"follow it: tui-trainer {where}   or   tui-trainer runs --runs-dir {printable(str(folder.parent))}", file=out
    )
    return ExitCode.OK

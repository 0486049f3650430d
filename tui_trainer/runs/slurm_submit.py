"""Submitting a run to SLURM: its folder, its script, its job id recorded before the job can start.

The job is submitted held (`sbatch --hold`), its id written into the run folder (`status.json`'s
`slurm_job_id` and a "submitted" line in `jobs.jsonl`), and then released: so a job never starts,
nor writes its folder, before the folder knows which job it is. A new run's folder reads "pending"
until the job starts training it.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..config import PresetError, load_preset
from ..config.settings_file import config_path
from ..config.slurm_settings import load_slurm_settings, value_problem
from .folder import RunFolder, RunFolderError, now_iso
from .slurm_script import JobScript, run_dir_problem, sbatch_script
from .state import RunState

SBATCH_SECONDS = 60.0
"""How long sbatch and scontrol may take (a busy controller is slow) before the submit fails."""


class SubmitError(Exception):
    """The job could not be submitted; `problems` are one line each for the user."""

    def __init__(self, *problems: str) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Submission:
    """A job ready to submit: its script's contents, and the run it starts."""

    job: JobScript
    preset_name: str
    epochs: int
    settings_file: str  # where the [slurm] defaults came from

    @property
    def script(self) -> str:
        return sbatch_script(self.job)


@dataclass(frozen=True)
class Submitted:
    job_id: str
    folder: RunFolder


def job_name(preset_name: str) -> str:
    """The preset's name as SLURM shows the job (only characters an #SBATCH line takes as they are)."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in preset_name).strip("-")[:64] or "tui-trainer"


def prepare(
    preset_path: Path,
    overrides: Sequence[str],
    options: Mapping[str, Any],
    runs_dir: Path,
    run_dir: Path | None = None,
    preset_word: str | None = None,
) -> Submission:
    """The job for `preset_path` with the `[slurm]` settings, `options` (given ones: nodes, time, ...)
    over them; SubmitError with every problem (settings with file, line and key; the preset's own).

    `preset_word` is what the script gives `train` (a built-in's name); default: the file's absolute path.
    """
    settings, problems = load_slurm_settings()
    given = {key: value for key, value in options.items() if value is not None}
    lines = [str(p) for p in problems if p.key.removeprefix("slurm.") not in given]  # the given value stands
    lines += [f"--{k.replace('_', '-')}: {wrong}" for k, v in given.items() if (wrong := value_problem(k, v))]
    try:
        preset = load_preset(preset_path, overrides)  # a preset that cannot run is refused here, not in the queue
    except PresetError as exc:
        lines += [str(p) for p in exc.problems]
        preset = None
    if lines or preset is None:
        raise SubmitError(*lines)
    name = job_name(preset.name)
    folder = (run_dir or runs_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}").absolute()
    problem = run_dir_problem(folder)
    if problem:
        raise SubmitError(f"{folder}: {problem}")
    changes: dict[str, Any] = {k: tuple(v) if k == "extra" else v for k, v in given.items()}
    settings = replace(settings, **changes)
    word = preset_word or str(preset_path.absolute())
    job = JobScript(word, folder, tuple(overrides), name, settings)
    return Submission(job, preset.name, preset.train.epochs, str(config_path()))


def folder_problem(run_dir: Path) -> str:
    """Why `run_dir` cannot take a submitted run ("" when it can: absent, empty, or an unfinished run)."""
    folder = RunFolder(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        return f"{run_dir}: not a folder"
    if not folder.status_file.exists():
        others = [p.name for p in run_dir.iterdir()] if run_dir.is_dir() else []
        return f"{run_dir}: holds files but is not a run folder" if others else ""
    try:
        state = folder.read_status().get("state")
    except RunFolderError as exc:
        return str(exc)
    if state == RunState.FINISHED:
        return f"{run_dir}: the run has finished; nothing to submit"
    return ""


def submit(submission: Submission) -> Submitted:
    """Write the script into the run's folder (made if absent), mark a new run pending, and sbatch it."""
    job = submission.job
    for tool in ("sbatch", "scontrol"):
        if shutil.which(tool) is None:
            raise SubmitError(f"{tool} is not on PATH: submit from a SLURM login node (or use --dry-run)")
    problem = folder_problem(job.run_dir)
    if problem:
        raise SubmitError(problem)
    folder = RunFolder.create_at(job.run_dir)
    folder.write_submit_script(submission.script)
    new = not folder.status_file.exists()
    if new:
        folder.change_state(
            RunState.PENDING,
            preset_name=submission.preset_name,
            epochs_planned=submission.epochs,
            submitted_at=now_iso(),
        )
    try:
        job_id = _run("sbatch", "--parsable", "--hold", str(folder.submit_script_file)).split(";")[0]
    except SubmitError as exc:
        if new:
            folder.change_state(RunState.FAILED, error=f"sbatch: {exc}", ended_at=now_iso())
        raise SubmitError(f"sbatch refused the job: {exc}") from None
    done = folder.write_status(slurm_job_id=job_id).get("epochs_done", 0)
    folder.append_job({"job_id": job_id, "restart": 0, "event": "submitted", "epochs_done": done, "at": now_iso()})
    try:
        _run("scontrol", "release", job_id)
    except SubmitError as exc:
        raise SubmitError(
            f"job {job_id} was submitted held and could not be released ({exc}): scontrol release {job_id}"
        ) from None
    return Submitted(job_id, folder)


def _run(*args: str) -> str:
    """The command's output; SubmitError with its last line of errors when it fails."""
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=SBATCH_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SubmitError(str(exc)) from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise SubmitError(lines[-1] if lines else f"{args[0]} exited with {done.returncode}")
    return done.stdout.strip()

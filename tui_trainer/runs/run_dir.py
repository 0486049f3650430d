"""`--run-dir DIR`: one command line that starts a run in DIR, resumes it, or sees it finished.

A SLURM requeue, a `while` loop or a Kubernetes restart runs the same line again and again; what
it does depends on DIR alone. The folder's lock is taken before DIR is looked at (on rank 0), so
two processes given one DIR never both train it: the second is refused as "still running".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..engine.torchrun_env import launch_rank
from . import lock
from .folder import RunFolder, RunFolderError, effective_state
from .state import RunState

IGNORED = {lock.LOCK_NAME}
"""Files a folder that is still "empty" for a new run may hold."""


@dataclass(frozen=True)
class RunDirPlan:
    action: Literal["start", "resume", "finished"]
    folder: RunFolder
    epochs: int = 0  # of a finished run


def plan_run_dir(path: Path) -> RunDirPlan:
    """What to do with DIR: start a new run (absent, empty, or a run that never reached its first
    checkpoint), resume it (a run folder with last.pt that has not finished), or nothing (finished).

    On rank 0 the folder's lock is held on return, except for a finished run; a folder that holds
    other files, or that a live process trains, raises RunFolderError.
    """
    folder = RunFolder(path)
    if path.exists() and not path.is_dir():
        raise RunFolderError(f"{path}: not a folder; --run-dir names the run's folder")
    path.mkdir(parents=True, exist_ok=True)  # under torchrun every rank may get here first
    if launch_rank() == 0:
        try:
            lock.acquire(path)
        except lock.RunLockedError as exc:
            raise RunFolderError(str(exc)) from None
        except OSError as exc:
            raise RunFolderError(f"{path}: cannot lock the run folder ({exc.strerror or exc})") from None
    try:
        plan = _plan(folder)
    except BaseException:
        lock.release(path)
        raise
    if plan.action == "finished":
        lock.release(path)
    return plan


def _plan(folder: RunFolder) -> RunDirPlan:
    if not folder.status_file.exists():
        others = sorted(p.name for p in folder.path.iterdir() if p.name not in IGNORED and not p.name.endswith(".tmp"))
        if others:
            raise RunFolderError(
                f"{folder.path}: holds {', '.join(others[:3])}{' ...' if len(others) > 3 else ''} but is not a "
                "run folder; --run-dir takes a new or empty folder, or a run folder"
            )
        return RunDirPlan("start", folder)
    status = folder.read_run_status()
    if effective_state(status) == RunState.FINISHED:
        return RunDirPlan("finished", folder, status.epochs_done)
    if not folder.last_checkpoint.exists():  # stopped before its first checkpoint: nothing to keep
        return RunDirPlan("start", folder)
    return RunDirPlan("resume", folder)

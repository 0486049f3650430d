"""A run under SLURM: which job this process is, requeueing it, and the run folder's list of jobs.

SLURM runs a requeued job's script again with the same job id and `SLURM_RESTART_COUNT` one
higher; with `--run-dir` that script resumes the same run. `jobs.jsonl` in the run folder keeps
one line per job start and one per end, so a run says every job and restart it went through.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..engine.events import Event, RunFailed, RunFinished, RunStarted
from .folder import RunFolder, now_iso

SCONTROL_SECONDS = 30.0
"""How long an `scontrol` call may take (the controller may be busy) before it counts as failed."""


@dataclass(frozen=True)
class SlurmJob:
    job_id: str
    restart: int  # 0 on the first start, n after n requeues

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SlurmJob | None:
        """The job this process runs in (None outside SLURM)."""
        env = os.environ if env is None else env
        job_id = env.get("SLURM_JOB_ID", "").strip()
        if not job_id:
            return None
        restart = env.get("SLURM_RESTART_COUNT", "0").strip()
        return cls(job_id, int(restart) if restart.isdigit() else 0)

    def requeue_allowed(self) -> bool:
        """Whether the job may be requeued (`sbatch --requeue`, or the cluster's default): scontrol says Requeue=1."""
        code, text = _scontrol("show", "job", "--oneliner", self.job_id)
        return code == 0 and "Requeue=1" in text.split()

    def requeue(self) -> str:
        """Put the job back in the queue ("" when done, else the reason it was not). SLURM then ends this process."""
        code, text = _scontrol("requeue", self.job_id)
        return "" if code == 0 else (text.strip().splitlines() or [f"scontrol exited with {code}"])[-1]


def _scontrol(*args: str) -> tuple[int, str]:
    scontrol = shutil.which("scontrol")
    if scontrol is None:
        return 127, "scontrol is not on PATH"
    try:
        done = subprocess.run([scontrol, *args], capture_output=True, text=True, timeout=SCONTROL_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 1, str(exc)
    return done.returncode, done.stdout + done.stderr


class JobRecorder:
    """A listener that notes this job's start in the run folder (rank 0), and its end when told.

    Not essential: a run never fails because its job list could not be written."""

    def __init__(self, job: SlurmJob) -> None:
        self.job = job
        self.folder: RunFolder | None = None
        self.state = "interrupted"  # until the run says how it ended
        self.epochs_done = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.folder = RunFolder(Path(event.run_dir))
            self.epochs_done = event.start_epoch - 1
            self.folder.write_status(slurm_job_id=self.job.job_id, slurm_restart=self.job.restart)
            self._append("started")
        elif isinstance(event, RunFinished):
            self.state, self.epochs_done = event.state, event.epochs_done
        elif isinstance(event, RunFailed):
            self.state = "failed"

    def end(self, requeued: bool) -> None:
        """The job's last line: how the run ended in it, "requeued" when it goes back in the queue."""
        with contextlib.suppress(OSError):
            self._append("requeued" if requeued else self.state)

    def _append(self, event: str) -> None:
        if self.folder is not None:
            self.folder.append_job(
                {
                    "job_id": self.job.job_id,
                    "restart": self.job.restart,
                    "event": event,
                    "epochs_done": self.epochs_done,
                    "at": now_iso(),
                }
            )

"""What SLURM says of a run's job: its state and reason, from `squeue` (or `sacct` once it has left the queue).

A runs list asks for every job of its runs at once, every few seconds: the answers are cached
for CACHE_SECONDS, each call has a short timeout, and a machine without `squeue` is asked nothing
(its runs show no job at all). Callers run this off the UI thread (the runs screen's scan worker).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .summary import RunSummary

QUERY_SECONDS = 5.0
"""How long squeue or sacct may take before the states are left unknown for this round."""
CACHE_SECONDS = 15.0
"""How long an answer is kept: a list redrawn every 2 s does not ask the controller every 2 s."""
SQUEUE_FORMAT = "%i|%T|%r"
SACCT_FIELDS = "JobIDRaw,State"
JOB_ENDED = frozenset(
    {"CANCELLED", "COMPLETED", "FAILED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "PREEMPTED"}
)
"""SLURM's states of a job that will not run again unless someone requeues it."""


@dataclass(frozen=True)
class JobState:
    """A job as SLURM shows it: RUNNING, PENDING with its reason (Priority, Resources, BeginTime), ..."""

    job_id: str
    state: str
    reason: str = ""

    @property
    def text(self) -> str:
        """ "PENDING (Priority)"; a state without a reason alone."""
        return f"{self.state} ({self.reason})" if self.reason else self.state


def parse_squeue(text: str) -> dict[str, JobState]:
    """`squeue -h -o '%i|%T|%r'` lines → job id → state; a requeued job's array or step suffix is its own id."""
    states = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 3 or not parts[0] or not parts[1]:
            continue
        reason = "" if parts[2] in ("None", "(null)") else parts[2]
        states[parts[0]] = JobState(parts[0], parts[1].upper(), reason)
    return states


def parse_sacct(text: str) -> dict[str, JobState]:
    """`sacct -n -X -P -o JobIDRaw,State` lines → job id → state ("CANCELLED by 0" reads CANCELLED)."""
    states = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 2 and parts[0] and parts[1]:
            states[parts[0]] = JobState(parts[0], parts[1].split()[0].upper())
    return states


Runner = Callable[[Sequence[str]], str | None]


def _run(args: Sequence[str]) -> str | None:
    """The command's output; None when it is missing, fails or takes too long."""
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=QUERY_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


JOB_ID = re.compile(r"\d{1,12}(_\d{1,9})?")
"""A job id as SLURM writes it (an array task's `123_4` too). A run folder is data: anything else in its
`slurm_job_id` is never handed to squeue or sacct."""


def query_jobs(job_ids: Iterable[str], run: Runner = _run) -> dict[str, JobState]:
    """The states of `job_ids`: squeue for jobs it still holds, sacct for the others (where it is set up)."""
    ids = sorted({job_id for job_id in job_ids if JOB_ID.fullmatch(job_id)})
    if not ids or shutil.which("squeue") is None:
        return {}
    states: dict[str, JobState] = {}
    for job_id in ids:  # one by one: squeue refuses a whole list for one id it no longer knows
        out = run(["squeue", "-h", "-t", "all", "-j", job_id, "-o", SQUEUE_FORMAT])  # ended ones too, while kept
        states.update(parse_squeue(out or ""))
    missing = [job_id for job_id in ids if job_id not in states]
    if missing and shutil.which("sacct") is not None:
        out = run(["sacct", "-n", "-X", "-P", "-j", ",".join(missing), "-o", SACCT_FIELDS])
        states.update({k: v for k, v in parse_sacct(out or "").items() if k in missing})
    return states


class JobStateCache:
    """`query_jobs` with answers kept for CACHE_SECONDS; safe to call from several threads."""

    def __init__(self, query: Callable[[Iterable[str]], dict[str, JobState]] = query_jobs) -> None:
        self._query = query
        self._lock = threading.Lock()
        self._asked: dict[str, float] = {}
        self._states: dict[str, JobState] = {}

    def states(self, job_ids: Iterable[str], now: float | None = None) -> dict[str, JobState]:
        now = time.monotonic() if now is None else now
        ids = set(job_ids)
        with self._lock:
            stale = {i for i in ids if now - self._asked.get(i, -CACHE_SECONDS) >= CACHE_SECONDS}
        if stale:
            fresh = self._query(stale)
            with self._lock:
                for job_id in stale:
                    self._asked[job_id] = now
                    if job_id in fresh:
                        self._states[job_id] = fresh[job_id]
                    else:
                        self._states.pop(job_id, None)
        with self._lock:
            return {i: self._states[i] for i in ids if i in self._states}


JOB_STATES = JobStateCache()
"""The process's cache: the runs screen and `tui-trainer runs` ask through it."""


def with_job_states(runs: list[RunSummary], cache: JobStateCache = JOB_STATES) -> list[RunSummary]:
    """`runs`, each with its SLURM job's state where it has a job and SLURM knows it."""
    ids = [run.slurm_job_id for run in runs if run.slurm_job_id]
    if not ids:
        return runs
    states = cache.states(ids)
    return [replace(run, job=states.get(run.slurm_job_id)) if run.slurm_job_id else run for run in runs]


def waiting_for_job(job_id: str, cache: JobStateCache = JOB_STATES) -> str:
    """What a pending run waits for, in words: "waiting for SLURM job 123 (Priority)"."""
    if not job_id:
        return "waiting for its SLURM job to be submitted"
    job = cache.states([job_id]).get(job_id)
    why = f" ({job.reason or job.state})" if job is not None else ""
    return f"waiting for SLURM job {job_id}{why}"

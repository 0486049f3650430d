"""Every run folder under a runs root, summarised for a list: what ran, how it ended, how well.

A runs root holds folders in every condition: running right now, killed halfway, written by a
newer tui-trainer, edited by hand. Each becomes one `RunSummary`; a folder that cannot be read
fully still gets one, with `problem` saying why in words, so a list never fails on one bad run.
Only small files are read (status.json, the tail of metrics.jsonl), so listing stays fast.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..regular_file import MAX_RECORD_BYTES, UnsafeFile, open_binary
from .folder import GONE, STATES, RunFolder, RunFolderError, effective_state
from .pause import PAUSED, Pause, run_pause
from .records import DamagedRecord, EpochRecord, parse_metrics_line
from .slurm_queue import JOB_ENDED, JobState
from .state import RunState
from .timing import parse_time, training_time

BROKEN = "broken"
"""The state of a folder whose status.json cannot be read."""

RESUMABLE = (RunState.INTERRUPTED, RunState.FAILED)
TAIL_BYTES = 256 * 1024
"""How much of a long metrics.jsonl is read to find its last epoch."""

NEVER_STARTED = "never started"
"""A submitted run whose SLURM job ended (cancelled, failed, timed out) without starting it."""


@dataclass(frozen=True)
class RunSummary:
    """One run folder as the runs list shows it."""

    path: Path
    preset_name: str
    state: str  # running | finished | failed | interrupted | broken | another word from a hand-edited file
    epochs_done: int
    epochs_planned: int
    best_val_acc: float | None
    best_epoch: int | None
    started_at: datetime | None
    duration: float | None  # seconds, up to now for a running run
    pid: int | None = None
    host: str = ""
    error: str = ""  # the run's own error message, for a failed run
    problem: str = ""  # why the folder could not be read fully; "" when it could
    has_checkpoint: bool = False
    sort_key: float = 0.0  # newer runs sort first
    damaged: bool = False  # a record holds what tui-trainer never writes there: shown, never resumed
    process_gone: bool = False  # status.json says running, but its process has ended (kill -9, a crash)
    slurm_job_id: str = ""  # the SLURM job that runs it (or will: a submitted run reads pending)
    job: JobState | None = None  # what SLURM says of that job (`slurm_queue.with_job_states`); None: not asked
    pause: Pause | None = None  # a running run that holds between batches, or whose process the kernel stopped

    @property
    def job_text(self) -> str:
        """ "job 123 PENDING (Priority)" for a list; "" when SLURM has said nothing of a job."""
        return f"job {self.job.job_id} {self.job.text}" if self.job is not None else ""

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def running(self) -> bool:
        return self.state == RunState.RUNNING

    @property
    def resumable(self) -> bool:
        return self.state in RESUMABLE and self.has_checkpoint and not self.damaged

    @property
    def label(self) -> str:
        """The state as a list shows it: a killed run reads "stopped (process gone)", a paused one "paused",
        a submitted run whose job ended before it started (scancel while pending) "never started"."""
        if self.process_gone:
            return GONE
        if self.pause is not None:
            return PAUSED
        if self.state == RunState.PENDING and self.job is not None and self.job.state in JOB_ENDED:
            return NEVER_STARTED
        return self.state

    @property
    def state_text(self) -> str:
        """`label`, with since when a paused run holds ("paused since 14:03"), where a line has room for it."""
        return self.pause.describe() if self.pause is not None else self.label

    def matches(self, text: str) -> bool:
        """Whether every word of `text` appears in the folder name, preset name, state or start time."""
        started = self.started_at.strftime("%Y-%m-%d %H:%M") if self.started_at else ""
        haystack = " ".join((self.name, self.preset_name, self.label, started, self.problem, self.job_text)).lower()
        return all(word in haystack for word in text.lower().split())


def _last_activity(folder: RunFolder) -> float | None:
    """When the run last wrote anything (for the duration of a run whose process died)."""
    times = []
    for path in (folder.status_file, folder.metrics_file, folder.progress_file):
        with contextlib.suppress(OSError):
            times.append(path.stat().st_mtime)
    return max(times) if times else None


@dataclass(frozen=True)
class _MetricsTail:
    last_epoch: int
    best: tuple[float, int] | None
    problem: str
    damaged: bool = False


def _metrics_tail(folder: RunFolder, want_best: bool) -> _MetricsTail:
    """The epoch of the last complete line; the best val_acc only when status.json lacks it."""
    try:
        with open_binary(folder.metrics_file, MAX_RECORD_BYTES) as handle:
            size = handle.seek(0, os.SEEK_END)
            start = 0 if want_best else max(0, size - TAIL_BYTES)
            handle.seek(start)
            data = handle.read(MAX_RECORD_BYTES)
    except FileNotFoundError:
        return _MetricsTail(0, None, "")
    except UnsafeFile as exc:
        return _MetricsTail(0, None, f"metrics.jsonl: damaged: {exc.problem}", damaged=True)
    except OSError as exc:
        return _MetricsTail(0, None, f"metrics.jsonl unreadable ({exc.strerror or exc})")
    if start:
        data = data.partition(b"\n")[2]  # the first line read is a piece of a longer one
    complete, _, torn = data.rpartition(b"\n")
    lines = complete.splitlines() if complete else []
    problem = "metrics.jsonl: the last line is incomplete" if torn.strip() else ""
    last_epoch, best, damage = 0, None, ""
    first_line = 1 if start == 0 else None  # line numbers are known only when the whole file was read
    for index, line in enumerate(reversed(lines)):
        if not want_best and last_epoch:
            break
        number = first_line + len(lines) - 1 - index if first_line else None
        if not line.strip():
            continue
        try:
            record = parse_metrics_line(line, folder.metrics_file, number)
        except DamagedRecord as exc:
            where = f"metrics.jsonl line {number}" if number else "metrics.jsonl, a line near the end"
            damage = damage or f"{where}: damaged: {exc.problem}"
            continue
        epoch = EpochRecord.from_record(record)
        last_epoch = last_epoch or epoch.epoch
        if want_best and epoch.val_acc is not None and (best is None or epoch.val_acc >= best[0]):
            best = (epoch.val_acc, epoch.epoch)
    return _MetricsTail(last_epoch, best, damage or problem, bool(damage))


def summarize(path: Path, now: float | None = None) -> RunSummary:
    """A summary of one run folder; never raises for a folder in a bad state."""
    folder = RunFolder(Path(path))
    now = time.time() if now is None else now
    try:
        mtime = folder.path.stat().st_mtime
    except OSError:
        mtime = 0.0
    try:
        status = folder.read_run_status()
    except RunFolderError as exc:
        message = str(exc).replace(f"{folder.path}: ", "").replace(f"{folder.status_file}: ", "status.json ")
        return RunSummary(
            path=folder.path,
            preset_name="",
            state=BROKEN,
            epochs_done=0,
            epochs_planned=0,
            best_val_acc=None,
            best_epoch=None,
            started_at=None,
            duration=None,
            problem=message,
            has_checkpoint=folder.last_checkpoint.exists(),
            sort_key=mtime,
            damaged=isinstance(exc, DamagedRecord),
        )
    except Exception as exc:  # noqa: BLE001 - a list must survive any folder
        return RunSummary(folder.path, "", BROKEN, 0, 0, None, None, None, None, problem=str(exc), sort_key=mtime)

    state = effective_state(status)
    problems = []
    if state not in STATES:
        problems.append(f"status.json: unknown state {state!r}")
    best_acc, best_epoch = status.best_val_acc, status.best_epoch or None
    tail = _metrics_tail(folder, want_best=best_acc is None)
    if tail.problem and (tail.damaged or state != RunState.RUNNING):  # a running run may be writing its last line
        problems.append(tail.problem)
    if best_acc is None and tail.best is not None:
        best_acc, best_epoch = tail.best[0], tail.best[1] or None

    started = parse_time(status.started_at)
    ended = parse_time(status.ended_at)
    duration = None
    if started is not None:
        if ended is not None:
            end_ts = ended.timestamp()
        elif state == RunState.RUNNING:
            end_ts = now
        else:
            end_ts = _last_activity(folder) or started.timestamp()
        trained = training_time(status, datetime.fromtimestamp(end_ts).astimezone())  # all parts of a resumed run
        duration = trained.total if trained is not None else max(0.0, end_ts - started.timestamp())
    return RunSummary(
        path=folder.path,
        preset_name=status.preset_name,
        state=state,
        epochs_done=max(status.epochs_done, tail.last_epoch),
        epochs_planned=status.epochs_planned,
        best_val_acc=best_acc,
        best_epoch=best_epoch,
        started_at=started,
        duration=duration,
        pid=status.pid,
        host=status.host,
        error=status.error,
        problem="; ".join(problems),
        has_checkpoint=folder.last_checkpoint.exists(),
        sort_key=started.timestamp() if started is not None else mtime,
        damaged=tail.damaged,
        process_gone=status.state == RunState.RUNNING and state != RunState.RUNNING,
        slurm_job_id=status.slurm_job_id,
        pause=run_pause(status) if state == RunState.RUNNING else None,
    )


def run_folders(runs_dir: Path) -> list[Path]:
    """The folders directly under `runs_dir` (hidden ones, such as temporary files, left out)."""
    try:
        entries = list(os.scandir(runs_dir))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [Path(e.path) for e in entries if not e.name.startswith(".") and e.is_dir(follow_symlinks=True)]


def filter_runs(runs: Iterable[RunSummary], text: str) -> list[RunSummary]:
    return [run for run in runs if run.matches(text)] if text.strip() else list(runs)


def list_runs(runs_dir: Path, text: str = "") -> list[RunSummary]:
    """Every run under `runs_dir`, newest first, those matching `text` (all its words) when given."""
    now = time.time()
    runs = [summarize(path, now) for path in run_folders(Path(runs_dir))]
    runs.sort(key=lambda run: (run.sort_key, run.name), reverse=True)
    return filter_runs(runs, text)

"""Follow a run folder: turn its files, as they grow, into the engine events a front end consumes.

The console shows a detached or external run exactly as a run in its own process: a `RunFollower`
polls the folder (sizes and mtimes, about twice a second; no inotify, so it works the same on a
network file system or macOS) and sends `RunStarted`, `BatchProgress`, `EpochFinished`,
`RunPaused`/`RunResumed` and `RunFinished`/`RunFailed` to the same listeners. It only reads, so
any number of consoles can follow one run. A finished run replays to its end in one poll. With
`watch_resumes`, a follower whose run ended interrupted or failed keeps an eye on status.json:
when another process resumes the run (a new, live pid), it starts over and follows that process
from its set-up on.

Files are read as a writer may be leaving them: status.json may not exist yet, the last line of
metrics.jsonl may be half written, predictions-last.npz may still hold the previous epoch.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..config.choices import best_metric
from ..engine.events import (
    BatchProgress,
    EpochFinished,
    Event,
    Listener,
    Predictions,
    RunFailed,
    RunFinished,
    RunPaused,
    RunResumed,
    RunStarted,
    SetupProgress,
    emit,
)
from ..engine.health import Health
from ..regular_file import open_binary
from .folder import RunFolder, RunFolderError, pid_alive, status_alive
from .pause import Pause, run_pause
from .records import DamagedRecord, EpochRecord, RunStatus
from .slurm_queue import waiting_for_job
from .state import RunState
from .thumbnails import thumbnail_count
from .timing import parse_time, training_time

POLL_INTERVAL = 0.5
PREDICTIONS_WAIT = 5.0
"""Seconds a new epoch waits for its predictions file before it is shown without them."""
STATUS_GRACE = 5.0
"""Seconds a folder without a readable status.json is given before following it fails."""
LOG_TAIL_LINES = 40
LOG_TAIL_BYTES = 64 * 1024
"""How much of the end of log.txt is read for its last lines."""
ENDED = (RunState.FINISHED, RunState.INTERRUPTED, RunState.FAILED, RunState.PRUNED)

Signature = tuple[int, int, int]


def _signature(path: Path) -> Signature | None:
    """What changes when a file is appended to or replaced (inode, size, mtime)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _int(value: Any, default: int = 0) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def _float(value: Any, default: float = 0.0) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def log_tail(folder: RunFolder, lines: int = LOG_TAIL_LINES) -> str:
    """The end of a detached run's log.txt ("" when there is none), for error details."""
    try:
        with open_binary(folder.log_file) as handle:  # a FIFO or a link to /dev/zero is no log
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - LOG_TAIL_BYTES))
            text = handle.read(LOG_TAIL_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def empty_predictions(classes: tuple[str, ...]) -> tuple[np.ndarray, Predictions]:
    """A zero confusion matrix and no samples: an epoch whose predictions file was overwritten."""
    k = len(classes)
    return np.zeros((k, k), dtype=np.int64), Predictions(
        labels=np.zeros(0, dtype=np.int64),
        predictions=np.zeros(0, dtype=np.int64),
        confidences=np.zeros(0, dtype=np.float32),
        losses=np.zeros(0, dtype=np.float32),
        classes=classes,
    )


def batch_event(record: dict[str, Any] | None) -> BatchProgress | None:
    """A progress.json record as the event it was written from; None when it is not one."""
    if not record or _int(record.get("epoch")) < 1:
        return None
    return BatchProgress(
        epoch=_int(record.get("epoch")),
        batch=_int(record.get("batch")),
        batches=_int(record.get("batches")),
        loss=_float(record.get("loss")),
        accuracy=_float(record.get("accuracy")),
        images_per_second=_float(record.get("images_per_second")),
        lr=_float(record.get("lr")),
        seconds=_float(record.get("seconds")),
        health=Health.from_record(record),
    )


class RunFollower:
    """Polls one run folder and sends what is new since the last poll to `listeners`.

    `expect_pid` is for a run this process has just (re)started: until status.json names that
    pid, the folder's old status (an interrupted run being resumed) is not taken for the run's.
    `watch_resumes`: after an interrupted or failed end, go on watching for a process that resumes it.
    """

    def __init__(
        self,
        run_dir: Path,
        listeners: Sequence[Listener] = (),
        *,
        expect_pid: int | None = None,
        watch_resumes: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = RunFolder(Path(run_dir))
        self.listeners = list(listeners)
        self.watch_resumes = watch_resumes
        self._clock = clock
        self._reset(expect_pid)

    def _reset(self, expect_pid: int | None) -> None:
        """Forget everything seen: a new process is (re)starting the run."""
        self.expect_pid = expect_pid
        self.done = False
        self.final: RunFinished | RunFailed | None = None
        self._ended_pid: int | None = None
        self._resumed_by_pid: int | None = None
        self._created = self._clock()
        self._setup_stage = ""
        self._started = False
        self._classes: tuple[str, ...] = ()
        self._epochs_planned = 0
        self._emitted_epoch = 0
        self._best: float | None = None  # the best epoch's value of its record's best_metric
        self._best_val_acc: float | None = None
        self._metrics_sig: Signature | None = None
        self._pending: list[dict[str, Any]] = []
        self._pending_since: float | None = None
        self._progress_sig: Signature | None = None
        self._progress: BatchProgress | None = None
        self._progress_emitted: BatchProgress | None = None
        self._predictions: dict[str, tuple[Signature | None, dict[str, Any] | None]] = {}
        self._pause: Pause | None = None

    @property
    def run_dir(self) -> Path:
        return self.folder.path

    # ------------------------------------------------------------------ driving

    @property
    def awaiting_resume(self) -> bool:
        """The run ended in a state another process may resume, and this follower watches for that."""
        return self.done and self.watch_resumes and self._ended_pid is not None

    def poll(self) -> list[Event]:
        """Read what changed and send it on; returns the events sent (none once `done`, unless resumed)."""
        out: list[Event] = []
        if self.done:
            pid = self._resumed_by()
            if pid is None:
                return []
            self._reset(pid)
            self._resumed_by_pid = pid
        try:
            self._poll(out)
        except DamagedRecord as exc:  # a record of the wrong shape: say which, and stop following
            hint = "the run folder holds what tui-trainer does not write; it cannot be shown or resumed"
            self._end(out, RunFailed(run_dir=str(self.run_dir), error=str(exc), hint=hint))
        except RunFolderError as exc:  # a newer format: nothing here can be read
            self._end(out, RunFailed(run_dir=str(self.run_dir), error=str(exc), hint="upgrade tui-trainer"))
        for event in out:
            emit(self.listeners, event)
        return out

    # ------------------------------------------------------------------ one poll

    def _poll(self, out: list[Event]) -> None:
        status = self._read_status()  # first: everything it reports as done is on disk already
        if status is None or (self.expect_pid is not None and status.pid != self.expect_pid):
            self._wait_for_start(out, status)
            return
        if status.state == RunState.PENDING:  # submitted to SLURM; its job writes the folder once it starts
            self._say_setup(out, waiting_for_job(status.slurm_job_id))
            return
        state = status.state
        alive = state not in ENDED and status_alive(status)
        ending = state in ENDED or not alive
        self._epochs_planned = status.epochs_planned or self._epochs_planned
        self._read_progress()
        if not self._started:
            if status.classes is None and not ending:  # a resumed run has metrics but no report yet
                resumed = f"resumed by pid {self._resumed_by_pid}: " if self._resumed_by_pid else ""
                self._say_setup(out, f"{resumed}setting up the run (loading data)")
                return
            set_up = status.classes is not None or self.folder.metrics_file.exists()
            if not set_up and (state == RunState.FAILED or not self.folder.last_checkpoint.exists()):
                self._finish(out, status, state)  # ended during setup: no RunStarted, as in a live run
                return
            out.append(self._run_started(status))
            self._started = True
        self._read_metrics()
        self._send_epochs(out, ending)
        progress = self._progress
        if progress is not None and progress.epoch > self._emitted_epoch and progress != self._progress_emitted:
            out.append(progress)
            self._progress_emitted = progress
        if not ending:
            self._send_pause(out, status)
        if ending and not self._pending:
            self._finish(out, status, state)

    def _send_pause(self, out: list[Event], status: RunStatus) -> None:
        """`RunPaused` as the run begins to hold (or its process is stopped), `RunResumed` as it goes on."""
        pause = run_pause(status)
        if pause == self._pause:
            return
        self._pause = pause
        if pause is None:
            out.append(RunResumed())
        else:
            out.append(RunPaused(since=pause.since.timestamp() if pause.since is not None else None))

    def _resumed_by(self) -> int | None:
        """The pid of a live process that took the ended run over, if one did."""
        if not self.awaiting_resume:
            return None
        status = self._read_status()
        if status is None or status.state in ENDED:
            return None
        pid = status.pid
        if pid is None or pid == self._ended_pid or not pid_alive(pid, status.host or None):
            return None
        return pid

    def _wait_for_start(self, out: list[Event], status: RunStatus | None) -> None:
        waited = self._clock() - self._created
        if self.expect_pid is not None:
            if pid_alive(self.expect_pid):
                self._say_setup(out, f"starting the run (pid {self.expect_pid})")
                return
            error = f"the run's process (pid {self.expect_pid}) ended before the run started"
        elif waited < STATUS_GRACE:
            self._say_setup(out, "waiting for the run to start")
            return
        else:
            error = f"{self.run_dir}: no readable status.json, so this folder is not a run (or not one yet)"
        tail = log_tail(self.folder)
        hint = f"its output is in {self.folder.log_file}" if tail else ""
        self._end(out, RunFailed(run_dir=str(self.run_dir), error=error, hint=hint, details=tail))

    def _say_setup(self, out: list[Event], stage: str) -> None:
        if stage != self._setup_stage:
            self._setup_stage = stage
            out.append(SetupProgress(stage=stage, done=0, total=0))

    def _end(self, out: list[Event], event: RunFinished | RunFailed) -> None:
        out.append(event)
        self.final = event
        self.done = True

    # ------------------------------------------------------------------ files

    def _read_status(self) -> RunStatus | None:
        try:
            return self.folder.read_run_status()
        except RunFolderError as exc:
            if isinstance(exc, DamagedRecord) and exc.problem.startswith("unreadable"):
                return None  # not JSON: wait, as for a run that is starting (the grace below ends it)
            if isinstance(exc, DamagedRecord) or "written by a newer tui-trainer" in str(exc):
                raise
            return None  # not written yet (or unreadable): wait, as for a run that is starting

    def _read_progress(self) -> None:
        sig = _signature(self.folder.progress_file)
        if sig != self._progress_sig:
            self._progress_sig = sig
            self._progress = batch_event(self.folder.read_progress())

    def _read_metrics(self) -> None:
        sig = _signature(self.folder.metrics_file)
        if sig == self._metrics_sig:
            return
        self._metrics_sig = sig
        newest = self._pending[-1]["epoch"] if self._pending else self._emitted_epoch
        for record in self.folder.read_metrics():  # complete lines only: a torn last line waits
            epoch = _int(record.get("epoch"))
            if epoch > newest:
                self._pending.append({**record, "epoch": epoch})
                newest = epoch

    def _read_predictions(self, which: str) -> dict[str, Any] | None:
        path = self.folder.predictions_file(which)
        sig = _signature(path)
        cached = self._predictions.get(which)
        if cached is not None and cached[0] == sig:
            return cached[1]
        try:
            data = self.folder.read_predictions(which) if sig is not None else None
        except Exception:  # noqa: BLE001 - a damaged npz means "no predictions", not a dead follower
            data = None
        self._predictions[which] = (sig, data)
        return data

    def _predictions_for(self, epoch: int) -> dict[str, Any] | None:
        for which in ("last", "best"):
            data = self._read_predictions(which)
            if data is not None and data.get("epoch") == epoch:
                return data
        return None

    # ------------------------------------------------------------------ events

    def _send_epochs(self, out: list[Event], ending: bool) -> None:
        while self._pending:
            record = self._pending[0]
            epoch = record["epoch"]
            predictions = self._predictions_for(epoch)
            if predictions is None and len(self._pending) == 1 and not ending:
                # The writer appends the metrics line just before it replaces predictions-last.npz.
                now = self._clock()
                self._pending_since = self._pending_since if self._pending_since is not None else now
                if now - self._pending_since < PREDICTIONS_WAIT:
                    return
            self._pending.pop(0)
            self._pending_since = None
            progress = self._progress
            if progress is not None and progress.epoch == epoch and progress != self._progress_emitted:
                out.append(progress)  # the epoch's last batch comes before its end, as in a live run
                self._progress_emitted = progress
            out.append(self._epoch_finished(record, predictions))
            self._emitted_epoch = epoch

    def _epoch_finished(self, record: dict[str, Any], data: dict[str, Any] | None) -> EpochFinished:
        if data is not None and data.get("classes"):
            self._classes = tuple(data["classes"])
        if data is not None:
            confusion = np.asarray(data["confusion"])
            predictions = Predictions(
                labels=data["labels"],
                predictions=data["predictions"],
                confidences=data["confidences"],
                losses=data["losses"],
                classes=self._classes,
                probabilities=data.get("probabilities"),
            )
        else:
            confusion, predictions = empty_predictions(self._classes)
        typed = EpochRecord.from_record(record)
        value = typed.best_value
        is_best = value is not None and best_metric(typed.best_metric).is_better(value, self._best)
        if is_best:
            self._best, self._best_val_acc = value, typed.val_acc
        return EpochFinished(
            epoch=record["epoch"],
            epochs=max(self._epochs_planned, record["epoch"]),
            metrics=record,
            confusion=confusion,
            predictions=predictions,
            is_best=is_best,
        )

    def _run_started(self, status: RunStatus) -> RunStarted:
        self._classes = status.classes or ()
        if not self._classes:
            data = self._read_predictions("last")
            self._classes = tuple(data["classes"]) if data is not None else ()
        preset = self._preset() if not status.preset_name or not self._epochs_planned else None
        if preset is not None:
            self._epochs_planned = self._epochs_planned or preset.train.epochs
        return RunStarted(
            run_dir=str(self.run_dir),
            preset_name=status.preset_name or (preset.name if preset else self.run_dir.name),
            epochs=self._epochs_planned,
            start_epoch=1,  # a follower replays the run from its first epoch
            batches_per_epoch=self._progress.batches if self._progress is not None else 0,
            train_images=0,  # not recorded in the folder
            val_images=self._val_images(),
            classes=self._classes,
            device=status.device,
            precision=status.precision,
        )

    def _preset(self) -> Any:
        from ..config import PresetError

        try:
            return self.folder.read_preset()
        except PresetError:
            return None

    def _val_images(self) -> int:
        return thumbnail_count(self.folder.val_images_file)

    def _finish(self, out: list[Event], status: RunStatus, state: str) -> None:
        if state != RunState.FINISHED:
            self._ended_pid = status.pid or None
        if state == RunState.FAILED:
            event: RunFinished | RunFailed = RunFailed(
                run_dir=str(self.run_dir),
                error=status.error or "the run failed",
                hint=status.hint,
                details=log_tail(self.folder),
            )
        else:
            ended_at = parse_time(status.ended_at)
            if ended_at is None:  # the process died without a word: it ran until it last wrote something
                mtime = max((s[2] for s in (self._metrics_sig, _signature(self.folder.status_file)) if s), default=0)
                ended_at = datetime.fromtimestamp(mtime / 1e9).astimezone() if mtime else None
            trained = training_time(status, ended_at) if ended_at is not None else None
            event = RunFinished(
                run_dir=str(self.run_dir),
                state=RunState.FINISHED if state == RunState.FINISHED else RunState.INTERRUPTED,
                epochs_done=max(status.epochs_done, self._emitted_epoch),
                best_val_acc=status.best_val_acc if status.best_val_acc is not None else self._best_val_acc,
                best_epoch=status.best_epoch or None,
                seconds=trained.total if trained is not None else 0.0,  # what the run's own front end said
            )
        self._end(out, event)


def read_events(run_dir: Path) -> list[Event]:
    """Everything a run folder holds now, as events (a finished run: the whole run)."""
    return RunFollower(run_dir).poll()

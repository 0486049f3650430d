"""Write a run's events into its folder: status, metrics, predictions and batch progress as they happen."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from ..engine.events import (
    BatchProgress,
    EpochFinished,
    Event,
    RunFailed,
    RunFinished,
    RunPaused,
    RunResumed,
    RunStarted,
)
from .folder import RunFolder, now_iso
from .state import RunState
from .timing import training_time

PROGRESS_INTERVAL = 1.0
"""Seconds between two writes of progress.json: enough for a follower, cheap for the run."""


class RunRecorder:
    """An event listener that keeps the run folder up to date (rank 0 only).

    `essential`: a write that fails (a full disk) fails the run, instead of being logged and
    skipped like an optional listener's error; a run whose folder does not say what happened is
    not finished. Only progress.json, a courtesy to followers, may fail quietly.
    """

    essential = True

    def __init__(
        self,
        folder: RunFolder,
        progress_interval: float = PROGRESS_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = folder
        self.progress_interval = progress_interval
        self._clock = clock
        self._progress_written: float | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, BatchProgress):
            self._write_progress(event)
        elif isinstance(event, RunStarted):
            self.folder.clear_progress()
            self._progress_written = None
            self.folder.change_state(
                RunState.RUNNING,
                preset_name=event.preset_name,
                epochs_planned=event.epochs,
                device=event.device,
                precision=event.precision,
                storage=event.storage,
                storage_reason=event.storage_reason,
                threads=event.threads,
                threads_reason=event.threads_reason,
                classes=list(event.classes),
                ended_at=None,
                error=None,
                hint=None,
            )
        elif isinstance(event, EpochFinished):
            self.folder.append_metrics(event.metrics)
            p = event.predictions
            arrays = {
                "labels": p.labels,
                "predictions": p.predictions,
                "confidences": p.confidences,
                "losses": p.losses,
                "confusion": event.confusion,
            }
            if p.probabilities is not None:
                arrays["probabilities"] = p.probabilities
            self.folder.write_predictions("last", event.epoch, arrays, p.classes)
            if event.is_best:
                self.folder.write_predictions("best", event.epoch, arrays, p.classes)
            fields = {"epochs_done": event.epoch, "updated_at": now_iso()}
            if event.is_best:
                fields.update(best_val_acc=event.metrics["val_acc"], best_epoch=event.epoch)
            self.folder.write_status(**fields)
        elif isinstance(event, RunPaused):
            self.folder.record_pause(datetime.fromtimestamp(event.since if event.since is not None else time.time()))
        elif isinstance(event, RunResumed):
            self.folder.record_pause(None)
        elif isinstance(event, RunFinished):
            self.record_end(event)
        elif isinstance(event, RunFailed):
            self.folder.write_failure(ended_at=now_iso(precise=True), error=event.error, hint=event.hint)

    def record_end(self, event: RunFinished) -> RunFinished:
        """Write how the run ended; returns `event` with the run's training time as its folder now tells it
        (runs.timing), so whoever says it after this says what a follower and the runs list read. A stop
        during set-up keeps its set-up time (its words are "while decoding the data (14.0s)")."""
        status = self.folder.change_state(event.state, ended_at=now_iso(precise=True), epochs_done=event.epochs_done)
        trained = training_time(status)
        if event.setup_stage or trained is None:
            return event
        return replace(event, seconds=trained.total)

    def _write_progress(self, event: BatchProgress) -> None:
        """At most one write per interval, and always the last batch of an epoch (its final figures)."""
        now = self._clock()
        last_batch = event.batch >= event.batches
        if (
            not last_batch
            and self._progress_written is not None
            and now - self._progress_written < self.progress_interval
        ):
            return
        self._progress_written = now
        # Progress is a courtesy to followers: a full disk must not stop the run here.
        with contextlib.suppress(OSError):
            self.folder.write_progress(
                {
                    "epoch": event.epoch,
                    "batch": event.batch,
                    "batches": event.batches,
                    "loss": event.loss,
                    "accuracy": event.accuracy,
                    "images_per_second": event.images_per_second,
                    "lr": event.lr,
                    "seconds": event.seconds,
                    **(event.health.to_record() if event.health is not None else {}),
                    "updated_at": now_iso(),
                }
            )

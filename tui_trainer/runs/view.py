"""One view of a run, whatever it comes from: what the training, runs and confusion screens read.

A `RunView` is built from a run's engine events as they arrive (`fold`), from a run folder's
status and epoch records (`from_run_dir`), from a run folder's saved predictions of one epoch
(`from_predictions`), or from an evaluation folder (`from_eval_dir`): one set of field names for
all four. It is changed only on the UI thread; every change bumps `version`, so a screen redraws
only when something happened. Nothing here knows about Textual.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..engine.class_figures import class_report
from ..engine.events import (
    BatchProgress,
    EpochFinished,
    Event,
    Predictions,
    RunFailed,
    RunFinished,
    RunPaused,
    RunResumed,
    RunStarted,
    SetupProgress,
)
from ..text import setup_text
from .eval_folder import EvalFolder
from .folder import RunFolder, RunFolderError, state_label
from .lineage import LeadIn, read_lead_in
from .pause import PAUSED, Pause, run_pause
from .predictions_file import read_saved_predictions
from .records import EpochRecord
from .summary import BROKEN

STEP_SMOOTHING = 0.05
"""The per-step loss is an exponential moving average with this time constant, in epochs."""
MAX_STEP_POINTS = 4000

Which = Literal["last", "best"]
"""Which epoch's saved predictions a view of a run folder shows."""


@dataclass
class RunView:
    """What is known of a run: live from its events, or read from its folder or an evaluation."""

    preset_name: str = ""
    classes: tuple[str, ...] = ()
    epochs: list[dict[str, Any]] = field(default_factory=list)
    """One record per finished epoch, as the engine reports it and metrics.jsonl holds it (`EpochRecord`'s keys)."""
    predictions: Predictions | None = None
    """The latest epoch's validation predictions."""
    confusion: np.ndarray | None = None
    """The latest epoch's confusion matrix, rows = true class, columns = predicted."""
    per_class_accuracy: list[list[float]] = field(default_factory=list)
    """Per epoch, the validation accuracy of each class (class order)."""
    run_dir: Path | None = None
    version: int = 0
    step_losses: list[tuple[float, float]] = field(default_factory=list)
    """Smoothed training loss between progress reports, against the fractional epoch (1.5: half of epoch 2)."""

    state: str = "idle"  # idle | starting | running | paused | stopping | finished | interrupted | failed
    epochs_planned: int = 0
    batches_per_epoch: int = 0
    device: str = ""
    precision: str = ""
    storage: str = ""  # device | stream, where batches come from
    progress: BatchProgress | None = None
    setup_stage: str = ""
    best_epoch: int | None = None
    best_val_acc: float | None = None
    error: str = ""
    hint: str = ""
    details: str = ""
    predictions_epoch: int | None = None
    """The epoch of `predictions` (a view of the best epoch's may be older than the last)."""
    label: str = ""
    """What the predictions are, where it is not the last epoch's: "best", or an evaluation's checkpoint."""
    scope: str = "val"
    """What the accuracy is measured on: "val", or an evaluation's data folder."""
    paths: tuple[str, ...] | None = None
    """The source file of each predicted sample, where the view was read with them."""
    lead_in: LeadIn = field(default_factory=LeadIn)
    """A fork's parent's epochs before its own (read once its folder is known), drawn before `epochs`."""
    pause: Pause | None = None
    """While "paused": since when its loop holds; None until it does (`p` was pressed, the batch goes on)."""

    def _changed(self) -> None:
        self.version += 1

    # Updates, one per kind of engine event -------------------------------------------------

    def fold(self, event: Event) -> None:
        """Apply one engine event of the run (the console's own, or one replayed from its folder)."""
        if isinstance(event, BatchProgress):
            self.add_progress(event)
        elif isinstance(event, SetupProgress):
            self.add_setup(event)
        elif isinstance(event, RunStarted):
            self.start(event)
        elif isinstance(event, EpochFinished):
            self.add_epoch(event)
        elif isinstance(event, RunPaused):
            self.hold(event)
        elif isinstance(event, RunResumed):
            self.go_on()
        elif isinstance(event, RunFinished):
            self.finish(event)
        elif isinstance(event, RunFailed):
            self.fail(event)

    def hold(self, event: RunPaused) -> None:
        """The run's loop holds between batches (paused here, or by another console or a signal)."""
        if self.state in ("running", "paused"):  # a run being stopped stays "stopping"
            self.state = "paused"
            self.pause = Pause.at(event.since)
            self._changed()

    def go_on(self) -> None:
        """The run's loop goes on (resumed, or woken to stop)."""
        self.pause = None
        if self.state == "paused":
            self.state = "running"
        self._changed()

    def add_setup(self, event: SetupProgress) -> None:
        """Data preparation before the first batch; one after the end means another process resumed the run."""
        if not self.running:
            self.progress = None  # the dead process's last batch is not this one's
            self.state = "starting"
        self.set_setup(setup_text(event.stage, event.done, event.total, event.rate, event.eta))

    def set_state(self, state: str) -> None:
        self.state = state
        if state != "paused":
            self.pause = None
        self._changed()

    def set_setup(self, stage: str) -> None:
        self.setup_stage = stage
        self._changed()

    def start(self, event: RunStarted) -> None:
        self.run_dir = Path(event.run_dir) if event.run_dir else None
        self.lead_in = read_lead_in(self.run_dir) if self.run_dir else LeadIn()  # its status.json says if a fork
        self.preset_name = event.preset_name
        self.classes = tuple(event.classes)
        self.epochs_planned = event.epochs
        self.batches_per_epoch = event.batches_per_epoch
        self.device = event.device
        self.precision = event.precision
        self.storage = event.storage
        self.setup_stage = ""
        # A run starting at epoch s has s - 1 epochs behind it: a follower replays a resumed run from 1.
        del self.epochs[max(0, event.start_epoch - 1) :]
        del self.per_class_accuracy[max(0, event.start_epoch - 1) :]
        self.step_losses[:] = [point for point in self.step_losses if point[0] <= event.start_epoch - 1]
        self.progress = None
        if self.state in ("idle", "starting"):
            self.state = "running"
        self._changed()

    def add_progress(self, event: BatchProgress) -> None:
        self._add_step_loss(self.progress, event)
        self.progress = event
        self._changed()

    def _add_step_loss(self, before: BatchProgress | None, event: BatchProgress) -> None:
        """The loss of the batches since the last report (the event carries the epoch's running mean), smoothed."""
        if event.batch < 1 or event.batches < 1:
            return
        x = event.epoch - 1 + event.batch / event.batches
        if self.step_losses and x <= self.step_losses[-1][0]:
            return  # a replayed or repeated report
        if before is not None and before.epoch == event.epoch and event.batch > before.batch:
            recent = (event.loss * event.batch - before.loss * before.batch) / (event.batch - before.batch)
        else:
            recent = event.loss
        if self.step_losses:  # an average over STEP_SMOOTHING of an epoch, however often reports come
            weight = math.exp(-(x - self.step_losses[-1][0]) / STEP_SMOOTHING)
            recent = weight * self.step_losses[-1][1] + (1 - weight) * recent
        self.step_losses.append((x, recent))
        if len(self.step_losses) > MAX_STEP_POINTS:  # a long run: keep the shape, halve the points
            self.step_losses[:] = self.step_losses[::2]

    def add_epoch(self, event: EpochFinished) -> None:
        record = dict(event.metrics)
        record.setdefault("epoch", event.epoch)
        self.epochs.append(record)
        self.epochs_planned = event.epochs
        self.confusion = event.confusion
        self.predictions = event.predictions
        self.predictions_epoch = event.epoch if event.predictions is not None else None
        if event.predictions is not None and event.predictions.classes:
            self.classes = tuple(event.predictions.classes)
        typed = EpochRecord.from_record(record)
        per_class = list(typed.per_class_acc)
        if not per_class and event.confusion is not None:
            per_class = class_report(event.confusion).recall.tolist()
        self.per_class_accuracy.append(per_class)
        val_acc = typed.val_acc
        better = val_acc is not None and (self.best_val_acc is None or val_acc > self.best_val_acc)
        if event.is_best or (typed.best_metric == "val_acc" and better):  # else only is_best knows
            self.best_epoch = event.epoch
            self.best_val_acc = val_acc
        self._changed()

    def finish(self, event: RunFinished) -> None:
        self.state = event.state
        self.setup_stage = ""  # a run stopped while decoding no longer shows the decode going on
        if event.run_dir:
            self.run_dir = Path(event.run_dir)
        if event.best_epoch is not None:
            self.best_epoch = event.best_epoch
            self.best_val_acc = event.best_val_acc
        self._changed()

    def fail(self, event: RunFailed) -> None:
        self.state = "failed"
        self.error, self.hint, self.details = event.error, event.hint, event.details
        if event.run_dir:
            self.run_dir = Path(event.run_dir)
        self._changed()

    # Reading --------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.state in ("starting", "running", "paused", "stopping")

    def series(self, key: str) -> list[float]:
        """One metric over the finished epochs (missing values skipped)."""
        return [float(r[key]) for r in self.epochs if r.get(key) is not None]

    def epoch_numbers(self, key: str) -> list[int]:
        return [int(r.get("epoch", i + 1)) for i, r in enumerate(self.epochs) if r.get(key) is not None]

    @classmethod
    def to_follow(cls, run_dir: Path) -> RunView:
        """The view of a run folder about to be followed: "starting", under its preset's name from
        status.json (the folder's name when there is none yet); the follower sends the rest."""
        try:
            name = RunFolder(Path(run_dir)).read_run_status().preset_name
        except (RunFolderError, OSError):
            name = ""
        return cls(preset_name=name or Path(run_dir).name, state="starting", run_dir=run_dir)

    @classmethod
    def from_run_dir(cls, run_dir: Path) -> RunView:
        """A read-only history from a run folder's status and epoch records (no predictions).

        A folder that cannot be read, or whose records are damaged, gives a history in state
        "broken" whose `error` says which file and line, so a screen shows it instead of failing.
        """
        folder = RunFolder(Path(run_dir))
        history = cls(run_dir=run_dir, version=1)
        try:
            status = folder.read_run_status()
            records = folder.read_metrics()
        except RunFolderError as exc:
            history.state, history.preset_name = BROKEN, run_dir.name
            history.error, history.hint = str(exc), "the run folder cannot be read"
            return history
        history.pause = run_pause(status)
        history.state = PAUSED if history.pause is not None else state_label(status)
        history.preset_name = status.preset_name or run_dir.name
        history.epochs_planned = status.epochs_planned
        history.best_epoch, history.best_val_acc = status.best_epoch, status.best_val_acc
        history.error, history.hint = status.error, status.hint
        history.lead_in = read_lead_in(Path(run_dir))
        for position, record in enumerate(records):
            history.epochs.append(record)
            history.per_class_accuracy.append(list(EpochRecord.from_record(record, position).per_class_acc))
        return history

    @classmethod
    def from_predictions(cls, run_dir: str | Path, which: Which = "last") -> RunView:
        """A run folder's epoch records with the saved predictions of its `which` epoch (what the
        confusion screens show of a run that is not this console's).

        Raises FileNotFoundError when the run has no predictions file yet (no finished epoch) and
        ValueError when the file's arrays do not fit together.
        """
        if which not in ("last", "best"):
            raise ValueError(f"which is 'last' or 'best', got {which!r}")
        folder = RunFolder(Path(run_dir))
        npz_path = folder.predictions_file(which)
        if not npz_path.is_file():
            raise FileNotFoundError(f"{npz_path} does not exist: the run has no finished epoch yet")
        saved = read_saved_predictions(npz_path)
        records = folder.read_metrics()
        typed = [EpochRecord.from_record(record, i) for i, record in enumerate(records)]
        return cls(
            classes=saved.predictions.classes,
            epochs=records,
            predictions=saved.predictions,
            confusion=saved.confusion,
            per_class_accuracy=[list(epoch.per_class_acc) for epoch in typed if epoch.per_class_acc],
            run_dir=folder.path,
            predictions_epoch=saved.epoch,
            label=which,
            paths=folder.read_val_paths(),
        )

    @classmethod
    def from_eval_dir(cls, eval_dir: str | Path) -> RunView:
        """An evaluation folder (`RUN_DIR/evals/NAME`, written by `tui-trainer --eval`): one result, no epochs.

        Its thumbnails sit under the run folder's name, so `run_dir` is the evaluation folder itself.
        Raises FileNotFoundError / ValueError like `from_predictions`, RunFolderError for its report.
        """
        folder = EvalFolder(Path(eval_dir))
        report = folder.read_report()
        if not folder.predictions_file.is_file():
            raise FileNotFoundError(f"{folder.predictions_file} does not exist: not a complete evaluation")
        saved = read_saved_predictions(folder.predictions_file)
        return cls(
            classes=saved.predictions.classes,
            predictions=saved.predictions,
            confusion=saved.confusion,
            run_dir=folder.path,
            predictions_epoch=saved.epoch,
            label=f"{report.get('checkpoint', '')}.pt" + (", flip TTA" if report.get("tta") else ""),
            scope=str(report.get("data_name") or "evaluation"),
            paths=saved.paths,
        )

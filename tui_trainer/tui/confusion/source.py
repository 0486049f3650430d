"""What the confusion screens read: a run history (live or loaded from a run folder) and its thumbnails.

The live console hands the screen its `RunHistory`; `load_run_snapshot` builds an object with the
same attributes from the files of a run folder, so the screens never care where the data came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from ...engine.events import Predictions
from ...runs.eval_folder import EvalFolder
from ...runs.folder import RunFolder
from ...runs.predictions_file import read_saved_predictions
from ...runs.records import EpochRecord
from ...runs.report import SortKey, cell_samples, class_errors, confusion_from_predictions

Which = Literal["last", "best"]


class HistorySource(Protocol):
    """The attributes of `tui_trainer.runs.live.RunHistory` the confusion screens read.

    The per-class accuracy of every epoch is read by `per_class_history` from `per_class_acc` or
    `per_class_accuracy` (one list per epoch, class order), else from the `epochs` records.
    """

    classes: tuple[str, ...]
    epochs: list[dict]  # epoch records, oldest first
    predictions: Predictions | None  # of the latest finished epoch
    confusion: np.ndarray | None  # int64 [K, K] of the latest finished epoch
    run_dir: Path | None
    version: int  # bumped on every change


@dataclass
class RunSnapshot:
    """A `HistorySource` read once from a run folder; it never changes (`version` stays 0)."""

    classes: tuple[str, ...]
    epochs: list[dict]
    predictions: Predictions | None
    confusion: np.ndarray | None
    per_class_acc: list[list[float]]
    run_dir: Path | None
    version: int = 0
    predictions_epoch: int | None = None  # the epoch of `predictions` (the best one may be older)
    label: str = ""  # "last" or "best"
    scope: str = "val"  # what the accuracy is measured on: "val", or an evaluation's data folder
    paths: tuple[str, ...] | None = None  # the source file of each sample (image folders)


def load_run_snapshot(run_dir: str | Path, which: Which = "last") -> RunSnapshot:
    """Read the predictions of the `which` epoch and the epoch records of a run folder into a `RunSnapshot`.

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
    epochs = folder.read_metrics()
    per_class = _recorded_per_class(epochs)
    return RunSnapshot(
        classes=saved.predictions.classes,
        epochs=epochs,
        predictions=saved.predictions,
        confusion=saved.confusion,
        per_class_acc=per_class,
        run_dir=folder.path,
        predictions_epoch=saved.epoch,
        label=which,
        paths=folder.read_val_paths(),
    )


def load_eval_snapshot(eval_dir: str | Path) -> RunSnapshot:
    """An evaluation folder (`RUN_DIR/evals/NAME`, written by `tui-trainer --eval`) as a `RunSnapshot`.

    Its thumbnails sit under the run folder's name, so `run_dir` is the evaluation folder itself.
    Raises FileNotFoundError / ValueError like `load_run_snapshot`, RunFolderError for its report.
    """
    folder = EvalFolder(Path(eval_dir))
    report = folder.read_report()
    if not folder.predictions_file.is_file():
        raise FileNotFoundError(f"{folder.predictions_file} does not exist: not a complete evaluation")
    saved = read_saved_predictions(folder.predictions_file)
    return RunSnapshot(
        classes=saved.predictions.classes,
        epochs=[],
        predictions=saved.predictions,
        confusion=saved.confusion,
        per_class_acc=[],
        run_dir=folder.path,
        predictions_epoch=saved.epoch,
        label=f"{report.get('checkpoint', '')}.pt" + (", flip TTA" if report.get("tta") else ""),
        scope=str(report.get("data_name") or "evaluation"),
        paths=saved.paths,
    )


def sample_paths(history: HistorySource, expected: int) -> tuple[str, ...] | None:
    """The source file of each of the `expected` samples: the snapshot's own, else the run folder's
    record of its validation files; None when the data has no files (synthetic, arrays) or the count does not match."""
    paths = getattr(history, "paths", None)
    if paths is None and history.run_dir is not None and getattr(history, "scope", "val") == "val":
        paths = RunFolder(Path(history.run_dir)).read_val_paths()
    return tuple(paths) if paths is not None and len(paths) == expected else None


def per_class_history(history: HistorySource) -> list[list[float]]:
    """Per epoch, each class's validation accuracy, from whichever attribute the history has."""
    for attribute in ("per_class_acc", "per_class_accuracy"):
        value = getattr(history, attribute, None)
        if value:
            return [list(map(float, row)) for row in value]
    return _recorded_per_class(history.epochs)


def _recorded_per_class(records: list[dict]) -> list[list[float]]:
    """The per-class accuracy of each epoch record that holds one."""
    typed = (EpochRecord.from_record(record, i) for i, record in enumerate(records))
    return [list(epoch.per_class_acc) for epoch in typed if epoch.per_class_acc]


def epoch_numbers(history: HistorySource) -> list[int]:
    """The epoch number of every metrics record (1-based; position + 1 where a record lacks it)."""
    return [EpochRecord.from_record(r, i).epoch for i, r in enumerate(history.epochs)]


def current_confusion(history: HistorySource) -> np.ndarray | None:
    """The history's confusion matrix, or one counted from its predictions when only those exist."""
    if history.confusion is not None:
        return np.asarray(history.confusion, dtype=np.int64)
    predictions = history.predictions
    if predictions is None:
        return None
    return confusion_from_predictions(predictions.labels, predictions.predictions, len(history.classes))


def current_epoch(history: HistorySource) -> int | None:
    """The epoch the matrix and predictions belong to (a snapshot of the best epoch says so itself)."""
    epoch = getattr(history, "predictions_epoch", None)
    if epoch is not None:
        return int(epoch)
    if history.epochs:
        return EpochRecord.from_record(history.epochs[-1], len(history.epochs) - 1).epoch
    return None


@dataclass(frozen=True)
class SampleQuery:
    """Which validation samples a drill-down lists: one matrix cell, or a row's / column's errors.

    `true` and `pred` both set: the cell (true, pred). Only `true`: every sample of that class
    predicted wrongly. Only `pred`: every sample wrongly predicted as that class.
    """

    true: int | None
    pred: int | None

    def __post_init__(self) -> None:
        if self.true is None and self.pred is None:
            raise ValueError("a sample query names a true class, a predicted class, or both")

    def indices(self, predictions: Predictions, sort: SortKey) -> np.ndarray:
        p = predictions
        if self.true is not None and self.pred is not None:
            return cell_samples(p.labels, p.predictions, p.confidences, p.losses, self.true, self.pred, sort=sort)
        return class_errors(
            p.labels, p.predictions, p.confidences, p.losses, true=self.true, predicted=self.pred, sort=sort
        )

    def describe(self, classes: tuple[str, ...]) -> str:
        def name(i: int) -> str:
            return classes[i] if 0 <= i < len(classes) else f"class {i}"

        if self.true is not None and self.pred is not None:
            return f"true {name(self.true)} → predicted {name(self.pred)}"
        if self.true is not None:
            return f"every {name(self.true)} predicted as something else"
        return f"everything wrongly predicted as {name(self.pred)}"  # type: ignore[arg-type]

"""What the confusion screens read: a run history (live or loaded from a run folder) and its thumbnails.

The live console hands the screen its `RunHistory`; `load_run_snapshot` builds an object with the
same attributes from the files of a run folder, so the screens never care where the data came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from ...engine.events import Predictions
from ...runs.eval_folder import EvalFolder
from ...runs.folder import RunFolder
from ...runs.report import SortKey, cell_samples, class_errors, confusion_from_predictions

Which = Literal["last", "best"]


class HistorySource(Protocol):
    """The attributes of `tui_trainer.runs.live.RunHistory` the confusion screens read.

    The per-class accuracy of every epoch is read by `per_class_history` from `per_class_acc` or
    `per_class_accuracy` (one list per epoch, class order), else from the `epochs` records.
    """

    classes: tuple[str, ...]
    epochs: list[dict]  # metrics.jsonl records, oldest first
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


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The checked records of a metrics.jsonl (a torn last line is skipped; damage raises ValueError).

    The run folder's own reader owns the format; this only names the file the screens pass.
    """
    return RunFolder(Path(path).parent).read_metrics()


def load_run_snapshot(run_dir: str | Path, which: Which = "last") -> RunSnapshot:
    """Read `predictions-<which>.npz` and `metrics.jsonl` of a run folder into a `RunSnapshot`.

    Raises FileNotFoundError when the run has no predictions file yet (no finished epoch) and
    ValueError when the file's arrays do not fit together.
    """
    if which not in ("last", "best"):
        raise ValueError(f"which is 'last' or 'best', got {which!r}")
    run_dir = Path(run_dir)
    npz_path = run_dir / f"predictions-{which}.npz"
    if not npz_path.is_file():
        raise FileNotFoundError(f"{npz_path} does not exist: the run has no finished epoch yet")
    predictions, confusion, epoch = _read_predictions(npz_path)
    epochs = read_metrics(run_dir / "metrics.jsonl")
    per_class = [list(map(float, r["per_class_acc"])) for r in epochs if isinstance(r.get("per_class_acc"), list)]
    return RunSnapshot(
        classes=predictions.classes,
        epochs=epochs,
        predictions=predictions,
        confusion=confusion,
        per_class_acc=per_class,
        run_dir=run_dir,
        predictions_epoch=epoch,
        label=which,
        paths=RunFolder(run_dir).read_val_paths(),
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
    predictions, confusion, epoch = _read_predictions(folder.predictions_file)
    return RunSnapshot(
        classes=predictions.classes,
        epochs=[],
        predictions=predictions,
        confusion=confusion,
        per_class_acc=[],
        run_dir=folder.path,
        predictions_epoch=epoch,
        label=f"{report.get('checkpoint', '')}.pt" + (", flip TTA" if report.get("tta") else ""),
        scope=str(report.get("data_name") or "evaluation"),
        paths=_read_paths(folder.predictions_file),
    )


def _read_paths(npz_path: Path) -> tuple[str, ...] | None:
    """The `paths` array an evaluation of a data folder stores beside its predictions, if any."""
    with np.load(npz_path, allow_pickle=False) as data:
        return tuple(str(p) for p in data["paths"].tolist()) if "paths" in data.files else None


def sample_paths(history: HistorySource, expected: int) -> tuple[str, ...] | None:
    """The source file of each of the `expected` samples: the snapshot's own, else the run folder's
    `val_paths`; None when the data has no files (synthetic, arrays) or the count does not match."""
    paths = getattr(history, "paths", None)
    if paths is None and history.run_dir is not None and getattr(history, "scope", "val") == "val":
        paths = RunFolder(Path(history.run_dir)).read_val_paths()
    return tuple(paths) if paths is not None and len(paths) == expected else None


def _read_predictions(npz_path: Path) -> tuple[Predictions, np.ndarray, int | None]:
    """(per-sample predictions, confusion, epoch) of a predictions file, checked for consistency."""
    with np.load(npz_path, allow_pickle=False) as data:
        labels = np.asarray(data["labels"], dtype=np.int64)
        predictions = np.asarray(data["predictions"], dtype=np.int64)
        confidences = np.asarray(data["confidences"], dtype=np.float32)
        losses = np.asarray(data["losses"], dtype=np.float32)
        classes = tuple(str(name) for name in np.asarray(data["classes"]).tolist())
        confusion = np.asarray(data["confusion"], dtype=np.int64) if "confusion" in data else None
        epoch = int(data["epoch"]) if "epoch" in data else None
    n = labels.shape[0]
    if not (predictions.shape == confidences.shape == losses.shape == (n,)):
        raise ValueError(f"{npz_path}: labels, predictions, confidences and losses differ in length")
    k = len(classes)
    if confusion is None:
        confusion = confusion_from_predictions(labels, predictions, k)
    if confusion.shape != (k, k):
        raise ValueError(f"{npz_path}: confusion is {confusion.shape}, expected {(k, k)} for {k} classes")
    return Predictions(labels, predictions, confidences, losses, classes), confusion, epoch


def per_class_history(history: HistorySource) -> list[list[float]]:
    """Per epoch, each class's validation accuracy, from whichever attribute the history has."""
    for attribute in ("per_class_acc", "per_class_accuracy"):
        value = getattr(history, attribute, None)
        if value:
            return [list(map(float, row)) for row in value]
    return [list(map(float, r["per_class_acc"])) for r in history.epochs if isinstance(r.get("per_class_acc"), list)]


def epoch_numbers(history: HistorySource) -> list[int]:
    """The epoch number of every metrics record (1-based; position + 1 where a record lacks it)."""
    return [int(r.get("epoch", i + 1)) for i, r in enumerate(history.epochs)]


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
        value = history.epochs[-1].get("epoch")
        return int(value) if value is not None else len(history.epochs)
    return None


def epoch_record(history: HistorySource, epoch: int | None) -> dict | None:
    """The metrics.jsonl record of `epoch`, if the history has it."""
    for record in reversed(history.epochs):
        if record.get("epoch") == epoch:
            return record
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


@dataclass
class ValidationImages:
    """The run folder's `val_images.npy`, memory-mapped once and reloaded when the file changes.

    `get` returns an N×H×W×C uint8 array (C is 1 or 3) whose N matches the predictions, or None
    with `problem` saying why there are no thumbnails.
    """

    problem: str = ""
    _key: tuple | None = field(default=None, repr=False)
    _array: np.ndarray | None = field(default=None, repr=False)

    def get(self, run_dir: Path | None, expected: int) -> np.ndarray | None:
        if run_dir is None:
            self.problem = "no run folder, so no thumbnails"
            return None
        path = Path(run_dir) / "val_images.npy"
        try:
            stat = path.stat()
        except OSError:
            self.problem = f"no thumbnails: {path.name} is not in the run folder"
            return None
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        if key != self._key:
            self._key, self._array = key, None
            try:
                array = np.load(path, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as error:
                self.problem = f"no thumbnails: {path.name} cannot be read ({error})"
                return None
            if array.ndim == 3:  # N×H×W grey images
                array = array[..., None]
            if array.ndim != 4 or array.shape[-1] not in (1, 3, 4) or array.dtype != np.uint8:
                self.problem = f"no thumbnails: {path.name} is {array.dtype} {array.shape}, not uint8 N×H×W×C"
                return None
            self._array = array
        if self._array is None:
            return None
        if self._array.shape[0] != expected:
            self.problem = f"no thumbnails: {path.name} holds {self._array.shape[0]} images, the predictions {expected}"
            return None
        self.problem = ""
        return self._array

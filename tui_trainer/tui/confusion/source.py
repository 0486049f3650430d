"""What the confusion screens compute from a `RunView` (live, from a run folder, or from an evaluation).

The view has one set of field names whatever it was built from, so the screens never care where
the data came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...engine.events import Predictions
from ...runs.folder import RunFolder
from ...runs.records import EpochRecord
from ...runs.report import SortKey, cell_samples, class_errors, confusion_from_predictions
from ...runs.view import RunView


def sample_paths(view: RunView, expected: int) -> tuple[str, ...] | None:
    """The source file of each of the `expected` samples: the view's own, else the run folder's
    record of its validation files; None when the data has no files (synthetic, arrays) or the count does not match."""
    paths = view.paths
    if paths is None and view.run_dir is not None and view.scope == "val":
        paths = RunFolder(Path(view.run_dir)).read_val_paths()
    return tuple(paths) if paths is not None and len(paths) == expected else None


def epoch_numbers(view: RunView) -> list[int]:
    """The epoch number of every metrics record (1-based; position + 1 where a record lacks it)."""
    return [EpochRecord.from_record(r, i).epoch for i, r in enumerate(view.epochs)]


def current_confusion(view: RunView) -> np.ndarray | None:
    """The view's confusion matrix, or one counted from its predictions when only those exist."""
    if view.confusion is not None:
        return np.asarray(view.confusion, dtype=np.int64)
    predictions = view.predictions
    if predictions is None:
        return None
    return confusion_from_predictions(predictions.labels, predictions.predictions, len(view.classes))


def current_epoch(view: RunView) -> int | None:
    """The epoch the matrix and predictions belong to (a view of the best epoch's may be older than the last)."""
    if view.predictions_epoch is not None:
        return view.predictions_epoch
    if view.epochs:
        return EpochRecord.from_record(view.epochs[-1], len(view.epochs) - 1).epoch
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

"""Figures of a confusion matrix beyond the per-class ones, and the validation samples behind each of its cells.

Numpy only: the console's confusion screen and any headless report read the same numbers.

Conventions, shared with `tui_trainer.engine.events` (the per-class figures are `engine.class_figures`):

- `confusion[i, j]` counts validation samples whose true class is `i` and whose predicted class is
  `j` (rows = true, columns = predicted), so `confusion.sum()` is the number of validation images
  and `trace / sum` is the validation accuracy.
- Per-sample arrays are in validation order: `labels` and `predictions` are integer class indices,
  `confidences` the softmax probability of the *predicted* class, `losses` the per-sample loss.
  For a misclassified sample the confidence is therefore the model's confidence in the wrong class.
- Every ratio whose denominator is zero (a class never predicted, a class absent from the
  validation set, an empty matrix) is reported as 0.0, never nan, so tables and charts need no
  special case.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..engine.class_figures import as_confusion, safe_divide

SortKey = Literal["confidence", "loss"]
SORT_KEYS: tuple[SortKey, ...] = ("confidence", "loss")


def row_shares(confusion: np.ndarray) -> np.ndarray:
    """Each cell as a fraction of its row (of the samples of that true class); rows with no samples are 0."""
    matrix = as_confusion(confusion)
    return safe_divide(matrix, matrix.sum(axis=1, keepdims=True))


def confusion_from_predictions(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """The K×K int64 confusion matrix of per-sample labels and predictions (rows = true)."""
    labels = np.asarray(labels, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    if labels.shape != predictions.shape:
        raise ValueError(f"labels {labels.shape} and predictions {predictions.shape} differ in shape")
    flat = labels * num_classes + predictions
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes).astype(np.int64)


def confused_pairs(confusion: np.ndarray, top: int | None = 10) -> list[tuple[int, int, int]]:
    """The off-diagonal cells with at least one sample as (true, predicted, count), largest first.

    Ties keep matrix order (row by row), so the list is deterministic. `top=None` returns them all.
    """
    matrix = as_confusion(confusion)
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    flat = off.ravel()
    # Stable sort on the negated counts: largest first, row-major order among equals.
    order = np.argsort(-flat, kind="stable")
    order = order[flat[order] > 0]
    if top is not None:
        order = order[: max(top, 0)]
    k = matrix.shape[0]
    return [(int(i // k), int(i % k), int(flat[i])) for i in order]


def _sorted(indices: np.ndarray, confidences: np.ndarray, losses: np.ndarray, sort: SortKey) -> np.ndarray:
    """`indices` ordered by descending confidence or loss; ties by ascending index (stable sort)."""
    if sort == "confidence":
        key = np.asarray(confidences, dtype=np.float64)[indices]
    elif sort == "loss":
        key = np.asarray(losses, dtype=np.float64)[indices]
    else:
        raise ValueError(f"sort is one of {SORT_KEYS}, got {sort!r}")
    # nan keys (a diverged model) go last rather than first.
    key = np.where(np.isnan(key), -np.inf, key)
    return indices[np.argsort(-key, kind="stable")].astype(np.int64)


def cell_samples(
    labels: np.ndarray,
    predictions: np.ndarray,
    confidences: np.ndarray,
    losses: np.ndarray,
    true: int,
    pred: int,
    sort: SortKey = "confidence",
) -> np.ndarray:
    """Validation indices of exactly the samples with label `true` predicted as `pred`.

    Sorted by the model's confidence in its (wrong, off the diagonal) prediction, most confident
    first, or with `sort="loss"` by per-sample loss, largest first. Ties keep validation order.
    The length equals `confusion[true, pred]`.
    """
    labels = np.asarray(labels)
    predictions = np.asarray(predictions)
    indices = np.flatnonzero((labels == true) & (predictions == pred))
    return _sorted(indices, confidences, losses, sort)


def class_errors(
    labels: np.ndarray,
    predictions: np.ndarray,
    confidences: np.ndarray,
    losses: np.ndarray,
    *,
    true: int | None = None,
    predicted: int | None = None,
    sort: SortKey = "confidence",
) -> np.ndarray:
    """Every misclassified sample of one matrix row or column, sorted like `cell_samples`.

    `true=i`: samples of class i predicted as anything else (row i without its diagonal cell, the
    recall errors). `predicted=j`: samples wrongly predicted as j (column j without its diagonal,
    the precision errors). Give exactly one of the two.
    """
    if (true is None) == (predicted is None):
        raise ValueError("give exactly one of true= or predicted=")
    labels = np.asarray(labels)
    predictions = np.asarray(predictions)
    wrong = labels != predictions
    mask = wrong & (labels == true) if true is not None else wrong & (predictions == predicted)
    return _sorted(np.flatnonzero(mask), confidences, losses, sort)


def accuracy_trend(per_class_acc: list[list[float]], window: int = 3) -> np.ndarray:
    """Change of each class's accuracy over the last `window` epochs (latest minus `window` epochs back).

    With fewer epochs the first one is the reference; with none, or only one, every change is 0.
    A positive value means the class is still improving. Ragged histories (a class list that
    changed length) are compared over the classes the two epochs share, the rest read 0.
    """
    if len(per_class_acc) < 2:
        return np.zeros(len(per_class_acc[-1]) if per_class_acc else 0, dtype=np.float64)
    latest = np.asarray(per_class_acc[-1], dtype=np.float64)
    reference = np.asarray(per_class_acc[max(0, len(per_class_acc) - 1 - window)], dtype=np.float64)
    out = np.zeros_like(latest)
    shared = min(len(latest), len(reference))
    out[:shared] = latest[:shared] - reference[:shared]
    return out


__all__ = [
    "SORT_KEYS",
    "SortKey",
    "accuracy_trend",
    "cell_samples",
    "class_errors",
    "confused_pairs",
    "confusion_from_predictions",
    "row_shares",
]

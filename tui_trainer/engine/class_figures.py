"""Per-class precision, recall and F1 of a confusion matrix: the one place these figures are computed.

The trainer writes each class's recall as the epoch's `per_class_acc`; the live history, the
confusion screens and `--eval`'s report read the same function, so a class's accuracy is the
same number wherever it is shown. Numpy only (no torch), so a front end imports it cheaply.

Conventions: `confusion[i, j]` counts samples of true class `i` predicted as `j` (rows = true,
columns = predicted). A ratio whose denominator is zero (a class never predicted, a class absent
from the validation set, an empty matrix) is 0.0, never nan, so tables and charts need no special case.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClassReport:
    """Per-class precision, recall, F1 and support, plus overall figures, of one confusion matrix.

    Arrays are float64 (int64 for `support` and `predicted`) of length K, in class order.
    `precision[j]` = correct j / samples predicted as j (column sum); `recall[i]` = correct i /
    samples of class i (row sum, `support`); `f1` their harmonic mean. Recall is the per-class
    accuracy of an epoch record (`per_class_acc`).
    """

    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray  # samples whose true class is i (row sums)
    predicted: np.ndarray  # samples predicted as j (column sums)
    correct: int  # trace
    total: int  # every validation sample
    accuracy: float  # correct / total, 0.0 when total is 0
    macro_f1: float  # unweighted mean F1 over classes that have support; 0.0 when none do
    balanced_accuracy: float  # unweighted mean recall over classes that have support; 0.0 when none do

    @property
    def num_classes(self) -> int:
        return int(self.support.shape[0])


def safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Element-wise numerator / denominator as float64, 0.0 where the denominator is 0."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.zeros(np.broadcast(numerator, denominator).shape, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def as_confusion(confusion: np.ndarray) -> np.ndarray:
    matrix = np.asarray(confusion)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"a confusion matrix is square K×K, got shape {matrix.shape}")
    if matrix.size and (matrix < 0).any():
        raise ValueError("a confusion matrix holds counts, found a negative entry")
    return matrix.astype(np.int64, copy=False)


def class_report(confusion: np.ndarray) -> ClassReport:
    """Precision, recall, F1 and support of every class, and the overall accuracy.

    `confusion` is K×K counts, rows = true class, columns = predicted class.
    """
    matrix = as_confusion(confusion)
    diagonal = np.diag(matrix).astype(np.int64)
    support = matrix.sum(axis=1).astype(np.int64)
    predicted = matrix.sum(axis=0).astype(np.int64)
    precision = safe_divide(diagonal, predicted)
    recall = safe_divide(diagonal, support)
    f1 = safe_divide(2.0 * precision * recall, precision + recall)
    total = int(matrix.sum())
    correct = int(diagonal.sum())
    present = support > 0
    return ClassReport(
        precision=precision,
        recall=recall,
        f1=f1,
        support=support,
        predicted=predicted,
        correct=correct,
        total=total,
        accuracy=correct / total if total else 0.0,
        macro_f1=float(f1[present].mean()) if present.any() else 0.0,
        balanced_accuracy=float(recall[present].mean()) if present.any() else 0.0,
    )

"""The figures of `tui_trainer.runs.report` on hand-made matrices and samples."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tui_trainer.engine.class_figures import class_report
from tui_trainer.runs.report import (
    accuracy_trend,
    cell_samples,
    class_errors,
    confused_pairs,
    confusion_from_predictions,
    row_shares,
)

# rows = true, columns = predicted
MATRIX = np.array(
    [
        [8, 2, 0],
        [1, 6, 3],
        [0, 0, 0],  # a class absent from the validation set
    ],
    dtype=np.int64,
)


def test_class_report_figures_on_a_hand_made_matrix() -> None:
    report = class_report(MATRIX)
    np.testing.assert_array_equal(report.support, [10, 10, 0])
    np.testing.assert_array_equal(report.predicted, [9, 8, 3])
    np.testing.assert_allclose(report.precision, [8 / 9, 6 / 8, 0.0])
    np.testing.assert_allclose(report.recall, [0.8, 0.6, 0.0])
    p, r = 8 / 9, 0.8
    np.testing.assert_allclose(report.f1[0], 2 * p * r / (p + r))
    assert report.f1[2] == 0.0
    assert (report.correct, report.total) == (14, 20)
    assert report.accuracy == pytest.approx(0.7)
    # macro F1 over the classes that have samples
    assert report.macro_f1 == pytest.approx(report.f1[:2].mean())


def test_division_by_zero_reads_zero_not_nan() -> None:
    report = class_report(np.zeros((3, 3), dtype=np.int64))
    for values in (report.precision, report.recall, report.f1):
        assert not np.isnan(values).any()
        assert (values == 0).all()
    assert report.accuracy == 0.0 and report.macro_f1 == 0.0
    assert not np.isnan(row_shares(MATRIX)).any()
    np.testing.assert_allclose(row_shares(MATRIX)[1], [0.1, 0.6, 0.3])


def test_class_report_rejects_a_non_square_matrix() -> None:
    with pytest.raises(ValueError, match="square"):
        class_report(np.zeros((2, 3)))


def test_confused_pairs_largest_first_without_the_diagonal() -> None:
    assert confused_pairs(MATRIX) == [(1, 2, 3), (0, 1, 2), (1, 0, 1)]
    assert confused_pairs(MATRIX, top=1) == [(1, 2, 3)]
    assert confused_pairs(np.eye(3, dtype=np.int64) * 5) == []


def test_confused_pairs_ties_keep_matrix_order() -> None:
    matrix = np.array([[0, 2, 2], [2, 0, 0], [0, 0, 0]])
    assert confused_pairs(matrix) == [(0, 1, 2), (0, 2, 2), (1, 0, 2)]


# 8 samples, 3 classes
LABELS = np.array([0, 0, 0, 1, 1, 2, 0, 1])
PREDICTIONS = np.array([1, 0, 1, 1, 0, 1, 1, 2])
CONFIDENCES = np.array([0.6, 0.9, 0.8, 0.7, 0.5, 0.4, 0.6, 0.3], dtype=np.float32)
LOSSES = np.array([2.0, 0.1, 1.0, 0.3, 3.0, 0.5, 4.0, 1.5], dtype=np.float32)


def test_cell_samples_are_exactly_that_label_and_prediction() -> None:
    found = cell_samples(LABELS, PREDICTIONS, CONFIDENCES, LOSSES, true=0, pred=1)
    expected = {i for i in range(len(LABELS)) if LABELS[i] == 0 and PREDICTIONS[i] == 1}
    assert set(found.tolist()) == expected
    confusion = confusion_from_predictions(LABELS, PREDICTIONS, 3)
    assert len(found) == confusion[0, 1]
    for true in range(3):
        for pred in range(3):
            assert len(cell_samples(LABELS, PREDICTIONS, CONFIDENCES, LOSSES, true, pred)) == confusion[true, pred]


def test_cell_samples_sort_by_confidence_then_by_loss() -> None:
    # samples 0 (conf .6, loss 2), 2 (.8, 1), 6 (.6, 4): confidence desc, ties in validation order
    by_confidence = cell_samples(LABELS, PREDICTIONS, CONFIDENCES, LOSSES, 0, 1, sort="confidence")
    assert by_confidence.tolist() == [2, 0, 6]
    by_loss = cell_samples(LABELS, PREDICTIONS, CONFIDENCES, LOSSES, 0, 1, sort="loss")
    assert by_loss.tolist() == [6, 0, 2]
    with pytest.raises(ValueError):
        cell_samples(LABELS, PREDICTIONS, CONFIDENCES, LOSSES, 0, 1, sort="name")  # type: ignore[arg-type]


def test_class_errors_of_a_row_and_of_a_column() -> None:
    row = class_errors(LABELS, PREDICTIONS, CONFIDENCES, LOSSES, true=0)
    assert row.tolist() == [2, 0, 6]  # every class-0 sample not predicted 0
    column = class_errors(LABELS, PREDICTIONS, CONFIDENCES, LOSSES, predicted=1, sort="loss")
    assert column.tolist() == [6, 0, 2, 5]  # wrongly predicted as 1, sample 3 (right) excluded
    with pytest.raises(ValueError):
        class_errors(LABELS, PREDICTIONS, CONFIDENCES, LOSSES)
    with pytest.raises(ValueError):
        class_errors(LABELS, PREDICTIONS, CONFIDENCES, LOSSES, true=0, predicted=1)


def test_confusion_from_predictions_counts_every_sample() -> None:
    confusion = confusion_from_predictions(LABELS, PREDICTIONS, 3)
    assert confusion.sum() == len(LABELS)
    assert confusion[0, 1] == 3 and confusion[1, 2] == 1 and confusion.dtype == np.int64


def test_accuracy_trend_is_the_change_over_the_last_epochs() -> None:
    history = [[0.1, 0.5], [0.2, 0.5], [0.3, 0.5], [0.6, 0.4]]
    np.testing.assert_allclose(accuracy_trend(history, window=3), [0.5, -0.1])
    np.testing.assert_allclose(accuracy_trend(history, window=1), [0.3, -0.1])
    np.testing.assert_allclose(accuracy_trend(history[:1]), [0.0, 0.0])
    assert accuracy_trend([]).shape == (0,)


def test_report_imports_neither_textual_nor_rich() -> None:
    code = "import sys, tui_trainer.runs.report; print('textual' in sys.modules or 'rich' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

"""The ROC, precision-recall and calibration figures (engine.calibration) on cases small enough to
work out by hand, and the properties any ranking figure must have."""

from __future__ import annotations

import numpy as np
import pytest

from tui_trainer.engine.calibration import (
    BINS,
    CURVE_POINTS,
    precision_recall_curve,
    reliability,
    roc_curve,
    separation,
)

SCORES = np.array([0.1, 0.4, 0.35, 0.8])
POSITIVE = np.array([False, False, True, True])


def test_a_hand_worked_ranking_gives_its_auc_and_average_precision() -> None:
    # Positives score 0.35 and 0.8, negatives 0.1 and 0.4: 3 of the 4 positive-negative pairs are in order.
    roc = roc_curve(SCORES, POSITIVE)
    assert roc is not None and roc.area == pytest.approx(0.75)
    assert roc.x.tolist() == [0.0, 0.0, 0.5, 0.5, 1.0] and roc.y.tolist() == [0.0, 0.5, 0.5, 1.0, 1.0]
    # Thresholds 0.8, 0.4, 0.35: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1 -> AP = 1/2 + 0 + 1/2 * 2/3.
    pr = precision_recall_curve(SCORES, POSITIVE)
    assert pr is not None and pr.area == pytest.approx(0.5 + 1 / 3)


def test_a_perfect_ranking_scores_1_and_a_reversed_one_0() -> None:
    positive = np.array([True, True, False, False, False])
    scores = np.array([0.9, 0.7, 0.6, 0.2, 0.1])
    assert roc_curve(scores, positive).area == 1.0
    assert precision_recall_curve(scores, positive).area == 1.0
    assert roc_curve(1 - scores, positive).area == 0.0


def test_tied_scores_count_half_whatever_their_order() -> None:
    assert roc_curve(np.full(6, 0.5), np.array([1, 0, 1, 0, 0, 0], bool)).area == pytest.approx(0.5)
    assert precision_recall_curve(np.full(6, 0.5), np.array([1, 0, 1, 0, 0, 0], bool)).area == pytest.approx(2 / 6)
    # One positive tied with one of two negatives: it beats one and ties the other -> 0.75, in either order.
    for order in ([0, 1, 2], [1, 0, 2]):
        scores, positive = np.array([0.5, 0.5, 0.2])[order], np.array([True, False, False])[order]
        assert roc_curve(scores, positive).area == pytest.approx(0.75)


def test_a_class_without_positives_has_no_curve_and_is_named() -> None:
    probabilities = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.7, 0.2, 0.1], [0.3, 0.6, 0.1]], np.float16)
    ranked = separation(probabilities, np.array([0, 1, 0, 1]))
    assert ranked.auc == [1.0, 1.0, None] and ranked.ap[2] is None
    assert ranked.without_curve == [2]
    assert ranked.macro_auc == 1.0  # the mean of the classes that have a curve
    only = separation(np.ones((3, 1), np.float16), np.zeros(3, np.int64))  # nothing to tell apart
    assert only.auc == [None] and only.ap == [1.0] and only.macro_auc is None


def test_macro_auc_is_the_mean_of_the_one_vs_rest_aucs() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 400)
    logits = rng.normal(size=(400, 4)) + 2.0 * np.eye(4)[labels]
    probabilities = (np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)).astype(np.float16)
    ranked = separation(probabilities, labels)
    each = [roc_curve(probabilities[:, k], labels == k).area for k in range(4)]
    assert ranked.auc == pytest.approx(each) and ranked.macro_auc == pytest.approx(np.mean(each))
    assert 0.8 < ranked.macro_auc < 1.0  # better than chance, not perfect
    # AUC is the chance that a random positive outranks a random negative (ties half).
    pos, neg = probabilities[labels == 0, 0].astype(float), probabilities[labels != 0, 0].astype(float)
    pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert ranked.auc[0] == pytest.approx(pairs)


def test_a_long_curve_is_thinned_to_at_most_101_points_keeping_its_ends() -> None:
    rng = np.random.default_rng(1)
    curve = roc_curve(rng.random(5000), rng.random(5000) < 0.3)
    assert len(curve.x) > CURVE_POINTS
    thin = curve.thinned()
    assert len(thin.x) <= CURVE_POINTS and thin.area == curve.area
    assert (thin.x[0], thin.y[0], thin.x[-1], thin.y[-1]) == (0.0, 0.0, 1.0, 1.0)


def test_reliability_bins_and_calibration_errors_by_hand() -> None:
    # Four predictions at 0.95 confidence, three right (gap 0.2); two at 0.5, both right (gap 0.5).
    result = reliability(np.array([0.95] * 4 + [0.5] * 2), np.array([1, 1, 1, 0, 1, 1], bool))
    assert len(result.bins) == BINS and sum(b.count for b in result.bins) == 6
    top, middle = result.bins[-1], result.bins[7]  # (14/15, 1] and (7/15, 8/15]
    assert (top.count, top.accuracy, top.confidence) == (4, 0.75, pytest.approx(0.95))
    assert (middle.count, middle.accuracy, middle.confidence) == (2, 1.0, 0.5)
    assert result.bins[0].accuracy is None and result.bins[0].confidence is None
    assert result.ece == pytest.approx((4 * 0.2 + 2 * 0.5) / 6)
    assert result.mce == pytest.approx(0.5)


def test_honest_confidence_has_no_calibration_error_and_no_samples_none() -> None:
    result = reliability(np.array([0.6] * 5 + [1.0] * 2), np.array([1, 1, 1, 0, 0, 1, 1], bool))
    assert result.ece == pytest.approx(0.0) and result.mce == pytest.approx(0.0)
    assert result.bins[-1].count == 2  # 1.0 is in the last bin, (14/15, 1]
    assert reliability(np.array([1 / 15, 0.0]), np.array([True, True])).bins[0].count == 2  # upper edge included
    empty = reliability(np.zeros(0), np.zeros(0, bool))
    assert empty.ece is None and empty.mce is None

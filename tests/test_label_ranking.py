"""Confident learning's ranking of likely label errors, on made-up probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from tui_trainer.runs.label_review import class_thresholds, find_label_issues

# --------------------------------------------------------------------------------------------- ranking


def test_thresholds_are_each_class_mean_self_confidence() -> None:
    labels = np.array([0, 0, 1, 1, 1])
    probs = np.array([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8], [0.4, 0.6], [0.0, 1.0]])
    thresholds = class_thresholds(labels, probs)
    np.testing.assert_allclose(thresholds, [0.7, 0.8])
    three = class_thresholds(labels, np.c_[probs * 0.5, np.full(5, 0.5)])
    assert three[2] == np.inf  # no sample is labelled with class 2: nothing is confidently of it


def test_a_sample_confidently_of_another_class_is_a_candidate_and_the_least_self_confident_comes_first() -> None:
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    probs = np.array(
        [
            [0.95, 0.05],
            [0.9, 0.1],
            [0.1, 0.9],  # labelled 0, confidently 1: the clearest error
            [0.55, 0.45],  # unsure, below class 1's threshold: not a candidate
            [0.05, 0.95],
            [0.1, 0.9],
            [0.7, 0.3],  # labelled 1, confidently 0 (threshold of 0 is 0.625)
            [0.2, 0.8],
        ]
    )
    issues = find_label_issues(labels, probs)
    assert issues.indices.tolist() == [2, 6]
    assert issues.given.tolist() == [0, 1] and issues.suspected.tolist() == [1, 0]
    np.testing.assert_allclose(issues.self_confidence, [0.1, 0.3])
    np.testing.assert_allclose(issues.suspected_probability, [0.9, 0.7])


def test_a_clean_confident_set_has_no_candidates_and_mismatched_shapes_are_refused() -> None:
    labels = np.arange(30) % 3
    probs = np.full((30, 3), 0.05)
    probs[np.arange(30), labels] = 0.9
    assert len(find_label_issues(labels, probs)) == 0
    with pytest.raises(ValueError, match="do not describe the same samples"):
        find_label_issues(labels[:5], probs)
    with pytest.raises(ValueError, match="beyond the 3"):
        find_label_issues(labels + 1, probs)


def test_random_flips_with_noisy_probabilities_rank_at_the_top() -> None:
    """A model right on most samples: the samples whose label was changed are the ones the ranking finds."""
    rng = np.random.default_rng(0)
    n, k = 600, 5
    truth = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), truth] += 3.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    flipped = rng.choice(n, 30, replace=False)
    labels = truth.copy()
    labels[flipped] = (truth[flipped] + rng.integers(1, k, 30)) % k
    issues = find_label_issues(labels, probs)
    top = set(issues.indices[:60].tolist())
    assert len(top & set(flipped.tolist())) >= 24

"""Which samples are most likely mislabelled: confident learning's ranking, from out-of-sample probabilities.

Confident learning (Northcutt et al., 2021; cleanlab's `find_label_issues`) trusts a class's
probability only above that class's own threshold: the mean probability the model gives the
samples labelled with it (its average self-confidence). A sample is flagged when, among the
classes whose probability reaches their threshold, the most probable is not its given label; the
samples the model predicts as another class join them (cleanlab's "predicted_neq_given"), since
the strict rule alone misses a wrong label whose true class the model is only fairly sure of.
Every candidate is ranked by self-confidence, the probability of its given label, lowest first
(cleanlab's default ranking); its suspected class is its confident class, else the predicted one.

The probabilities must be out-of-sample: validation predictions are; a model's predictions on its
own training images are not (it has learnt their labels, wrong ones included): the training set is
ranked on out-of-fold predictions (`runs/out_of_fold.py`, `tui-trainer review RUN --train`). Pure
numpy: written here rather than taken from `cleanlab`, which would pull scikit-learn and pandas into
the install for these few lines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BASIS = (
    "confident learning on the validation predictions (a class counts above its mean self-confidence) "
    "and the model's errors, ranked by the probability of the given label, lowest first"
)
"""What the ranking is based on, in words, for the screen and the benchmark."""


def class_thresholds(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Per class, the mean probability of that class over the samples labelled with it (float64 [K]).

    A class no sample is labelled with gets +inf: no sample is ever confidently of it.
    """
    labels = np.asarray(labels, dtype=np.int64)
    probs = np.asarray(probabilities, dtype=np.float64)
    k = probs.shape[1]
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    sums = np.bincount(labels, weights=probs[np.arange(len(labels)), labels], minlength=k)
    thresholds = np.full(k, np.inf)
    np.divide(sums, counts, out=thresholds, where=counts > 0)
    return thresholds


@dataclass(frozen=True)
class LabelIssues:
    """The candidates, most likely mislabelled first: sample indices and, per candidate, its figures."""

    indices: np.ndarray  # int64 [M], into the predictions' samples
    given: np.ndarray  # int64 [M], the label in the data
    suspected: np.ndarray  # int64 [M], the confident class that is not the given one
    self_confidence: np.ndarray  # float64 [M], probability of the given label (the rank key)
    suspected_probability: np.ndarray  # float64 [M]
    thresholds: np.ndarray  # float64 [K]

    def __len__(self) -> int:
        return len(self.indices)


def find_label_issues(labels: np.ndarray, probabilities: np.ndarray) -> LabelIssues:
    """Rank the samples whose confident or predicted class differs from their label (see the module's docstring).

    `labels` int [N] in 0..K-1, `probabilities` [N, K] rows summing to about 1 (softmax, class
    order). ValueError when the shapes do not fit together.
    """
    labels = np.asarray(labels, dtype=np.int64)
    probs = np.asarray(probabilities, dtype=np.float64)
    if probs.ndim != 2 or labels.shape != (probs.shape[0],):
        raise ValueError(f"labels {labels.shape} and probabilities {probs.shape} do not describe the same samples")
    n, k = probs.shape
    if n and (labels.min() < 0 or labels.max() >= k):
        raise ValueError(f"labels name a class beyond the {k} the probabilities have")
    thresholds = class_thresholds(labels, probs)
    if n == 0:
        probs = np.zeros((0, k))
    # The classes each sample is confidently of; among them the most probable is its confident class.
    confident = np.where(probs >= thresholds, probs, -np.inf)
    has_confident = np.isfinite(confident.max(axis=1, initial=-np.inf))
    predicted = probs.argmax(axis=1) if n else labels
    suspected = np.where(has_confident, confident.argmax(axis=1) if n else labels, predicted)
    # Confident learning's own flag, or the model's error where no class is confident (the same test then).
    candidates = np.flatnonzero((suspected != labels) & (has_confident | (predicted != labels)))
    order = candidates[np.argsort(probs[candidates, labels[candidates]], kind="stable")]
    return LabelIssues(
        indices=order,
        given=labels[order],
        suspected=suspected[order].astype(np.int64),
        self_confidence=probs[order, labels[order]],
        suspected_probability=probs[order, suspected[order]],
        thresholds=thresholds,
    )


def found_in_top(issues: LabelIssues, flipped: np.ndarray, top: int) -> int:
    """How many of the `flipped` sample indices are among the first `top` candidates (for tests and the benchmark)."""
    return int(np.isin(issues.indices[:top], np.asarray(flipped)).sum())

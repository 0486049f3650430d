"""Is the confidence honest: one-vs-rest ROC and precision-recall curves, and calibration.

The one place these figures are computed; the epoch record, `--eval`'s report.json and the
confusion screen's calibration view read them from here. Numpy only, so a front end imports it
cheaply and no sklearn is needed. The conventions follow scikit-learn's, so the numbers agree:

- ROC of class k: samples of class k are positives, the rest negatives, ranked by the probability
  of k. Samples with equal scores form one step (a tie is a diagonal segment, worth half), so the
  order of tied samples never changes a figure. AUC is the area under the curve (trapezoids).
- Precision-recall: average precision AP = Σ (Rₙ − Rₙ₋₁) Pₙ over the same thresholds (no
  interpolation), the curve starting at recall 0, precision 1.
- A class without positives has neither curve (recall is undefined), one without negatives no ROC
  curve (the false-positive rate is undefined); macro figures average the classes that have one.
- Reliability: the predicted class's confidence in 15 equal-width bins (lower, upper], each with
  its accuracy, mean confidence and count; ECE = Σ count/N · |accuracy − confidence|, MCE the
  largest gap of a non-empty bin (Guo et al., 2017).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BINS = 15
"""Reliability bins: the number Guo et al. and most calibration papers use."""

CURVE_POINTS = 101
"""The most points a stored or drawn curve keeps (a terminal chart shows fewer)."""


@dataclass(frozen=True)
class Curve:
    """A ROC curve (x: false-positive rate, y: true-positive rate) or a precision-recall curve
    (x: recall, y: precision), with the area that summarises it (AUC or average precision)."""

    x: np.ndarray  # float64, non-decreasing
    y: np.ndarray  # float64
    area: float

    def thinned(self, points: int = CURVE_POINTS) -> Curve:
        """At most `points` points, evenly spread along the curve, its ends kept (the area stays the full curve's)."""
        if len(self.x) <= points:
            return self
        keep = np.unique(np.linspace(0, len(self.x) - 1, points).round().astype(np.int64))
        return Curve(self.x[keep], self.y[keep], self.area)


@dataclass(frozen=True)
class ClassCurves:
    """One class's one-vs-rest curves; None where the data cannot define one (see the module)."""

    roc: Curve | None
    pr: Curve | None


_ONE = int(np.float16(1.0).view(np.uint16))
"""The bit pattern of 1.0 in float16: non-negative float16 values sort as their bit patterns do."""
_INFINITY = int(np.float16(np.inf).view(np.uint16))
"""Patterns above it are NaN or negative."""


def _keys(scores: np.ndarray) -> np.ndarray:
    """Probabilities as the uint16 bit patterns of their float16 values: in [0, 1] these order as the
    values do, so counting samples per key ranks them without a sort. Keys are clipped to [0, 1];
    NaN and negative values (sign bit set, or beyond infinity's pattern) count as 0."""
    keys = np.asarray(scores).astype(np.float16, copy=False).view(np.uint16)
    return np.where(keys > _INFINITY, np.uint16(0), np.minimum(keys, np.uint16(_ONE)))


def _curves(keys: np.ndarray, positive: np.ndarray) -> ClassCurves:
    """Both curves of one class: true and false positives at each distinct score, highest first
    (tied samples counted together), from one count of its keys (1000 classes of 50k images: about a
    second; sorting each column took thirty)."""
    positive = np.asarray(positive, bool)
    if not positive.any():
        return ClassCurves(None, None)
    samples = np.bincount(keys, minlength=_ONE + 1)
    present = np.flatnonzero(samples)[::-1]
    tps = np.cumsum(np.bincount(keys[positive], minlength=_ONE + 1)[present]).astype(np.float64)
    fps = np.cumsum(samples[present]) - tps
    recall = tps / tps[-1]
    precision = tps / (tps + fps)
    pr = Curve(np.r_[0.0, recall], np.r_[1.0, precision], float(np.sum(np.diff(np.r_[0.0, recall]) * precision)))
    if positive.all():
        return ClassCurves(None, pr)
    tpr, fpr = np.r_[0.0, recall], np.r_[0.0, fps / fps[-1]]
    roc = Curve(fpr, tpr, float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2)))  # trapezoids
    return ClassCurves(roc, pr)


def roc_curve(scores: np.ndarray, positive: np.ndarray) -> Curve | None:
    """The ROC curve of probabilities `scores` against boolean `positive`, from (0, 0); None when
    there are no positives or no negatives."""
    return _curves(_keys(scores), positive).roc


def precision_recall_curve(scores: np.ndarray, positive: np.ndarray) -> Curve | None:
    """The precision-recall curve, by increasing recall from (0, 1), and its average precision;
    None when there are no positives."""
    return _curves(_keys(scores), positive).pr


@dataclass(frozen=True)
class Separation:
    """How well the probabilities rank each class above the rest: per-class curves and macro figures."""

    classes: tuple[ClassCurves, ...]  # in class order

    @property
    def auc(self) -> list[float | None]:
        return [None if c.roc is None else c.roc.area for c in self.classes]

    @property
    def ap(self) -> list[float | None]:
        return [None if c.pr is None else c.pr.area for c in self.classes]

    @property
    def macro_auc(self) -> float | None:
        """The mean AUC of the classes with a ROC curve; None when none has one."""
        return _mean(self.auc)

    @property
    def macro_ap(self) -> float | None:
        """The mean average precision of the classes with positives."""
        return _mean(self.ap)

    @property
    def macro_roc(self) -> Curve | None:
        """The classes' ROC curves averaged at 101 false-positive rates (what "all" draws), with the macro AUC."""
        return _mean_curve([c.roc for c in self.classes if c.roc is not None], self.macro_auc)

    @property
    def macro_pr(self) -> Curve | None:
        """The classes' precision-recall curves averaged at 101 recalls, with the macro AP."""
        return _mean_curve([c.pr for c in self.classes if c.pr is not None], self.macro_ap)

    @property
    def without_curve(self) -> list[int]:
        """Classes with no ROC curve (no positives, or nothing else): what a view should say it leaves out."""
        return [k for k, c in enumerate(self.classes) if c.roc is None]


def _mean_curve(curves: list[Curve], area: float | None) -> Curve | None:
    if not curves or area is None:
        return None
    grid = np.linspace(0.0, 1.0, CURVE_POINTS)
    return Curve(grid, np.mean([np.interp(grid, c.x, c.y) for c in curves], axis=0), area)


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None


def separation(probabilities: np.ndarray, labels: np.ndarray) -> Separation:
    """One-vs-rest ROC and precision-recall curves of each class from the N×K `probabilities`."""
    columns = np.ascontiguousarray(_keys(probabilities).T)  # one class's scores side by side
    labels = np.asarray(labels, np.int64)
    return Separation(tuple(_curves(columns[k], labels == k) for k in range(columns.shape[0])))


@dataclass(frozen=True)
class ReliabilityBin:
    lower: float
    upper: float  # the bin holds confidences in (lower, upper]; the first one also 0
    count: int
    accuracy: float | None  # share of correct predictions; None for an empty bin
    confidence: float | None  # mean confidence; None for an empty bin


@dataclass(frozen=True)
class Reliability:
    """The reliability diagram and the calibration errors it gives; ece and mce are None without samples."""

    bins: tuple[ReliabilityBin, ...]
    ece: float | None
    mce: float | None


def reliability(confidences: np.ndarray, correct: np.ndarray, bins: int = BINS) -> Reliability:
    """Bin each sample's confidence in its predicted class; `correct` says whether the prediction was right."""
    confidences, correct = np.asarray(confidences, np.float64), np.asarray(correct, bool)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, confidences, side="left") - 1, 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    hits = np.bincount(index, weights=correct.astype(np.float64), minlength=bins)
    sums = np.bincount(index, weights=confidences, minlength=bins)
    rows, gaps = [], []
    for b in range(bins):
        n = int(counts[b])
        accuracy, confidence = (float(hits[b] / n), float(sums[b] / n)) if n else (None, None)
        rows.append(ReliabilityBin(float(edges[b]), float(edges[b + 1]), n, accuracy, confidence))
        if n:
            gaps.append((n, abs(hits[b] / n - sums[b] / n)))
    total = len(confidences)
    ece = float(sum(n * gap for n, gap in gaps) / total) if total else None
    mce = float(max(gap for _, gap in gaps)) if gaps else None
    return Reliability(tuple(rows), ece, mce)


def honesty(
    labels: np.ndarray, predictions: np.ndarray, confidences: np.ndarray, probabilities: np.ndarray | None
) -> tuple[Reliability, Separation | None]:
    """What a set of predictions says of its confidence: the reliability diagram (it needs only each
    prediction's confidence) and, when every class's probability is there (N×K), the ROC and
    precision-recall curves. An epoch's record, report.json and the confusion screen all start here."""
    correct = np.asarray(labels) == np.asarray(predictions)
    ranked = separation(probabilities, labels) if probabilities is not None else None
    return reliability(confidences, correct), ranked

"""The calibration and ranking figures of a set of predictions, as report.json holds them.

`--eval`'s report.json and the confusion screen's calibration view both come through here, so the
keys and their meaning are written once:

- `calibration`: `ece`, `mce` and 15 `bins` of the predicted class's confidence (`lower`, `upper`,
  `count`, `accuracy`, `confidence`; the last two null for an empty bin);
- `roc_auc`, `average_precision`: `macro` and `per_class` (in the order of `classes`; null for a
  class without positives, or, for ROC, without negatives); null as a whole when the predictions
  predate class probabilities.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..engine.calibration import Reliability, honesty


def reliability_record(result: Reliability) -> dict[str, Any]:
    return {
        "ece": result.ece,
        "mce": result.mce,
        "bins": [
            {"lower": b.lower, "upper": b.upper, "count": b.count, "accuracy": b.accuracy, "confidence": b.confidence}
            for b in result.bins
        ],
    }


def calibration_section(
    labels: np.ndarray, predictions: np.ndarray, confidences: np.ndarray, probabilities: np.ndarray | None
) -> dict[str, Any]:
    """The `calibration`, `roc_auc` and `average_precision` keys of a report.

    Calibration needs only each prediction's confidence, so it is there for every predictions file;
    ROC and precision-recall need every class's probability (`probabilities`, N×K)."""
    binned, ranked = honesty(labels, predictions, confidences, probabilities)
    section: dict[str, Any] = {"calibration": reliability_record(binned), "roc_auc": None, "average_precision": None}
    if ranked is not None:
        section["roc_auc"] = {"macro": ranked.macro_auc, "per_class": ranked.auc}
        section["average_precision"] = {"macro": ranked.macro_ap, "per_class": ranked.ap}
    return section

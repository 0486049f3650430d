"""The one reader of a predictions file: a run's `predictions-<which>.npz`, an evaluation's `predictions.npz`.

Both hold the same arrays (`labels`, `predictions`, `confidences`, `losses`, `confusion`,
`classes`, `epoch`, and `paths` for an evaluation of a data folder); the run folder and the
evaluation folder name the file, this module opens it. Loaded without pickle, so a file can
only hold arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..engine.events import Predictions
from ..regular_file import MAX_ARRAY_BYTES, UnsafeFile, open_binary
from .report import confusion_from_predictions


def load_arrays(path: Path) -> dict[str, Any]:
    """Every array of the file as it is stored (`classes` as a tuple of names, `epoch` as an int).

    ValueError when it is not a regular file or holds more than MAX_ARRAY_BYTES (stored or unpacked).
    """
    try:
        with open_binary(path, MAX_ARRAY_BYTES) as handle, np.load(handle, allow_pickle=False) as data:
            unpacked = sum(info.file_size for info in data.zip.infolist())
            if unpacked > MAX_ARRAY_BYTES:
                raise ValueError(f"{path}: unpacks to {unpacked} bytes, more than {MAX_ARRAY_BYTES}")
            out: dict[str, Any] = {key: data[key] for key in data.files}
    except UnsafeFile as exc:
        raise ValueError(str(exc)) from None
    out["classes"] = tuple(str(c) for c in np.asarray(out["classes"]).tolist())
    if "epoch" in out:
        out["epoch"] = int(out["epoch"])
    return out


@dataclass(frozen=True)
class SavedPredictions:
    """A predictions file, checked: the per-sample arrays fit together and the matrix fits the classes."""

    predictions: Predictions
    confusion: np.ndarray  # int64 K×K, counted from the samples when the file has none
    epoch: int | None
    paths: tuple[str, ...] | None  # the source file of each sample, where the file records them


def read_saved_predictions(path: Path) -> SavedPredictions:
    """The checked contents of a predictions file; ValueError when its arrays do not fit together."""
    arrays = load_arrays(path)
    labels = np.asarray(arrays["labels"], dtype=np.int64)
    predicted = np.asarray(arrays["predictions"], dtype=np.int64)
    confidences = np.asarray(arrays["confidences"], dtype=np.float32)
    losses = np.asarray(arrays["losses"], dtype=np.float32)
    classes: tuple[str, ...] = arrays["classes"]
    n = labels.shape[0]
    if not (predicted.shape == confidences.shape == losses.shape == (n,)):
        raise ValueError(f"{path}: labels, predictions, confidences and losses differ in length")
    k = len(classes)
    confusion = arrays.get("confusion")
    confusion = (
        confusion_from_predictions(labels, predicted, k) if confusion is None else np.asarray(confusion, np.int64)
    )
    if confusion.shape != (k, k):
        raise ValueError(f"{path}: confusion is {confusion.shape}, expected {(k, k)} for {k} classes")
    paths = tuple(str(p) for p in arrays["paths"].tolist()) if "paths" in arrays else None
    return SavedPredictions(
        Predictions(labels, predicted, confidences, losses, classes), confusion, arrays.get("epoch"), paths
    )

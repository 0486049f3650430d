"""The one reader and writer of a predictions file: a run's `predictions-<which>.npz`, an evaluation's
`predictions.npz`, the training set's out-of-fold `predictions-train-oof.npz`.

Both hold the same arrays (`labels`, `predictions`, `confidences`, `losses`, `confusion`,
`classes`, `epoch`, `probabilities` (float16 N×K softmax, absent from files written before runs kept
it), and `paths` for an evaluation of a data folder); the run folder and the evaluation folder name
the file, this module opens it. Loaded without pickle, so a file can
only hold arrays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write_with
from ..engine.events import Predictions
from ..regular_file import MAX_ARRAY_BYTES, UnsafeFile, open_binary
from ..text import printable
from .report import confusion_from_predictions


def write_predictions_file(
    path: Path, arrays: Mapping[str, np.ndarray], classes: Sequence[str], **scalars: int
) -> None:
    """Write the per-sample `arrays`, the class names and the `scalars` that go with them (`epoch`; an
    out-of-fold file's `folds`, `epochs`, `seed`) in one atomic step: the old file stays whole until then."""
    payload: dict[str, Any] = {
        **arrays,
        "classes": np.array(list(classes), dtype=str),
        **{key: np.array(value, dtype=np.int64) for key, value in scalars.items()},
    }
    atomic_write_with(path, lambda handle: np.savez(handle, **payload))


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


PER_SAMPLE = ("labels", "predictions", "confidences", "losses")

NO_PROBABILITIES = "this run's predictions predate probabilities: evaluate again (`tui-trainer eval RUN`)"
"""What a view that needs each sample's class probabilities says about an older predictions file."""


def no_probabilities(run_dir: str | Path | None) -> str:
    """NO_PROBABILITIES naming the run folder (escaped for the terminal) where it is known."""
    return NO_PROBABILITIES if run_dir is None else NO_PROBABILITIES.replace("RUN", printable(str(run_dir)))


def load_checked_arrays(path: Path) -> dict[str, Any]:
    """`load_arrays`, checked as every screen needs them: the per-sample arrays are one-dimensional and
    equally long, labels and predictions name classes the file lists, and `confusion` (counted from
    the samples when the file has none) is K×K. ValueError naming the file otherwise: a damaged or
    half-replaced file must cost its epoch's drill-down, not the console."""
    arrays = load_arrays(path)
    missing = [key for key in PER_SAMPLE if key not in arrays]
    if missing:
        raise ValueError(f"{path}: no {', '.join(missing)} array")
    labels, predicted = (np.asarray(arrays[key], dtype=np.int64) for key in ("labels", "predictions"))
    confidences, losses = (np.asarray(arrays[key], dtype=np.float32) for key in ("confidences", "losses"))
    k, n = len(arrays["classes"]), labels.shape[0] if labels.ndim == 1 else -1
    if not (labels.shape == predicted.shape == confidences.shape == losses.shape == (n,)):
        raise ValueError(f"{path}: labels, predictions, confidences and losses differ in length")
    if n and (min(labels.min(), predicted.min()) < 0 or max(labels.max(), predicted.max()) >= k):
        raise ValueError(f"{path}: labels or predictions name a class beyond the {k} the file lists")
    confusion = arrays.get("confusion")
    confusion = (
        confusion_from_predictions(labels, predicted, k) if confusion is None else np.asarray(confusion, np.int64)
    )
    if confusion.shape != (k, k):
        raise ValueError(f"{path}: confusion is {confusion.shape}, expected {(k, k)} for {k} classes")
    probabilities = arrays.get("probabilities")
    if probabilities is not None:
        if probabilities.shape != (n, k) or probabilities.dtype.kind != "f":
            raise ValueError(f"{path}: probabilities is {probabilities.dtype} {probabilities.shape}, expected {(n, k)}")
        arrays["probabilities"] = probabilities.astype(np.float16, copy=False)
    arrays.update(labels=labels, predictions=predicted, confidences=confidences, losses=losses, confusion=confusion)
    return arrays


def read_saved_predictions(path: Path) -> SavedPredictions:
    """The checked contents of a predictions file; ValueError when its arrays do not fit together."""
    return saved_predictions(load_checked_arrays(path))


def saved_predictions(arrays: dict[str, Any]) -> SavedPredictions:
    """The SavedPredictions of arrays `load_checked_arrays` returned (a file with more arrays reads them too)."""
    labels, predicted, confidences, losses = (arrays[key] for key in PER_SAMPLE)
    paths = tuple(str(p) for p in arrays["paths"].tolist()) if "paths" in arrays else None
    return SavedPredictions(
        Predictions(labels, predicted, confidences, losses, arrays["classes"], arrays.get("probabilities")),
        arrays["confusion"],
        arrays.get("epoch"),
        paths,
    )

"""The misclassified validation images as a CSV a user can open, sort and act on (relabel, delete).

One row per wrong prediction, largest loss first: the order a data cleaner works through.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_text
from ..text import printable, source_path

COLUMNS = ("index", "path", "true", "predicted", "confidence", "loss")


def misclassified_csv(
    labels: np.ndarray,
    predictions: np.ndarray,
    confidences: np.ndarray,
    losses: np.ndarray,
    classes: Sequence[str],
    paths: Sequence[str] | None = None,
) -> tuple[str, int]:
    """(CSV text, number of rows) of every sample whose prediction is wrong, largest loss first.

    `path` is the image's source file when the data came from files (absolute, without `..`: the
    file is read from anywhere), empty otherwise; `index` is
    its position in the validation set either way. A control character in a path or class name is
    written as `\\xNN` (`printable`), so printing the file never sends an escape sequence to a terminal.
    """
    labels = np.asarray(labels)
    predictions = np.asarray(predictions)
    losses = np.asarray(losses, dtype=np.float64)
    wrong = np.flatnonzero(labels != predictions)
    order = wrong[np.argsort(-losses[wrong], kind="stable")]

    def name(i: int) -> str:
        return printable(classes[i]) if 0 <= i < len(classes) else str(i)

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for i in order.tolist():
        path = printable(source_path(paths[i], relative=False)) if paths is not None and i < len(paths) else ""
        writer.writerow(
            (
                i,
                path,
                name(int(labels[i])),
                name(int(predictions[i])),
                f"{float(confidences[i]):.4f}",
                f"{losses[i]:.4f}",
            )
        )
    return buffer.getvalue(), len(order)


def write_misclassified_csv(folder: Path, stem: str, text: str) -> Path:
    """Write `text` atomically as `<folder>/misclassified-<stem>.csv` and return its path."""
    path = Path(folder) / f"misclassified-{stem}.csv"
    atomic_write_text(path, text)
    return path

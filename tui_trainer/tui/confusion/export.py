"""The `e` key of the confusion screens: the misclassified images of the shown epoch as a CSV in the run folder."""

from __future__ import annotations

from pathlib import Path

from textual.screen import Screen

from ...runs.misclassified import misclassified_csv, write_misclassified_csv
from ...runs.view import RunView
from ...text import printable
from .source import current_epoch, sample_paths


def export_stem(history: RunView) -> str:
    """`last-epoch3`, `best-epoch2`, or `eval` for an evaluation folder: which predictions the file lists."""
    label = history.label or "last"
    if history.scope != "val":
        return "eval"
    epoch = current_epoch(history)
    return f"{label if label in ('last', 'best') else 'last'}" + (f"-epoch{epoch}" if epoch is not None else "")


def export_misclassified(screen: Screen, history: RunView) -> Path | None:
    """Write the CSV and tell the user where it is (or why there is none); returns its path."""
    predictions = history.predictions
    if predictions is None:
        screen.notify("No per-sample predictions yet: they arrive with the first finished epoch.", severity="warning")
        return None
    if history.run_dir is None:
        screen.notify("This history has no run folder to write the list into.", severity="warning")
        return None
    p = predictions
    names = tuple(history.classes) or p.classes
    paths = sample_paths(history, len(p.labels))
    text, rows = misclassified_csv(p.labels, p.predictions, p.confidences, p.losses, names, paths)
    try:
        path = write_misclassified_csv(Path(history.run_dir), export_stem(history), text)
    except OSError as exc:  # a full disk too (DiskFullError)
        screen.notify(
            printable(f"Could not write the list into {history.run_dir}: {exc}"), severity="error", markup=False
        )
        return None
    files = "" if paths is not None else " (no file names: the data did not come from image files)"
    screen.notify(
        printable(f"{rows} misclassified image{'s' if rows != 1 else ''} written to {path}{files}"), markup=False
    )
    return path

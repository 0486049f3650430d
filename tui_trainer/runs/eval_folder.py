"""An evaluation's folder, `RUN_DIR/evals/<YYYYmmdd-HHMMSS>-<data folder>/`: its files and their names.

It holds `report.json`, the per-sample predictions in the run folder's own predictions format and
the thumbnails under the run folder's own name, so the confusion screen reads an evaluation as it
reads a run. The folder is filled under a hidden name and renamed into place when complete, so a
reader never sees half an evaluation.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write_text
from ..regular_file import read_bytes
from .folder import RunFolderError, _slug
from .predictions_file import write_predictions_file
from .thumbnails import thumbnails_file, write_thumbnails

EVALS = "evals"
FORMAT = 1


@dataclass(frozen=True)
class EvalFolder:
    path: Path

    @property
    def report_file(self) -> Path:
        return self.path / "report.json"

    @property
    def predictions_file(self) -> Path:
        return self.path / "predictions.npz"

    @property
    def images_file(self) -> Path:
        return thumbnails_file(self.path)  # the run folder's name, read by the same thumbnail code

    @property
    def run_dir(self) -> Path:
        return self.path.parent.parent

    def read_report(self) -> dict[str, Any]:
        try:
            report = json.loads(read_bytes(self.report_file))
        except FileNotFoundError:
            raise RunFolderError(f"{self.path}: no report.json, so this is not an evaluation folder") from None
        except (OSError, ValueError) as exc:
            raise RunFolderError(f"{self.report_file}: unreadable ({exc})") from None
        if not isinstance(report, dict) or int(report.get("format", 0)) > FORMAT:
            raise RunFolderError(f"{self.report_file}: not an evaluation report this version can read")
        return report


def is_eval_folder(path: Path) -> bool:
    return (Path(path) / "report.json").is_file()


def list_evals(run_dir: Path) -> list[EvalFolder]:
    """The run's complete evaluations, oldest first (their names start with the time)."""
    root = Path(run_dir) / EVALS
    if not root.is_dir():
        return []
    return [EvalFolder(p) for p in sorted(root.iterdir()) if not p.name.startswith(".") and is_eval_folder(p)]


def write_eval_folder(
    run_dir: Path,
    name: str,
    report: dict[str, Any],
    predictions: dict[str, np.ndarray],
    classes: tuple[str, ...],
    epoch: int,
    thumbnails: tuple[tuple[int, ...], Iterable[np.ndarray]] | None,
) -> EvalFolder:
    """Write a complete evaluation folder under `run_dir/evals/` and return it."""
    root = Path(run_dir) / EVALS
    root.mkdir(parents=True, exist_ok=True)
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{_slug(name)}"
    partial = EvalFolder(root / f".{stem}.{os.getpid()}.partial")
    partial.path.mkdir()
    try:
        write_predictions_file(partial.predictions_file, predictions, classes, epoch=epoch)
        if thumbnails is not None:
            write_thumbnails(partial.images_file, *thumbnails)
        atomic_write_text(partial.report_file, json.dumps({"format": FORMAT, **report}, indent=2) + "\n")
    except BaseException:
        shutil.rmtree(partial.path, ignore_errors=True)  # a full disk leaves no half evaluation behind
        raise
    for attempt in range(1, 1000):
        final = root / (stem if attempt == 1 else f"{stem}-{attempt}")
        try:
            os.rename(partial.path, final)  # fails on an existing non-empty folder: try the next name
        except OSError:
            if final.exists():
                continue
            raise
        return EvalFolder(final)
    raise RunFolderError(f"{root}: could not name an evaluation folder {stem}")

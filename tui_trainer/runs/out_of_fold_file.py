"""The training set's out-of-fold predictions file (`predictions-train-oof.npz`): written and read here.

It holds the arrays of every predictions file (`labels`, `predictions`, `confidences`, `losses`,
`confusion`, `probabilities`, `classes`; checked by `predictions_file`), plus how it was made, so the
review list can say what its ranking is based on: `folds`, `epochs`, `seed` and each sample's `fold`.
`paths` holds each training image's source file, as an evaluation's predictions file does (a run
folder keeps its validation files in val_paths.json; this file stands alone, so it may sit in the
folder `review --out` names). Written atomically: an interrupted review leaves the old file or none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .predictions_file import SavedPredictions, load_checked_arrays, saved_predictions, write_predictions_file

MADE_WITH = ("folds", "epochs", "seed")
"""The scalars that say how the predictions were made."""


def out_of_fold_basis(folds: int, epochs: int) -> str:
    """What a ranking of these predictions is based on, in words ("... 3 models, each trained 5 epochs on 2/3 ...")."""
    return (
        f"out-of-fold predictions of {folds} models, each trained {epochs} epoch{'s' if epochs != 1 else ''} "
        f"on {folds - 1}/{folds} of the training set and predicting the rest"
    )


@dataclass(frozen=True)
class OutOfFold:
    """An out-of-fold predictions file, checked."""

    saved: SavedPredictions
    folds: int
    epochs: int
    seed: int

    @property
    def basis(self) -> str:
        return out_of_fold_basis(self.folds, self.epochs)


def write_out_of_fold(
    path: Path,
    arrays: dict[str, np.ndarray],
    classes: Sequence[str],
    *,
    folds: int,
    epochs: int,
    seed: int,
    paths: Sequence[str] = (),
) -> None:
    """Write the file at `path` in one atomic step (the old file stays whole until the new one is)."""
    if paths:
        arrays = {**arrays, "paths": np.array([str(p) for p in paths], dtype=str)}
    write_predictions_file(path, arrays, classes, folds=folds, epochs=epochs, seed=seed)


def read_out_of_fold(path: Path) -> OutOfFold:
    """The checked file; ValueError naming it when it is not one (missing scalars, arrays that do not fit)."""
    arrays = load_checked_arrays(path)
    missing = [key for key in MADE_WITH if key not in arrays or np.asarray(arrays[key]).shape != ()]
    if missing:
        raise ValueError(f"{path}: not an out-of-fold predictions file (no {', '.join(missing)})")
    folds, epochs, seed = (int(arrays[key]) for key in MADE_WITH)
    if folds < 2 or epochs < 1:
        raise ValueError(f"{path}: {folds} folds of {epochs} epochs is not a cross-validation")
    saved = saved_predictions(arrays)
    if saved.paths is not None and len(saved.paths) != len(saved.predictions.labels):
        raise ValueError(f"{path}: {len(saved.paths)} paths for {len(saved.predictions.labels)} samples")
    return OutOfFold(saved, folds, epochs, seed)

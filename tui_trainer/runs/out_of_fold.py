"""Out-of-fold predictions of a run's training set, so its labels can be reviewed too (`review RUN --train`).

A model's predictions on its own training images are not out-of-sample: it has learnt their labels,
wrong ones included. So the training set is split into K stratified folds (each class dealt out
evenly, `data.subsets.stratified_folds`), and for each fold a fresh model is trained from the run's
preset by the engine's Trainer, unchanged (same model, augmentation, optimiser, schedule; seed +
fold) on the other K-1 folds, with the held-out fold as its validation set. The last epoch's
predictions on that fold are kept (not the best epoch's: picking by held-out labels would let them
in), so every training image gets probabilities from a model that never saw its label.

Fewer epochs than the run's may be asked for; the cosine schedule is then shortened alike. The
folds are held in memory (copies of the training set's rows), on the training device when they fit.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..config import Preset
from ..config.code_trust import TargetAccess
from ..data import DataSplits, load_data
from ..data.decode import Progress
from ..data.storage import choose_storage
from ..data.subsets import stratified_folds
from ..engine.cpu_threads import apply_threads
from ..engine.device import numerics_for, resolve_device
from ..engine.events import EpochFinished, Event, Predictions, RunControl
from ..engine.trainer import Trainer
from ..text import printable
from .folder import TRAIN_OOF_NAME, RunFolder, RunFolderError
from .out_of_fold_file import write_out_of_fold
from .report import confusion_from_predictions

DEFAULT_FOLDS = 3


@dataclass(frozen=True)
class FoldStarted:
    fold: int  # 1-based
    folds: int
    train_images: int
    held_out_images: int


@dataclass(frozen=True)
class FoldEpoch:
    fold: int  # 1-based
    folds: int
    epoch: int
    epochs: int
    train_loss: float
    held_out_acc: float


@dataclass(frozen=True)
class OutOfFoldResult:
    file: Path
    predictions: Predictions
    folds: int
    epochs: int


class FoldsStopped(Exception):
    """A stop was asked (RunControl) before the last fold ended: nothing was written."""


def output_file(run_dir: Path, out_dir: Path | None) -> Path:
    """Where the file goes: the run folder, or `out_dir` when the user names one. RunFolderError, before any
    training, when that is a run folder the user does not own or cannot write (never anywhere else)."""
    if out_dir is not None:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunFolderError(f"{printable(out_dir)}: cannot make the folder ({exc.strerror or exc})") from None
        if not os.access(out_dir, os.W_OK | os.X_OK):
            raise RunFolderError(f"{printable(out_dir)}: not writable; name another folder with --out")
        return out_dir / TRAIN_OOF_NAME
    owner = run_dir.stat().st_uid
    uid = os.getuid() if hasattr(os, "getuid") else owner
    if owner != uid or not os.access(run_dir, os.W_OK | os.X_OK):
        raise RunFolderError(
            f"{printable(run_dir)}: not your folder, or not writable: name a folder for {TRAIN_OOF_NAME} with --out DIR"
        )
    return RunFolder(run_dir).train_oof_file


def fold_preset(preset: Preset, epochs: int, fold: int) -> Preset:
    """The run's preset for fold `fold` (0-based): its own seed, and `epochs` (the cosine schedule shortened alike)."""
    train = preset.train.model_copy(update={"epochs": epochs, "seed": (preset.train.seed + fold) % 2**32})
    scheduler = preset.scheduler
    if epochs < preset.train.epochs:
        t_max = max(1, round(scheduler.t_max * epochs / preset.train.epochs))
        scheduler = scheduler.model_copy(update={"t_max": t_max})
    return preset.model_copy(update={"train": train, "scheduler": scheduler})


def review_training_set(
    run_dir: Path,
    *,
    folds: int = DEFAULT_FOLDS,
    epochs: int | None = None,
    out_dir: Path | None = None,
    code: TargetAccess | None = None,
    listener: Callable[[FoldStarted | FoldEpoch], None] | None = None,
    control: RunControl | None = None,
    data_progress: Progress | None = None,
) -> OutOfFoldResult:
    """Cross-validate the run's preset over its training set and write the out-of-fold predictions file.

    Raises RunFolderError / PresetError (unusable run folder or preset, untrusted `model.target`),
    DataError, DeviceError, FoldsStopped (a stop was asked; nothing written), OSError (the write).
    """
    run_dir = Path(run_dir)
    preset = RunFolder(run_dir).read_preset_to_build(code)
    target = output_file(run_dir, out_dir)
    epochs = epochs or preset.train.epochs
    control = control or RunControl()
    device = resolve_device(preset.train.device)
    threads = apply_threads(preset.train.threads)
    splits = load_data(preset.data, seed=preset.train.seed, progress=data_progress)
    train = splits.train
    labels = train.labels.cpu()
    fold_of = stratified_folds(labels, folds, seed=preset.train.seed).numpy()
    numerics = numerics_for(device, preset.train.precision, preset.train.channels_last)
    n, k = len(train), len(splits.classes)
    probabilities = np.zeros((n, k), dtype=np.float16)
    predicted, confidences, losses = np.zeros(n, np.int64), np.zeros(n, np.float32), np.zeros(n, np.float32)
    for fold in range(folds):
        held = np.flatnonzero(fold_of == fold)
        rest = np.flatnonzero(fold_of != fold)
        if listener is not None:
            listener(FoldStarted(fold + 1, folds, len(rest), len(held)))
        fold_splits = DataSplits(train.take(torch.from_numpy(rest)), train.take(torch.from_numpy(held)), splits.classes)
        storage = choose_storage(preset.data.storage, fold_splits.train.nbytes + fold_splits.val.nbytes, device)
        if storage.mode == "device":
            fold_splits = replace(fold_splits, train=fold_splits.train.to(device), val=fold_splits.val.to(device))
        else:  # the rows are copies in memory, not a cache file to stream from
            storage = replace(storage, mode="device")
        kept = _FoldListener(fold + 1, folds, listener)
        trainer = Trainer(
            fold_preset(preset, epochs, fold),
            fold_splits,
            numerics,
            listeners=[kept],
            control=control,
            storage=storage,
            threads=threads,
            code=code,
        )
        finished = trainer.fit()
        if finished.state != "finished" or kept.predictions is None:
            raise FoldsStopped(f"stopped in fold {fold + 1}/{folds}")
        held_out = kept.predictions
        predicted[held], confidences[held], losses[held] = (
            held_out.predictions,
            held_out.confidences,
            held_out.losses,
        )
        assert held_out.probabilities is not None  # validate() always returns them
        probabilities[held] = held_out.probabilities
    labels_np = labels.numpy()
    arrays = {
        "labels": labels_np,
        "predictions": predicted,
        "confidences": confidences,
        "losses": losses,
        "probabilities": probabilities,
        "confusion": confusion_from_predictions(labels_np, predicted, k),
        "fold": fold_of,
    }
    write_out_of_fold(
        target, arrays, splits.classes, folds=folds, epochs=epochs, seed=preset.train.seed, paths=splits.train_paths
    )
    result = Predictions(labels_np, predicted, confidences, losses, tuple(splits.classes), probabilities)
    return OutOfFoldResult(target, result, folds, epochs)


class _FoldListener:
    """Keeps the held-out fold's latest predictions and passes each epoch on as a FoldEpoch."""

    def __init__(self, fold: int, folds: int, listener: Callable[[FoldStarted | FoldEpoch], None] | None) -> None:
        self.fold, self.folds, self.listener = fold, folds, listener
        self.predictions: Predictions | None = None

    def __call__(self, event: Event) -> None:
        if not isinstance(event, EpochFinished):
            return
        self.predictions = event.predictions
        if self.listener is not None:
            metrics = event.metrics
            self.listener(
                FoldEpoch(self.fold, self.folds, event.epoch, event.epochs, metrics["train_loss"], metrics["val_acc"])
            )

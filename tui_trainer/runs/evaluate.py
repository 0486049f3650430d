"""`tui-trainer --eval`: score a run's checkpoint on held-out images and keep the result beside the run.

The images are the run's dataset `test/` split, another labelled folder, or (when there is no test
split) the run's own validation split; they go through the training run's validation loop, so on
the validation images the figures equal the run's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import cannot_write
from ..config.code_trust import TargetAccess
from ..data import DataError, ImageSet, load_data, val_batches
from ..data.decode import Progress
from ..data.eval_images import eval_folder, load_labelled_folder, load_labelled_split
from ..data.listers import list_files
from ..data.member import Member
from ..data.paths import resolve_root
from ..data.storage import choose_storage
from ..data.thumbnails import Thumbnails
from ..engine.builders import build_loss
from ..engine.class_figures import class_report
from ..engine.loops import ValidationResult, validate
from ..text import printable, short_path
from .calibration_report import calibration_section
from .eval_folder import EVALS, EvalFolder, write_eval_folder
from .folder import now_iso
from .report import confused_pairs
from .trained_model import Checkpoint, RunModel, load_run_model

TOP_PAIRS = 10


class EvalWriteError(RuntimeError):
    """The evaluation was computed but could not be written into the run folder (read-only, full disk)."""


@dataclass(frozen=True, eq=False)
class EvalData:
    """The labelled images an evaluation scores, and how the report names them."""

    images: ImageSet
    description: str  # the folder, or "<dataset> validation split"
    name: str  # the evaluation folder's suffix
    paths: tuple[Path | Member, ...] | None = None  # a member names itself when printed


def eval_data(run: RunModel, data: Path | None = None, progress: Progress | None = None) -> EvalData:
    """What `--eval` scores: `data` (a labelled folder, or a dataset root's test/), else the run's
    dataset test split when it has one (test/, test.csv, test rows), else the run's validation split.
    Raises DataError."""
    cfg = run.preset.data
    folder: Path | None = None
    if data is not None:
        folder = eval_folder(Path(short_path(data, relative=False)))  # no `..` in the report and messages
    elif cfg.dataset == "imagefolder" and cfg.root and (resolve_root(cfg.root) / "test").is_dir():
        folder = Path(short_path(resolve_root(cfg.root) / "test", relative=False))
    if folder is not None:
        labelled = load_labelled_folder(folder, run.classes, cfg, progress)
        return EvalData(labelled.data, short_path(folder), folder.name, labelled.paths)
    listing = list_files(cfg)
    if listing is not None and "test" in listing.splits:  # a CSV list's test rows
        labelled = load_labelled_split(listing, "test", run.classes, cfg, progress)
        return EvalData(labelled.data, f"{listing.splits['test'].source} (test rows)", "test", labelled.paths)
    splits = load_data(cfg, seed=run.preset.train.seed, progress=progress)
    if tuple(splits.classes) != run.classes:
        raise DataError(
            f"the run's data now has classes {list(splits.classes)}, its checkpoint {list(run.classes)}: "
            "pass --data with a folder of the checkpoint's classes"
        )
    return EvalData(splits.val, f"{cfg.dataset} validation split", "val")


@dataclass(frozen=True, eq=False)
class Evaluation:
    report: dict[str, Any]
    result: ValidationResult
    folder: EvalFolder


def score(run: RunModel, images: ImageSet, tta: bool = False) -> ValidationResult:
    """The validation loop of training, over `images`, with the run's loss and normalisation.

    The images are held on the device or streamed from their cache file as `data.storage` says
    (`auto`: streamed when they do not fit), as in training, so a test set of any size is scored."""
    preset = run.preset
    per_sample = build_loss(preset.loss, len(run.classes), reduction="none")
    stream = choose_storage(preset.data.storage, images.nbytes, run.device).mode == "stream"
    batches = val_batches(
        images if stream else images.to(run.device),
        preset.data.batch_size,
        preset.augment.mean,
        preset.augment.std,
        image_size=preset.data.image_size,  # images are at the stored size: centre crop
        stream=stream,
        device=run.device,
    )
    return validate(run.model, batches, per_sample, run.numerics, len(run.classes), tta=tta)


def build_report(run: RunModel, data: EvalData, result: ValidationResult, tta: bool) -> dict[str, Any]:
    """What report.json holds: overall and per-class figures, calibration and one-vs-rest ROC and
    precision-recall figures (runs.calibration_report), the matrix and the most confused pairs."""
    confusion = result.confusion.numpy()
    figures = class_report(confusion)
    probabilities = None if result.probabilities is None else result.probabilities.numpy()
    return {
        "accuracy": result.accuracy,
        "loss": result.loss,
        "images": int(confusion.sum()),
        "macro_f1": figures.macro_f1,
        "checkpoint": run.checkpoint,
        "checkpoint_file": str(run.checkpoint_file),
        "epoch": run.epoch,
        "data": data.description,
        "data_name": data.name,  # "val", "test", or the folder's name: what the accuracy is measured on
        "tta": tta,
        "device": str(run.device),
        "created_at": now_iso(),
        "classes": list(run.classes),
        "per_class": [
            {
                "class": name,
                "precision": float(figures.precision[i]),
                "recall": float(figures.recall[i]),
                "f1": float(figures.f1[i]),
                "support": int(figures.support[i]),
            }
            for i, name in enumerate(run.classes)
        ],
        **calibration_section(
            result.labels.numpy(), result.predictions.numpy(), result.confidences.numpy(), probabilities
        ),
        "confusion": confusion.astype(int).tolist(),
        "most_confused": [
            {"true": run.classes[t], "predicted": run.classes[p], "count": n}
            for t, p, n in confused_pairs(confusion, TOP_PAIRS)
        ],
    }


def evaluate_run(
    run_dir: Path,
    data: Path | None = None,
    checkpoint: Checkpoint = "best",
    tta: bool = False,
    progress: Progress | None = None,
    *,
    code: TargetAccess | None = None,
) -> Evaluation:
    """Score a checkpoint and write `RUN_DIR/evals/<time>-<name>/`. Raises RunFolderError,
    PresetError or DataError for unusable input, EvalWriteError when the folder cannot be written.
    `code`: where the preset's `model.target` may be imported from (None refuses a preset that has one)."""
    run = load_run_model(Path(run_dir), checkpoint, code=code)
    chosen = eval_data(run, data, progress)
    result = score(run, chosen.images, tta)
    report = build_report(run, chosen, result, tta)
    arrays: dict[str, np.ndarray] = {
        "labels": result.labels.numpy(),
        "predictions": result.predictions.numpy(),
        "confidences": result.confidences.numpy(),
        "losses": result.losses.numpy(),
        "confusion": result.confusion.numpy(),
    }
    if result.probabilities is not None:
        arrays["probabilities"] = result.probabilities.numpy()
    if chosen.paths is not None:
        arrays["paths"] = np.array([str(p) for p in chosen.paths], dtype=str)
    thumbnails = Thumbnails(chosen.images)
    try:
        folder = write_eval_folder(
            Path(run_dir), chosen.name, report, arrays, run.classes, run.epoch, (thumbnails.shape, thumbnails)
        )
    except OSError as exc:
        raise EvalWriteError(cannot_write(Path(run_dir) / EVALS, exc)) from exc
    return Evaluation(report, result, folder)


def _honesty_line(report: dict[str, Any]) -> list[str]:
    """ "ECE 3.1%  macro AUC 0.982  macro AP 0.915", from the keys a report has (an older one has none)."""
    parts = []
    ece = (report.get("calibration") or {}).get("ece")
    if ece is not None:
        parts.append(f"ECE {ece * 100:.1f}%")
    for key, name in (("roc_auc", "macro AUC"), ("average_precision", "macro AP")):
        macro = (report.get(key) or {}).get("macro")
        if macro is not None:
            parts.append(f"{name} {macro:.3f}")
    return ["  ".join(parts)] if parts else []


def format_report(report: dict[str, Any]) -> str:
    """The report as the lines `--eval` prints (names through `printable`: a class folder may be named anything)."""
    lines = [
        f"{report['checkpoint']}.pt (epoch {report['epoch']}) on {printable(report['data'])}"
        + (" with flip TTA" if report["tta"] else ""),
        f"accuracy {report['accuracy'] * 100:.2f}%  loss {report['loss']:.4f}  "
        f"macro F1 {report['macro_f1'] * 100:.1f}  {report['images']} images",
        *_honesty_line(report),
        "",
    ]
    width = max([5, *(len(printable(row["class"])) for row in report["per_class"])])
    lines.append(f"{'class':<{width}}  precision  recall     F1  support")
    for row in report["per_class"]:
        lines.append(
            f"{printable(row['class']):<{width}}  {row['precision'] * 100:8.1f}%  {row['recall'] * 100:5.1f}%  "
            f"{row['f1'] * 100:5.1f}  {row['support']:>7}"
        )
    if report["most_confused"]:
        lines += ["", "most confused (true -> predicted):"]
        lines += [
            f"  {printable(p['true'])} -> {printable(p['predicted'])}: {p['count']}" for p in report["most_confused"]
        ]
    return "\n".join(lines)

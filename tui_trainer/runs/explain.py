"""Where a run's model looked: the class-activation maps of one validation image, for the class the
model predicts and for the true class (`tui-trainer explain`, the gallery's `g`), or of one image of
an evaluation (`RUN_DIR/evals/NAME`).

The image is the sample's model input: its source file read again through the run's own
validation transform (decode at the stored size, centre crop, the run's normalisation). Data with
no files (synthetic images, archive members) uses the stored thumbnail when it is the input itself
(same size); otherwise, and when the file is gone, RunFolderError says so. A run's weights are
`best.pt`, else `last.pt`; an evaluation's are the checkpoint it scored, in the run folder that
holds it (never the path its report.json records: a folder someone else made reads nothing outside
its place). The maps are computed in fp32 on the CPU (one image: fast, and it never competes with
a training run for the GPU's memory).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_write_with
from ..config.code_trust import TargetAccess
from ..config.schema import DataConfig
from ..data import DataError, normalize
from ..data.eval_images import decode_like_validation
from ..engine.cam import DEFAULT_METHOD, class_maps, find_target_layer
from ..engine.heatmap import overlay
from ..text import command_line, printable
from .eval_folder import EVALS, EvalFolder, is_eval_folder
from .folder import RunFolder, RunFolderError
from .out_of_fold_file import read_out_of_fold
from .predictions_file import read_saved_predictions
from .thumbnails import open_thumbnails
from .trained_model import CHECKPOINTS, Checkpoint, load_run_model


@dataclass(frozen=True, eq=False)
class Explanation:
    """The maps of one sample: `maps[0]` for the predicted class, `maps[1]` for the true class (H×W in [0, 1])."""

    sample: int
    image: np.ndarray  # H×W×3 uint8: the model's input, before normalisation
    maps: np.ndarray  # 2×H×W float32
    classes: tuple[str, ...]
    true_class: int
    predicted_class: int  # what this checkpoint predicts for the image (the gallery may show another epoch's)
    probabilities: np.ndarray
    layer: str
    grid: tuple[int, int]
    method: str
    checkpoint: Checkpoint
    source: str  # the file the image was read from, or what else it is ("stored 32 px copy: ...")

    @property
    def overlays(self) -> tuple[np.ndarray, np.ndarray]:
        """(predicted-class map, true-class map), each blended over the image."""
        return overlay(self.image, self.maps[0]), overlay(self.image, self.maps[1])

    def caption(self, which: int) -> str:
        """ "predicted dog 81%" / "true cat 12%": the class of map `which` and its probability."""
        index = self.predicted_class if which == 0 else self.true_class
        return f"{'predicted' if which == 0 else 'true'} {self.classes[index]} {self.probabilities[index]:.0%}"


def available_checkpoint(run_dir: Path) -> Checkpoint:
    """best, else last; RunFolderError when the run has neither (it has not finished an epoch)."""
    folder = RunFolder(Path(run_dir))
    if not folder.preset_file.is_file():
        raise RunFolderError(f"{printable(run_dir)}: no preset.toml, so this is not a run folder")
    for checkpoint in CHECKPOINTS:
        path = folder.best_checkpoint if checkpoint == "best" else folder.last_checkpoint
        if path.is_file():
            return checkpoint
    raise RunFolderError(
        f"{printable(run_dir)}: no best.pt or last.pt, so no model to explain (the run has not finished an epoch)"
    )


@dataclass(frozen=True, eq=False)
class Samples:
    """The images a folder's sample numbers name: the run whose model explains them and with which
    checkpoint, each sample's label, its file (where the data has files) and the stored copies."""

    run_dir: Path
    checkpoint: Checkpoint
    labels: np.ndarray
    paths: tuple[str, ...] | None
    copies: Path | None  # the thumbnails file; None where the run keeps none (its training images)
    named: tuple[str, str]  # how messages name them: ("the run's", "validation images"), ("the evaluation's", "images")


def model_folder(path: Path) -> Path:
    """The run folder whose model explains `path`'s images: the run itself, or the run an evaluation sits in.

    RunFolderError for an evaluation folder that is not in a run folder's `evals/` (moved, or sent alone).
    """
    path = Path(os.path.abspath(path))
    if not is_eval_folder(path):
        return path
    if path.parent.name != EVALS:
        raise RunFolderError(
            f"{printable(path)}: an evaluation is explained with its run's model, and this one is not inside a run "
            f"folder's {EVALS}/ (where `tui-trainer eval` writes it)"
        )
    return EvalFolder(path).run_dir


def run_samples(run_dir: Path) -> Samples:
    """A run folder's validation images, with `best.pt` (else `last.pt`)."""
    folder = RunFolder(Path(run_dir))
    checkpoint = available_checkpoint(folder.path)
    try:
        predictions = folder.read_predictions("last")
    except (OSError, ValueError) as exc:
        raise RunFolderError(f"{printable(folder.predictions_file('last'))}: unreadable ({exc})") from exc
    if predictions is None:
        raise RunFolderError(f"{printable(folder.path)}: no validation predictions yet, so no labelled samples")
    labels = np.asarray(predictions["labels"])
    return Samples(
        folder.path,
        checkpoint,
        labels,
        folder.read_val_paths(),
        folder.val_images_file,
        ("the run's", "validation images"),
    )


def train_samples(run_dir: Path) -> Samples:
    """A run folder's training images, as `tui-trainer review RUN --train` listed them (its out-of-fold
    predictions file numbers them), with `best.pt` (else `last.pt`); each is read from its file."""
    folder = RunFolder(Path(run_dir))
    checkpoint = available_checkpoint(folder.path)
    file = folder.train_oof_file
    if not file.is_file():
        raise RunFolderError(
            f"{printable(file)}: no such file, so no numbered training images "
            f"(`{command_line('tui-trainer', 'review', folder.path, '--train')}` makes it)"
        )
    try:
        saved = read_out_of_fold(file).saved
    except (OSError, ValueError) as exc:
        raise RunFolderError(f"{printable(file)}: unreadable ({exc})") from exc
    return Samples(
        folder.path,
        checkpoint,
        np.asarray(saved.predictions.labels),
        saved.paths,
        None,
        ("the run's", "training images"),
    )


def eval_samples(eval_dir: Path) -> Samples:
    """An evaluation's images, with the checkpoint it scored from the run folder that holds it."""
    folder = EvalFolder(Path(os.path.abspath(eval_dir)))
    run_dir = model_folder(folder.path)
    report = folder.read_report()
    checkpoint = report.get("checkpoint")
    if checkpoint not in CHECKPOINTS:
        raise RunFolderError(f"{printable(folder.report_file)}: names no checkpoint (one of {', '.join(CHECKPOINTS)})")
    try:
        saved = read_saved_predictions(folder.predictions_file)
    except (OSError, ValueError) as exc:
        raise RunFolderError(f"{printable(folder.predictions_file)}: unreadable ({exc})") from exc
    paths = saved.paths
    if paths is None and report.get("data_name") == "val":  # the run's own validation split: the run recorded its files
        paths = RunFolder(run_dir).read_val_paths()
    return Samples(
        run_dir,
        checkpoint,
        np.asarray(saved.predictions.labels),
        paths,
        folder.images_file,
        ("the evaluation's", "images"),
    )


def model_input(samples: Samples, sample: int, data: DataConfig) -> tuple[torch.Tensor, str]:
    """uint8 1×3×S×S: `sample` as the model sees it, and where it came from: its file, or in words the
    run's stored copy at the model's size (`stored_copy`)."""
    paths, count = samples.paths, len(samples.labels)
    if paths is not None and len(paths) == count and os.path.isabs(paths[sample]):  # else an archive member
        path = paths[sample]
        if not Path(path).is_file():
            raise RunFolderError(
                f"{printable(path)}: the image is no longer on disk (moved or deleted?), so it cannot be shown "
                "to the model again"
            )
        try:
            return decode_like_validation([path], data), path
        except DataError as exc:
            raise RunFolderError(str(exc)) from exc
    try:
        thumbnails = open_thumbnails(samples.copies) if samples.copies is not None else None
    except (OSError, ValueError):
        thumbnails = None
    size = data.image_size
    if thumbnails is None or thumbnails.ndim != 4 or thumbnails.shape[:3] != (count, size, size):
        raise RunFolderError(
            f"{printable(samples.run_dir)}: {samples.named[0]} {samples.named[1]} have no files and no stored copy "
            f"at the model's {size} px, so the model's input cannot be rebuilt"
        )
    pixels = np.array(thumbnails[sample][..., :3])
    if pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    return torch.from_numpy(pixels).permute(2, 0, 1)[None].contiguous(), stored_copy(size)


def stored_copy(size: int) -> str:
    """What an image without a file is, for the line that names an image's source."""
    return f"stored {size} px copy: the data has no image files"


def explain_sample(
    run_dir: Path,
    sample: int,
    *,
    code: TargetAccess | None = None,
    layer: str | None = None,
    method: str = DEFAULT_METHOD,
    training: bool = False,
) -> Explanation:
    """The maps of sample `sample` (its index in the predictions) of a run folder's validation images (with
    `training`, of its training images as its out-of-fold predictions number them), or of an evaluation
    folder's images.

    Raises RunFolderError (no checkpoint, no predictions, a sample out of range, the image gone),
    PresetError, CamError (no usable layer) and CamUnavailable (the `cam` extra is missing).
    """
    if is_eval_folder(Path(run_dir)):
        samples = eval_samples(run_dir)
    else:
        samples = train_samples(run_dir) if training else run_samples(run_dir)
    labels, checkpoint = samples.labels, samples.checkpoint
    if not 0 <= sample < len(labels):
        whose, images = samples.named
        raise RunFolderError(f"sample {sample} is not one of {whose} {len(labels)} {images} (0 to {len(labels) - 1})")
    run = load_run_model(samples.run_dir, checkpoint, device="cpu", fp32=True, code=code)
    pixels, source = model_input(samples, sample, run.preset.data)
    inputs = normalize(pixels, run.preset.augment.mean, run.preset.augment.std)
    with torch.no_grad():
        probabilities = run.model(inputs).float().softmax(dim=1)[0].numpy()
    predicted, true = int(probabilities.argmax()), int(labels[sample])
    target = find_target_layer(run.model, inputs, layer)
    maps = class_maps(run.model, inputs, [predicted, true], target, method)
    return Explanation(
        sample=sample,
        image=pixels[0].permute(1, 2, 0).numpy().copy(),
        maps=maps,
        classes=run.classes,
        true_class=true,
        predicted_class=predicted,
        probabilities=probabilities,
        layer=target.name,
        grid=target.grid,
        method=method,
        checkpoint=checkpoint,
        source=source,
    )


PNG_HEIGHT = 224
"""Pixels each panel of the PNG is scaled up to (whole multiples, no smoothing), at least."""


def explanation_png(explanation: Explanation, path: Path) -> None:
    """Write (atomically) a PNG of image | predicted-class map | true-class map, each captioned."""
    from PIL import Image, ImageDraw

    panels = [explanation.image, *explanation.overlays]
    height, width = panels[0].shape[:2]
    scale = max(1, -(-PNG_HEIGHT // height))
    caption_h = 14
    sheet = Image.new("RGB", (3 * width * scale, height * scale + caption_h), "white")
    draw = ImageDraw.Draw(sheet)
    captions = [f"#{explanation.sample}", explanation.caption(0), explanation.caption(1)]
    for i, (panel, caption) in enumerate(zip(panels, captions, strict=True)):
        image = Image.fromarray(panel).resize((width * scale, height * scale), Image.Resampling.NEAREST)
        sheet.paste(image, (i * width * scale, 0))
        draw.text((i * width * scale + 2, height * scale + 1), printable(caption), fill="black")
    atomic_write_with(path, lambda handle: sheet.save(handle, format="PNG"))

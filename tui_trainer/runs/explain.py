"""Where a run's model looked: the class-activation maps of one validation image, for the class the
model predicts and for the true class (`tui-trainer explain`, the gallery's `g`).

The image is the sample's model input: its source file read again through the run's own
validation transform (decode at the stored size, centre crop, the run's normalisation). A run
whose data has no files (synthetic images) uses the stored thumbnail when it is the input itself
(same size); otherwise, and when the file is gone, RunFolderError says so. The weights are
`best.pt`, else `last.pt`; the maps are computed in fp32 on the CPU (one image: fast, and it never
competes with a training run for the GPU's memory).
"""

from __future__ import annotations

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
from ..text import printable
from .folder import RunFolder, RunFolderError
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
    source: str  # the file the image was read from, or "thumbnail"

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


def _labels(folder: RunFolder) -> np.ndarray:
    try:
        predictions = folder.read_predictions("last")
    except (OSError, ValueError) as exc:
        raise RunFolderError(f"{printable(folder.predictions_file('last'))}: unreadable ({exc})") from exc
    if predictions is None:
        raise RunFolderError(f"{printable(folder.path)}: no validation predictions yet, so no labelled samples")
    return np.asarray(predictions["labels"])


def model_input(folder: RunFolder, sample: int, count: int, data: DataConfig) -> tuple[torch.Tensor, str]:
    """uint8 1×3×S×S: validation sample `sample` as the model sees it, and where it came from."""
    paths = folder.read_val_paths()
    if paths is not None and len(paths) == count:
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
        thumbnails = open_thumbnails(folder.val_images_file)
    except (OSError, ValueError):
        thumbnails = None
    size = data.image_size
    if thumbnails is None or thumbnails.ndim != 4 or thumbnails.shape[:3] != (count, size, size):
        raise RunFolderError(
            f"{printable(folder.path)}: the validation images have no files and no stored copy at the model's "
            f"{size} px, so the model's input cannot be rebuilt"
        )
    pixels = np.array(thumbnails[sample][..., :3])
    if pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    return torch.from_numpy(pixels).permute(2, 0, 1)[None].contiguous(), "thumbnail"


def explain_sample(
    run_dir: Path,
    sample: int,
    *,
    code: TargetAccess | None = None,
    layer: str | None = None,
    method: str = DEFAULT_METHOD,
) -> Explanation:
    """The maps of validation sample `sample` (its index in the run's predictions).

    Raises RunFolderError (no checkpoint, no predictions, a sample out of range, the image gone),
    PresetError, CamError (no usable layer) and CamUnavailable (the `cam` extra is missing).
    """
    folder = RunFolder(Path(run_dir))
    checkpoint = available_checkpoint(folder.path)
    labels = _labels(folder)
    if not 0 <= sample < len(labels):
        raise RunFolderError(
            f"sample {sample} is not one of the run's {len(labels)} validation images (0 to {len(labels) - 1})"
        )
    run = load_run_model(folder.path, checkpoint, device="cpu", fp32=True, code=code)
    pixels, source = model_input(folder, sample, len(labels), run.preset.data)
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

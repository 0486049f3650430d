"""`tui-trainer --predict`: a run's model on image files, in batches, on the best device.

Files are decoded in chunks like validation images; a chunk with a bad file is decoded again file
by file, so one broken image costs only itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ..data import DataError, normalize
from ..data.eval_images import decode_like_validation
from ..text import printable
from .trained_model import RunModel

DECODE_CHUNK = 1024
"""Files decoded at once: enough for the decoder's worker processes to pay off, little memory."""


@dataclass(frozen=True)
class Prediction:
    path: Path
    top: tuple[tuple[str, float], ...]  # (class, probability), most probable first


def _decode(run: RunModel, files: Sequence[Path], on_error: Callable[[str], None]) -> tuple[list[Path], torch.Tensor]:
    try:
        return list(files), decode_like_validation(files, run.preset.data)
    except DataError:
        pass
    good, images = [], []
    for file in files:
        try:
            images.append(decode_like_validation([file], run.preset.data))
        except DataError as exc:
            on_error(str(exc))
            continue
        good.append(file)
    empty = torch.empty((0, 3, run.image_size, run.image_size), dtype=torch.uint8)
    return good, torch.cat(images) if images else empty


@torch.no_grad()
def predict_files(
    run: RunModel, files: Sequence[Path], top_k: int, on_error: Callable[[str], None], batch_size: int | None = None
) -> Iterator[Prediction]:
    """The `top_k` most probable classes of every readable file, in the order given.

    `on_error(message)` hears about each file that cannot be decoded; it is skipped.
    """
    preset = run.preset
    k = max(1, min(top_k, len(run.classes)))
    batch_size = batch_size or preset.data.batch_size
    for start in range(0, len(files), DECODE_CHUNK):
        good, images = _decode(run, files[start : start + DECODE_CHUNK], on_error)
        for lo in range(0, len(good), batch_size):
            batch = normalize(images[lo : lo + batch_size].to(run.device), preset.augment.mean, preset.augment.std)
            if run.numerics.channels_last:
                batch = batch.contiguous(memory_format=torch.channels_last)
            with run.numerics.autocast():
                logits = run.model(batch)
            probabilities, indices = logits.float().softmax(dim=1).topk(k, dim=1)
            probabilities, indices = probabilities.cpu().tolist(), indices.cpu().tolist()  # one device sync
            for path, probs, classes in zip(good[lo : lo + batch_size], probabilities, indices, strict=True):
                yield Prediction(path, tuple((run.classes[c], p) for c, p in zip(classes, probs, strict=True)))


def csv_header(top_k: int) -> list[str]:
    header = ["path", "prediction", "confidence"]
    for i in range(1, top_k + 1):
        header += [f"class_{i}", f"probability_{i}"]
    return header


def csv_row(prediction: Prediction) -> list[str]:
    """One CSV line; a control character in a file or class name is written as `\\xNN` (see `printable`),
    so the CSV can be shown on a terminal and never carries an escape sequence to it."""
    best, confidence = prediction.top[0]
    row = [printable(prediction.path), printable(best), f"{confidence:.6f}"]
    for name, probability in prediction.top:
        row += [printable(name), f"{probability:.6f}"]
    return row

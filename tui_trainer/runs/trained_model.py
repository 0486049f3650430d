"""A finished (or interrupted) run's model, rebuilt from its folder for evaluation, prediction and export.

One loader for the three, so they agree on which preset, weights and class names a run means:
the preset is the run's `preset.toml`, the weights and the class order come from the checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from ..config import Preset
from ..config.code_trust import TargetAccess
from ..engine.builders import build_model
from ..engine.checkpoint import load_checkpoint
from ..engine.device import Numerics, numerics_for, resolve_device
from .folder import RunFolder, RunFolderError

Checkpoint = Literal["best", "last"]
CHECKPOINTS: tuple[Checkpoint, ...] = ("best", "last")
IN_CHANNELS = 3
"""Every dataset the tool loads is RGB (greyscale and RGBA files are converted when decoded)."""


@dataclass(frozen=True, eq=False)
class RunModel:
    """The model of one checkpoint, in eval mode on `numerics.device`, and what it was trained with."""

    model: nn.Module
    classes: tuple[str, ...]
    preset: Preset
    checkpoint: Checkpoint
    checkpoint_file: Path
    epoch: int
    numerics: Numerics
    code: TargetAccess | None = None
    """Where the model's `model.target` was imported from (a rebuild of the model uses the same)."""

    @property
    def device(self) -> torch.device:
        return self.numerics.device

    @property
    def image_size(self) -> int:
        return self.preset.data.image_size


def checkpoint_file(run_dir: Path, checkpoint: Checkpoint) -> Path:
    """best.pt or last.pt of a run folder; RunFolderError (saying what exists) when it is missing."""
    folder = RunFolder(Path(run_dir))
    if checkpoint not in CHECKPOINTS:
        raise RunFolderError(f"checkpoint is one of {', '.join(CHECKPOINTS)}, not {checkpoint!r}")
    path = folder.best_checkpoint if checkpoint == "best" else folder.last_checkpoint
    if not folder.path.is_dir():
        raise RunFolderError(f"{run_dir}: no such run folder")
    if not folder.preset_file.is_file():
        raise RunFolderError(f"{run_dir}: no preset.toml, so this is not a run folder")
    if not path.is_file():
        other = folder.last_checkpoint if checkpoint == "best" else folder.best_checkpoint
        hint = f" (it has {other.name}: pass --checkpoint {other.stem})" if other.is_file() else ""
        raise RunFolderError(f"{run_dir}: no {path.name}: the run has not finished an epoch{hint}")
    return path


def load_run_model(
    run_dir: Path,
    checkpoint: Checkpoint = "best",
    device: torch.device | str | None = None,
    fp32: bool = False,
    *,
    code: TargetAccess | None = None,
) -> RunModel:
    """Rebuild a run's model from `preset.toml` and a checkpoint (read with weights_only=True).

    `device` defaults to the best one here (CUDA, then MPS, then CPU); `fp32` turns off the run's
    bf16 autocast (export and its parity check compare plain fp32 numbers). `code`: where the preset's
    `model.target` may be imported from; None (the default) refuses a preset that has one.
    Raises RunFolderError for a folder or checkpoint that cannot be used, PresetError for its preset.
    """
    path = checkpoint_file(run_dir, checkpoint)
    preset = RunFolder(Path(run_dir)).read_preset_to_build(code)
    try:
        payload = load_checkpoint(path, map_location="cpu")
        state, classes, epoch = payload["model"], tuple(str(c) for c in payload["classes"]), int(payload["epoch"])
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise RunFolderError(f"{path}: unreadable checkpoint ({exc})") from exc
    # The checkpoint's weights replace any pretrained ones, so those are never read (or downloaded).
    try:
        model = build_model(
            preset.model, num_classes=len(classes), in_channels=IN_CHANNELS, load_pretrained=False, code=code
        )
    except ValueError as exc:  # ModelTargetError: a model.target that does not import, or a factory that failed
        raise RunFolderError(f"{RunFolder(Path(run_dir)).preset_file}: {exc}") from exc
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise RunFolderError(f"{path}: the weights do not fit the preset's model ({exc})") from exc
    target = resolve_device("auto") if device is None else torch.device(device)
    numerics = numerics_for(target, "fp32" if fp32 else preset.train.precision, preset.train.channels_last)
    model = model.to(target).eval()
    if numerics.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return RunModel(model, classes, preset, checkpoint, path, epoch, numerics, code)

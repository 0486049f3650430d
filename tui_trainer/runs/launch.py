"""Start or resume a run: the one entry point both front ends call.

`run_training` runs in the calling thread (the console calls it from a worker thread). It turns
every failure into a `RunFailed` event and a `RunOutcome`, so a front end only has to show it.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..config import Preset, load_preset, resolved_toml
from ..data import DataError, load_data
from ..engine import distributed
from ..engine.device import DeviceError, Numerics, numerics_for, resolve_device
from ..engine.events import Listener, RunControl, RunFailed, SetupProgress, emit
from ..engine.loops import NonFiniteLoss
from ..engine.trainer import Trainer
from ..torchrun_env import launch_rank
from .folder import RunFolder, RunFolderError, effective_state, now_iso
from .recorder import RunRecorder
from .timing import resume_fields

EXIT_CODES = {"finished": 0, "failed": 1, "interrupted": 130}
THUMBNAIL_SIDE = 64


@dataclass(frozen=True)
class RunOutcome:
    state: str  # finished | interrupted | failed
    run_dir: Path | None
    exit_code: int  # 0 finished, 1 failed, 2 unusable preset or device, 130 interrupted
    error: str = ""


def load_run_preset(run_dir: Path) -> Preset:
    """The resolved preset a run folder was started with (for resume)."""
    folder = RunFolder(Path(run_dir))
    if not folder.preset_file.exists():
        raise RunFolderError(f"{run_dir}: no preset.toml, so this is not a run folder that can be resumed")
    if not folder.last_checkpoint.exists():
        raise RunFolderError(f"{run_dir}: no last.pt to resume from")
    # Under torchrun the other ranks may read the status rank 0 has just set to running.
    if launch_rank() == 0:
        status = folder.read_status()
        state = effective_state(status)
        if state == "running":
            raise RunFolderError(
                f"{run_dir}: still running (pid {status.get('pid')}); two processes must not train one folder. "
                "Stop it first (Ctrl+C in its terminal, or `kill -INT PID`), then resume"
            )
        if state == "finished":
            raise RunFolderError(f"{run_dir}: already finished all {status.get('epochs_planned')} epochs")
    return load_preset(folder.preset_file)


def describe_failure(exc: BaseException, preset: Preset, epoch: int, precision: str | None = None) -> tuple[str, str]:
    """(error, hint) for the user: what went wrong and what to try.

    `precision`: what the run computed in (auto resolves to fp32 on a CPU); the preset's value when unknown.
    """
    if isinstance(exc, NonFiniteLoss):
        used = precision or preset.train.precision
        return (
            f"training loss became NaN or infinite in epoch {epoch}, at or before batch {exc.batch}",
            f"lower the learning rate (optimizer.lr = {preset.optimizer.lr:g})"
            + (", or train in fp32 (train.precision)" if used != "fp32" else ""),
        )
    if isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower():
        return (
            f"out of memory in epoch {epoch}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
            f"lower data.batch_size (now {preset.data.batch_size}) and raise train.accumulation_steps "
            f"(now {preset.train.accumulation_steps}) to keep the same images per update",
        )
    if distributed.is_collective_failure(exc):
        return (
            f"lost contact with the other processes of this torchrun job in epoch {epoch}: "
            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
            f"another rank failed, was killed, or stalled longer than {distributed.TIMEOUT_ENV} seconds; "
            "torchrun's summary names it and its own error is above. Continue with "
            "`torchrun ... -m tui_trainer --headless --resume RUN_DIR`",
        )
    if isinstance(exc, DataError):
        return str(exc), "check data.dataset and data.root in the preset"
    return f"{type(exc).__name__}: {exc}", ""


def _thumbnails(images: torch.Tensor) -> np.ndarray:
    """uint8 N×H×W×C at most THUMBNAIL_SIDE pixels a side, for the confusion screen."""
    side = max(images.shape[-2:])
    if side > THUMBNAIL_SIDE:
        scale = THUMBNAIL_SIDE / side
        size = (max(1, round(images.shape[-2] * scale)), max(1, round(images.shape[-1] * scale)))
        images = F.interpolate(images.float(), size=size, mode="area").round().clamp(0, 255).to(torch.uint8)
    return images.permute(0, 2, 3, 1).contiguous().cpu().numpy()


def run_training(
    preset: Preset,
    *,
    runs_dir: Path,
    listeners: Sequence[Listener] = (),
    control: RunControl | None = None,
    resume: Path | None = None,
    preset_source: Path | None = None,
) -> RunOutcome:
    """Train `preset` into a new run folder under `runs_dir`, or continue the run in `resume`."""
    control = control or RunControl()
    try:
        device = distributed.local_device(resolve_device(preset.train.device))
        distributed.init_from_env(device)  # under torchrun: join the other ranks (no-op otherwise)
    except DeviceError as exc:
        hint = "" if isinstance(exc, distributed.DistributedSetupError) else "set train.device to auto or cpu"
        emit(list(listeners), RunFailed(run_dir="", error=str(exc), hint=hint))
        return RunOutcome("failed", None, 2, str(exc))
    main_rank = distributed.rank() == 0

    folder = RunFolder(Path(resume)) if resume else _create_folder(runs_dir, preset.name)
    listeners = list(listeners) if main_rank else []
    if main_rank:
        if not resume:
            source = f" from {preset_source}" if preset_source else ""
            folder.write_preset(resolved_toml(preset, header=f"Resolved preset of this run{source}"))
        started = {**_resume_fields(folder), "classes": None} if resume else {"started_at": now_iso()}
        folder.write_status(  # a resume keeps the first start; classes come back when the run reports
            state="running",
            pid=os.getpid(),
            **started,
            ended_at=None,
            preset_name=preset.name,
            epochs_planned=preset.train.epochs,
            error=None,
            hint=None,
        )
        listeners.insert(0, RunRecorder(folder))

    trainer: Trainer | None = None
    numerics: Numerics | None = None
    clean_end = False  # every rank got here the same way: safe to meet at a final barrier
    try:

        def progress(stage: str, done: int, total: int) -> None:
            emit(listeners, SetupProgress(stage=stage, done=done, total=total))

        splits = load_data(preset.data, seed=preset.train.seed, progress=progress)
        if main_rank:
            folder.write_val_images(_thumbnails(splits.val.images))
        splits = type(splits)(train=splits.train.to(device), val=splits.val.to(device), classes=splits.classes)
        numerics = numerics_for(device, preset.train.precision, preset.train.channels_last)
        trainer = Trainer(
            preset,
            splits,
            numerics,
            run_dir=str(folder.path),
            checkpoint_dir=folder.path,
            listeners=listeners,
            control=control,
        )
        if resume:
            trainer.load(folder.last_checkpoint)
            if main_rank:
                folder.rewrite_metrics(trainer.history)  # drop epochs newer than the checkpoint
        finished = trainer.fit()
        emit(listeners, finished)
        clean_end = True
        return RunOutcome(finished.state, folder.path, EXIT_CODES[finished.state])
    except Exception as exc:  # noqa: BLE001 - every failure becomes a RunFailed the user can read
        epoch = (trainer.epochs_done + 1) if trainer is not None else 0
        error, hint = describe_failure(exc, preset, epoch, numerics.precision if numerics is not None else None)
        emit(listeners, RunFailed(run_dir=str(folder.path), error=error, hint=hint, details=traceback.format_exc()))
        return RunOutcome("failed", folder.path, 1, error)
    finally:
        trainer = None  # its DDP model holds the process group: release it before the group goes
        distributed.barrier_and_shutdown(clean=clean_end)


def _resume_fields(folder: RunFolder) -> dict[str, Any]:
    """The first start stays; the earlier processes' time (up to their last write, if they died) adds up."""
    try:
        status = folder.read_status()
    except RunFolderError:
        status = {}
    if not status.get("ended_at"):
        written = max((p.stat().st_mtime for p in (folder.status_file, folder.metrics_file) if p.exists()), default=0)
        if written:
            status["ended_at"] = datetime.fromtimestamp(written).astimezone().isoformat()
    return resume_fields(status, now_iso())


def _create_folder(runs_dir: Path, name: str) -> RunFolder:
    """Rank 0 creates the folder; other ranks learn its path (they never write to it)."""
    path = str(RunFolder.create(runs_dir, name).path) if distributed.rank() == 0 else ""
    return RunFolder(Path(distributed.broadcast_str(path)))

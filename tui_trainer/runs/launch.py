"""Start or resume a run: the one entry point both front ends call.

`run_training` runs in the calling thread (the console calls it from a worker thread). It turns
every failure into a `RunFailed` event and a `RunOutcome`, so a front end only has to show it.
"""

from __future__ import annotations

import contextlib
import errno
import shutil
import socket
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from ..atomic import DiskFullError, cannot_write
from ..config import Preset, resolved_toml
from ..config.code_trust import TargetAccess
from ..data import DataError, load_data
from ..data.bad_images import bad_images_report
from ..data.checks import check_data_layout
from ..data.listing import LayoutError
from ..data.storage import choose_storage
from ..data.store import CacheFileGone, CacheSpaceError
from ..data.thumbnails import Thumbnails
from ..engine import distributed
from ..engine.builders import ClassWeightsError
from ..engine.checkpoint import CheckpointError, saved_world_size, unwrap
from ..engine.continuation import Continuation
from ..engine.cpu_threads import apply_threads
from ..engine.device import DeviceError, Numerics, numerics_for, resolve_device
from ..engine.events import Listener, RunControl, RunFailed, RunFinished, SetupProgress, emit
from ..engine.hub_models import PretrainedError, check_weights_reachable
from ..engine.loops import NonFiniteLoss
from ..engine.pretrained_config import resolve_pretrained
from ..engine.torchrun_env import launch_rank, launch_world_size
from ..engine.trainer import Trainer
from ..models import ModelTargetError
from ..models.hub import MissingLibrary
from ..process import own_identity
from . import lock
from .folder import RunFolder, RunFolderError, now_iso
from .lineage import (
    Parent,
    epoch_checkpoint,
    extension_fields,
    fork_checkpoint,
    fork_fields,
    read_continuation,
)
from .outcome import ExitCode
from .recorder import RunRecorder
from .records import RunStatus
from .state import RunState
from .timing import resume_fields

EXIT_CODES = {
    RunState.FINISHED: ExitCode.OK,
    RunState.FAILED: ExitCode.FAILED,
    RunState.INTERRUPTED: ExitCode.INTERRUPTED,
}


@dataclass(frozen=True)
class RunOutcome:
    state: str  # finished | interrupted | failed
    run_dir: Path | None
    exit_code: ExitCode
    error: str = ""


def load_run_preset(run_dir: Path, code: TargetAccess | None = None, extend_to: int | None = None) -> Preset:
    """The resolved preset a run folder was started with (for resume).

    `extend_to`: the run has finished and is to train on to this many epochs in all (its preset says so
    from here on); refused unless it has finished and this is more epochs than it has done.

    `code`: where its `model.target` may be imported from; None refuses (RunFolderError) a preset that
    has one, before the folder is locked (see config.code_trust).

    On rank 0 it takes the folder's lock first (held until `run_training` on this folder ends), so
    checking "is it still running?" and taking the folder are one step; a damaged folder (a record
    that is not what tui-trainer writes) is refused with the file, line and what was expected.
    """
    folder = RunFolder(Path(run_dir))
    if not folder.preset_file.exists():
        raise RunFolderError(f"{run_dir}: no preset.toml, so this is not a run folder that can be resumed")
    if not folder.last_checkpoint.exists():
        raise RunFolderError(f"{run_dir}: no last.pt to resume from")
    folder.read_preset_to_build(code)  # an untrusted target is refused before anything else happens
    _check_process_count(folder)  # on every rank: each refuses before joining the others
    # Under torchrun the other ranks may read the status rank 0 has just set to running.
    if launch_rank() == 0:
        _take_folder(folder)
        try:
            status = folder.read_run_status()
            # The lock is ours, so no process of this machine trains the folder, whatever process
            # holds the recorded pid now; another machine's run is beyond the lock's reach.
            if status.state == RunState.RUNNING and status.host and status.host != socket.gethostname():
                raise RunFolderError(
                    f"{run_dir}: still running on {status.host} (pid {status.pid}); two processes must not train "
                    "one folder. Stop it first (Ctrl+C in its terminal, or `kill -INT PID` there), then resume"
                )
            _check_extension(run_dir, status, extend_to)
            folder.read_metrics()  # every complete line must be an epoch record
            folder.read_progress()
            return _with_epochs(folder.read_preset_to_build(code), extend_to)
        except BaseException:
            lock.release(folder.path)
            raise
    return _with_epochs(folder.read_preset_to_build(code), extend_to)


def _check_extension(run_dir: Path, status: RunStatus, extend_to: int | None) -> None:
    """A finished run trains on only when extended; an extension only of a finished run, to more epochs."""
    done = status.epochs_done
    if extend_to is None:
        if status.state == RunState.FINISHED:
            raise RunFolderError(
                f"{run_dir}: already finished all {status.epochs_planned} epochs; "
                f"to train it on, extend it: --set train.epochs=N with N more than {done}"
            )
        return
    if status.state != RunState.FINISHED:
        raise RunFolderError(
            f"{run_dir}: has not finished ({done} of {status.epochs_planned} epochs, {status.state}); "
            "resume it without --set first, then extend it"
        )
    if extend_to <= done:
        raise RunFolderError(f"{run_dir}: train.epochs = {extend_to} must be more than the {done} epochs it has done")


def _with_epochs(preset: Preset, epochs: int | None) -> Preset:
    return (
        preset
        if epochs is None
        else preset.model_copy(update={"train": preset.train.model_copy(update={"epochs": epochs})})
    )


def _check_process_count(folder: RunFolder) -> None:
    """Refuse to continue a run on another number of processes than trained it (RunFolderError).

    Each process trains its own share of every epoch's order with `data.batch_size` images a step, so
    the count decides which images make up each step, the steps an epoch (the learning-rate schedule)
    and what a position inside an epoch means; the same count split over other machines changes none.
    """
    trained, now = saved_world_size(folder.last_checkpoint), launch_world_size()
    if trained is None or trained == now:
        return
    how = (
        "without torchrun (one process)"
        if trained == 1
        else f"under torchrun with {trained} processes in all (--nnodes × --nproc_per_node, split over any machines)"
    )
    raise RunFolderError(
        f"{folder.path}: this run trained on {trained} process{'es' if trained != 1 else ''} and this start has {now}; "
        "each process trains its share of every batch, so the steps and the learning-rate schedule depend on "
        f"the count. Resume it {how}, or start a new run"
    )


def _take_folder(folder: RunFolder) -> None:
    """Lock the folder for this process (or refuse, as a live run holds it) and clear a killed run's leftovers."""
    try:
        lock.acquire(folder.path)
    except (lock.RunLockedError, lock.BadLockFile) as exc:
        raise RunFolderError(str(exc)) from None
    except OSError as exc:
        raise RunFolderError(f"{folder.path}: cannot lock the run folder ({exc.strerror or exc})") from None
    folder.remove_stale_temporaries(older_than=0.0)  # the lock is ours: no one else writes here


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
    if isinstance(exc, DiskFullError):
        return str(exc), "free some space (old runs' checkpoints are the largest files), then resume the run"
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"no space left on {exc.filename or 'the disk'}", "free some space, then resume the run"
    if isinstance(exc, CheckpointError):
        return str(exc), "this run cannot continue from that file; start a new run, or restore the file from a copy"
    if isinstance(exc, ModelOutputError):
        return str(exc), "pick a model of the catalog, or make the model's head as wide as the class count"
    if isinstance(exc, CacheFileGone):
        return str(exc), "start the run again (or resume it): the cache entry is rebuilt from the images"
    if isinstance(exc, CacheSpaceError):
        return str(exc), "or set data.cache = false to decode into memory at every start"
    if isinstance(exc, DataError):
        return str(exc), DATA_HINT
    if isinstance(exc, ClassWeightsError):
        return str(exc), 'fix loss.class_weights in the preset, or set it to "balanced"'
    if isinstance(exc, ModelTargetError):
        return str(exc), "fix model.target in the preset; `tui-trainer --check PRESET` imports it before a run"
    if isinstance(exc, PretrainedError):
        return str(exc), 'set model.pretrained to weights of model.name\'s architecture, or "" for random weights'
    return f"{type(exc).__name__}: {exc}", ""


DATA_HINT = "check data.dataset and data.root in the preset"


class SetupStopped(Exception):
    """A stop was asked while the data was being prepared (decoding can take many minutes)."""


class _SetupProgress:
    """Turns the data layer's (stage, done, total) into SetupProgress events, with images/s and an
    ETA for decoding. It is also where a stop reaches the data layer: the next report after
    `control.stop()` raises SetupStopped, so Ctrl+C ends a long decode within a chunk, not at its end."""

    def __init__(self, listeners: list[Listener], control: RunControl) -> None:
        self.listeners = listeners
        self.control = control
        self.began = time.perf_counter()  # a stop during set-up reports how long the set-up ran
        self.stage = ""
        self._started = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.control.stop_requested.is_set():
            raise SetupStopped
        now = time.perf_counter()
        if stage != self.stage or done == 0:
            self.stage, self._started = stage, now
        elapsed = now - self._started
        rate = done / elapsed if done and elapsed > 0 and stage.startswith("decode") else 0.0
        eta = (total - done) / rate if rate > 0 and total else 0.0
        emit(self.listeners, SetupProgress(stage=stage, done=done, total=total, rate=rate, eta=eta))


def run_training(
    preset: Preset,
    *,
    runs_dir: Path,
    listeners: Sequence[Listener] = (),
    control: RunControl | None = None,
    resume: Path | None = None,
    preset_source: Path | None = None,
    tags: dict[str, object] | None = None,
    code: TargetAccess | None = None,
    into: Path | None = None,
    extend: Continuation | None = None,
    fork: Parent | None = None,
) -> RunOutcome:
    """Train `preset` into a new run folder under `runs_dir` (or the folder `into`, `--run-dir`), or
    continue the run in `resume`.

    `tags` go into status.json from its first write (a sweep's name and trial number), so a kill
    at any moment leaves a folder that says which trial it was. `code`: where `model.target` may be
    imported from (config.code_trust): the front end decides; None (the default) imports none.
    `extend` (with `resume`): the finished run trains on to `preset.train.epochs` (see `load_run_preset`),
    its added epochs following this schedule. `fork`: the new run starts from that run's epoch
    checkpoint (`lineage.fork_checkpoint`), with `preset`'s own optimiser and a restarted schedule.
    """
    control = control or RunControl()
    try:
        device = distributed.local_device(resolve_device(preset.train.device))
        distributed.init_from_env(device)  # under torchrun: join the other ranks (no-op otherwise)
    except DeviceError as exc:
        hint = "" if isinstance(exc, distributed.DistributedSetupError) else "set train.device to auto or cpu"
        emit(list(listeners), RunFailed(run_dir="", error=str(exc), hint=hint, user_error=True))
        return RunOutcome(RunState.FAILED, None, ExitCode.USAGE, str(exc))
    main_rank = distributed.rank() == 0
    if main_rank and preset.train.notify:  # a webhook when the run ends (never fails the run)
        from .notify import RunNotifier

        listeners = [*listeners, RunNotifier(preset.train.notify)]
    fork_from = None
    if fork is not None:
        try:
            fork_from = _fork_source(fork, preset)
        except RunFolderError as exc:
            emit(list(listeners), RunFailed(run_dir="", error=str(exc), hint="", user_error=True))
            return RunOutcome(RunState.FAILED, None, ExitCode.USAGE, str(exc))
    if not resume:  # a resumed run's preset.toml already holds the resolved values
        try:
            preset, _ = resolve_pretrained(preset)  # mean/std/image size the weights expect
            check_weights_reachable(preset.model)  # fail before minutes of data loading
        except (MissingLibrary, PretrainedError) as exc:
            emit(list(listeners), RunFailed(run_dir="", error=str(exc), hint="", user_error=True))
            return RunOutcome(RunState.FAILED, None, ExitCode.USAGE, str(exc))
        layout = check_data_layout(preset.data)  # what `--check` finds without decoding: no folder for it
        if layout:
            message = "\n".join(layout)
            emit(list(listeners), RunFailed(run_dir="", error=message, hint=DATA_HINT, user_error=True))
            return RunOutcome(RunState.FAILED, None, ExitCode.USAGE, message)

    try:
        folder = RunFolder(Path(resume)) if resume else _create_folder(runs_dir, preset.name, into)
    except (RunFolderError, OSError) as exc:
        message = str(exc) if isinstance(exc, RunFolderError) else cannot_write(runs_dir, exc)
        emit(list(listeners), RunFailed(run_dir="", error=message, hint="", user_error=True))
        distributed.barrier_and_shutdown(clean=False)
        return RunOutcome(RunState.FAILED, None, ExitCode.USAGE, message)
    listeners = list(listeners) if main_rank else []
    if main_rank:
        try:
            _take_folder(folder)
            if not resume or extend:
                source = f" from {preset_source}" if preset_source else ""
                source += f", extended to {preset.train.epochs} epochs" if extend else ""
                folder.write_preset(resolved_toml(preset, header=f"Resolved preset of this run{source}"))
            started = {**_resume_fields(folder), "classes": None} if resume else {"started_at": now_iso(precise=True)}
            if extend:
                started.update(extension_fields(folder.read_status(), extend, preset.train.epochs))
            elif fork is not None:
                started.update(fork_fields(fork, folder))
            folder.change_state(  # a resume keeps the first start; classes come back when the run reports
                RunState.RUNNING,
                **own_identity(),
                **started,
                ended_at=None,
                preset_name=preset.name,
                epochs_planned=preset.train.epochs,
                error=None,
                hint=None,
                **(tags or {}),
            )
        except (RunFolderError, OSError) as exc:
            lock.release(folder.path)
            message = str(exc) if isinstance(exc, RunFolderError) else cannot_write(folder.path, exc)
            emit(listeners, RunFailed(run_dir=str(folder.path), error=message, hint="", user_error=True))
            distributed.barrier_and_shutdown(clean=False)
            return RunOutcome(
                RunState.FAILED,
                folder.path,
                ExitCode.USAGE if isinstance(exc, RunFolderError) else ExitCode.FAILED,
                message,
            )
        listeners.insert(0, RunRecorder(folder))

    trainer: Trainer | None = None
    numerics: Numerics | None = None
    clean_end = False  # every rank got here the same way: safe to meet at a final barrier
    discard = False  # a new folder that never trained: removed at the end
    progress = _SetupProgress(listeners, control)
    try:
        threads = apply_threads(preset.train.threads)
        splits = load_data(preset.data, seed=preset.train.seed, progress=progress)
        distributed.wait_for_peers()  # under torchrun: a machine that decodes longer holds the others here
        if main_rank:
            thumbnails = Thumbnails(splits.val)
            folder.write_val_images(thumbnails.shape, thumbnails)
            folder.write_val_paths(splits.val_paths)
            _report_skipped(folder, splits.skipped, progress)
            for note in splits.notes:  # what data.review changed
                progress(note, 0, 0)
        storage = choose_storage(preset.data.storage, splits.train.nbytes + splits.val.nbytes, device)
        if storage.mode == "device":
            splits = replace(splits, train=splits.train.to(device), val=splits.val.to(device))
        numerics = numerics_for(device, preset.train.precision, preset.train.channels_last)
        trainer = Trainer(
            preset,
            splits,
            numerics,
            run_dir=str(folder.path),
            last_checkpoint=folder.last_checkpoint,
            best_checkpoint=folder.best_checkpoint,
            listeners=listeners,
            control=control,
            load_pretrained=not resume and fork is None,  # the weights come from a checkpoint
            storage=storage,
            threads=threads,
            code=code,
            continuation=_continuation(folder, resume, extend, fork),
            epoch_checkpoint=lambda epoch: epoch_checkpoint(folder, epoch),
        )
        check_output_width(trainer.model, tuple(splits.val.images.shape[1:]), len(splits.classes))
        if fork_from is not None:
            trainer.start_from(fork_from)
        if resume:
            trainer.load(folder.last_checkpoint, new_schedule=extend is not None)
            if main_rank:
                folder.rewrite_metrics(trainer.history)  # drop epochs newer than the checkpoint
        finished = _emit_end(listeners, trainer.fit())
        clean_end = True
        return RunOutcome(finished.state, folder.path, EXIT_CODES[RunState(finished.state)])
    except SetupStopped:
        # Nothing trained: a resumed run keeps its epochs and last.pt; a half-written cache entry
        # was removed by the data layer, so the next start decodes again from the beginning.
        epochs = _epochs_recorded(folder) if resume else 0
        seconds = time.perf_counter() - progress.began
        stage = progress.stage or "set-up"
        emit(listeners, RunFinished(str(folder.path), RunState.INTERRUPTED, epochs, None, None, seconds, stage))
        return RunOutcome(RunState.INTERRUPTED, folder.path, EXIT_CODES[RunState.INTERRUPTED])
    except Exception as exc:  # noqa: BLE001 - every failure becomes a RunFailed the user can read
        epoch = (trainer.epochs_done + 1) if trainer is not None else 0
        error, hint = describe_failure(exc, preset, epoch, numerics.precision if numerics is not None else None)
        if isinstance(exc, DataError) and trainer is None:
            # The data's problem, found before the first batch: exit 2, and no `failed` folder of 0 epochs.
            discard = not resume
            failed = RunFailed(run_dir="" if discard else str(folder.path), error=error, hint=hint, user_error=True)
            emit([listener for listener in listeners if not discard or not isinstance(listener, RunRecorder)], failed)
            return RunOutcome(RunState.FAILED, None if discard else folder.path, ExitCode.USAGE, error)
        # describe_failure has advice for every failure it recognises; what it does not know is a crash.
        details = traceback.format_exc()
        failed = RunFailed(run_dir=str(folder.path), error=error, hint=hint, details=details, user_error=bool(hint))
        with contextlib.suppress(Exception):  # the recorder may fail again (a full disk): the exit code still says it
            emit(listeners, failed)
        usage = isinstance(exc, (CacheSpaceError, LayoutError))  # found before any decoding: fix and start again
        return RunOutcome(RunState.FAILED, folder.path, ExitCode.USAGE if usage else ExitCode.FAILED, error)
    finally:
        trainer = None  # its DDP model holds the process group: release it before the group goes
        if main_rank:
            lock.release(folder.path)
            if discard:
                shutil.rmtree(folder.path, ignore_errors=True)
        distributed.barrier_and_shutdown(clean=clean_end)


def _emit_end(listeners: list[Listener], finished: RunFinished) -> RunFinished:
    """The run folder's recorder writes the end first; every other listener (the front end, the webhook)
    then gets the event with the training time the folder now tells (runs.timing): the figure that a
    follower and the runs list read from it too. Returns the event they got."""
    recorders = [listener for listener in listeners if isinstance(listener, RunRecorder)]
    try:
        if recorders:
            finished = recorders[0].record_end(finished)
    finally:  # a recorder that fails (a full disk): the others still hear how the run ended
        emit([listener for listener in listeners if listener not in recorders], finished)
    return finished


def _fork_source(fork: Parent, preset: Preset) -> Path:
    """The parent's checkpoint of the fork's epoch (RunFolderError: no such epoch, or nothing left to train)."""
    checkpoint = fork_checkpoint(fork.run, fork.epoch)
    if preset.train.epochs <= fork.epoch:
        raise RunFolderError(
            f"train.epochs = {preset.train.epochs}: a fork from epoch {fork.epoch} trains epochs "
            f"{fork.epoch + 1} to train.epochs, so it must be more than {fork.epoch}"
        )
    return checkpoint


def _continuation(
    folder: RunFolder, resume: Path | None, extend: Continuation | None, fork: Parent | None
) -> Continuation | None:
    """The schedule plan of the epochs to train: an extension's or a fork's, new or (resumed) recorded."""
    if extend is not None:
        return extend
    if fork is not None:
        return Continuation(fork.epoch, "restart")
    if resume is None:
        return None
    try:
        return read_continuation(folder.read_status())
    except RunFolderError:
        return None


def _epochs_recorded(folder: RunFolder) -> int:
    try:
        return folder.read_run_status().epochs_done
    except RunFolderError:
        return 0


def _report_skipped(folder: RunFolder, skipped: Sequence[tuple[str, str]], progress) -> None:
    """Under `data.bad_images = "skip"`: the files left out go to bad_images.txt, and a warning says how many."""
    if skipped:
        folder.write_bad_images(bad_images_report(skipped))
        count = len(skipped)
        progress(
            f"warning: skipped {count} image file{'s' if count != 1 else ''} that cannot be decoded "
            f"(listed in {folder.bad_images_file})",
            0,
            0,
        )


_NO_FOLDER = "\0"
"""What rank 0 sends the other ranks when it could not create the run folder."""


def _resume_fields(folder: RunFolder) -> dict[str, Any]:
    """The first start stays; the earlier processes' time (up to their last write, if they died) adds up."""
    try:
        status = folder.read_run_status()
    except RunFolderError:
        status = RunStatus(state="unknown")
    if not status.ended_at:
        written = max((p.stat().st_mtime for p in (folder.status_file, folder.metrics_file) if p.exists()), default=0)
        if written:
            status = replace(status, ended_at=datetime.fromtimestamp(written).astimezone().isoformat())
    return resume_fields(status, now_iso(precise=True))


def _create_folder(runs_dir: Path, name: str, into: Path | None = None) -> RunFolder:
    """Rank 0 creates the folder; other ranks learn its path (they never write to it)."""
    if into is not None:  # named by the user: every rank knows it
        return RunFolder.create_at(into) if distributed.rank() == 0 else RunFolder(into)
    if distributed.rank() != 0:
        path = distributed.broadcast_str("")
        if path == _NO_FOLDER:
            raise RunFolderError(f"{runs_dir}: rank 0 could not create the run folder")
        return RunFolder(Path(path))
    try:
        folder = RunFolder.create(runs_dir, name)
    except BaseException:
        distributed.broadcast_str(_NO_FOLDER)
        raise
    distributed.broadcast_str(str(folder.path))
    return folder


def check_output_width(model: torch.nn.Module, image_shape: tuple[int, ...], classes: int) -> None:
    """Refuse a model whose output is not one score per class (it would fail, or silently mislabel, later)."""
    plain = unwrap(model)
    parameter = next(plain.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None and parameter.is_floating_point() else torch.float32
    was_training = plain.training
    plain.eval()
    try:
        with torch.no_grad():
            out = plain(torch.zeros((1, *image_shape), device=device, dtype=dtype))
    finally:
        plain.train(was_training)
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[1] != classes:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ModelOutputError(
            f"the model gives outputs of shape {shape} for one image, but the data has {classes} classes: "
            f"it must give (1, {classes})"
        )


class ModelOutputError(ValueError):
    """The model's output does not have one score per class of the data."""

"""Run a sweep: ask the Optuna study for a trial, train it as an ordinary run, tell the result.

Why the loop is ask/tell and not `study.optimize`: each trial is a whole run folder with its own
stop control, and the count that ends a study has to hold across processes and kills. The rules:

- The study ends with exactly `trials` trials that finished, were pruned or failed on their own
  (a diverged loss is a result). A trial that was stopped (Ctrl+C) or whose process died
  (kill -9, a lost machine) is marked failed and put back in the queue with the same values by
  Optuna's retry callback (runs/sweep_storage.py), so a rerun continues the study without
  repeating or losing a finished trial.
- A dead trial is found by Optuna's heartbeat (every machine; a database storage), by its beat file
  going quiet (another machine's trial on the journal file, where Optuna has no heartbeat), or at
  once when its process is gone from this machine or never named itself (every storage).
- Processes take turns (`sweep_storage.study_lock`, across machines) to clean up dead trials,
  count, and ask; so two processes never both take the last trial or the same grid point.
- A grid is enqueued point by point, first unused point first, instead of Optuna's GridSampler:
  GridSampler assigns early points by trial number, which skips a point when a retried trial
  takes a number, and it raises from `tell` outside `optimize`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import PresetError
from ..config.code_trust import TargetAccess
from ..config.sweep_file import FloatRange, SweepSpec
from ..engine.events import EpochFinished, Event, Listener, RunControl, RunStarted
from . import sweep_storage
from .folder import RunFolder, now_iso, pid_alive
from .outcome import ExitCode
from .state import RunState
from .sweep_storage import MAX_RETRIES, retried_numbers, retry_callback, retry_of, study_lock
from .sweep_study import SweepError, SweepFolder, open_storage, require_optuna

MAX_INVALID_IN_A_ROW = 20
"""Sampled trials in a row whose preset does not validate before the sweep gives up."""


@dataclass
class SweepControl:
    """Stops a sweep: the current trial after its batch, then no new trial. Safe from any thread."""

    stop_requested: threading.Event = field(default_factory=threading.Event)
    current: RunControl | None = None

    def stop(self) -> None:
        self.stop_requested.set()
        if self.current is not None:
            self.current.stop()


@dataclass(frozen=True)
class TrialStarted:
    number: int
    params: dict[str, Any]
    retry_of: int | None


@dataclass(frozen=True)
class TrialEnded:
    number: int
    state: str  # finished | pruned | failed | interrupted
    value: float | None
    run_dir: Path | None
    error: str = ""


@dataclass(frozen=True)
class SweepOutcome:
    state: str  # finished (the study has its trials, or this process found none left) | interrupted
    ran: int
    failed: int
    exit_code: ExitCode  # FAILED when every trial this process ran failed


def _requeue(study: Any, trial: Any) -> None:
    """Put a stopped trial's values back in the queue, in its run folder (Optuna's retry; no limit)."""
    retry_callback(max_retry=None)(study, trial)


def open_study(spec: SweepSpec, folder: SweepFolder):
    """Create or load the sweep's study; refuses a study whose space or objective has changed."""
    optuna = require_optuna()
    folder.prepare(spec)
    file = spec.file
    if file.sampler == "tpe":
        sampler = optuna.samplers.TPESampler(seed=file.seed, n_startup_trials=max(2, min(10, spec.trials // 3)))
    else:
        sampler = optuna.samplers.RandomSampler(seed=file.seed)  # a grid enqueues every point itself
    pruner = (
        optuna.pruners.MedianPruner(
            n_startup_trials=file.pruner.startup_trials, n_warmup_steps=file.pruner.warmup_epochs
        )
        if file.pruner.name == "median"
        else optuna.pruners.NopPruner()
    )
    with study_lock(folder.path, spec.file.storage):  # the first process creates the database's tables
        storage = open_storage(folder)
        study = optuna.create_study(
            storage=storage,
            study_name=spec.name,
            direction=file.objective.direction,
            sampler=sampler,
            pruner=pruner,
            load_if_exists=True,
        )
        record = spec.spec_record()
        kept = study.user_attrs.get("spec")
        if kept is None:
            study.set_user_attr("spec", record)
        elif kept != record:
            raise SweepError(
                f"{folder.path}: this study was started with another space, objective or sampler; "
                f"give the sweep a new name (name = ...) or remove {folder.path} to start over"
            )
        study.set_user_attr("sweep_file", str(spec.source.resolve()))  # the console starts it again from here
    return study


def _dead(trial: Any, mine: set[int], beats: Path | None) -> bool:
    """Whether a running trial's process is gone. Called under `study_lock`, which the asker holds until it has
    named its process and host: a trial seen without them was asked by a process killed in between.

    `beats`: the sweep folder, where the storage's trials beat in files (else None: Optuna's heartbeat)."""
    host, pid = trial.user_attrs.get("host"), trial.user_attrs.get("pid")
    if pid is None or host is None or pid == os.getpid():
        return trial.number not in mine
    if host == socket.gethostname():
        return not pid_alive(pid, host)
    if beats is None:
        return False  # another machine's: Optuna's heartbeat decides
    beat = sweep_storage.last_beat(sweep_storage.beat_file(beats, trial.number))
    if beat is None:  # killed before its first beat: it had until the grace from its start
        beat = trial.datetime_start.timestamp() if trial.datetime_start is not None else None
    return beat is not None and time.time() - beat > sweep_storage.GRACE_SECONDS


def _clean_up_dead(study: Any, mine: set[int], beats: Path | None) -> None:
    """Fail and run again the trials whose process is dead: by a heartbeat, or gone from this machine.

    A trial failed for its process's death carries no `error`; one of those not queued again (the cleaner
    itself was killed between failing it and queuing it) is queued now, or its point would be lost."""
    optuna = require_optuna()
    states = optuna.trial.TrialState
    optuna.storages.fail_stale_trials(study)  # any machine's, by heartbeat; retried by the storage's callback
    retry = retry_callback(MAX_RETRIES)
    for trial in study.get_trials(deepcopy=False, states=(states.RUNNING,)):
        if _dead(trial, mine, beats):
            with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError, ValueError, RuntimeError):
                study.tell(trial.number, state=states.FAIL)
    trials = study.get_trials(deepcopy=False)
    retried = retried_numbers(trials)
    for trial in trials:
        if trial.state == states.FAIL and "error" not in trial.user_attrs and trial.number not in retried:
            retry(study, trial)  # refuses a trial that died MAX_RETRIES times: it stays failed, and counts


def _beats(spec: SweepSpec, folder: SweepFolder) -> Path | None:
    """The sweep folder when its storage's trials beat in files there (the journal), else None."""
    return folder.path if sweep_storage.beats_in_files(spec.file.storage) else None


def counted(trials: Sequence[Any]) -> list[Any]:
    """Trials that use up one of the study's `trials`: every one but a failed trial that runs again.

    (Done, running, queued, failed by itself, or dead more than MAX_RETRIES times.)"""
    optuna = require_optuna()
    retried = retried_numbers(trials)
    return [t for t in trials if not (t.state == optuna.trial.TrialState.FAIL and t.number in retried)]


def next_trial(study: Any, spec: SweepSpec, folder: SweepFolder, target: int, mine: set[int]):
    """The next trial for this process, or None when the study has all it needs."""
    optuna = require_optuna()
    with study_lock(folder.path, spec.file.storage):
        _clean_up_dead(study, mine, _beats(spec, folder))
        trials = study.get_trials(deepcopy=False)
        waiting = [t for t in trials if t.state == optuna.trial.TrialState.WAITING]
        if not waiting:
            used = counted(trials)
            if len(used) >= target:
                return None
            grid = spec.grid()
            if grid is not None:
                taken = [_point(t) for t in used]
                free = [point for point in grid if point not in taken]
                if not free:
                    return None
                study.enqueue_trial(free[0], skip_if_exists=False)
        trial = study.ask()
        trial.set_user_attr("pid", os.getpid())
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("started_at", now_iso())
        mine.add(trial.number)
        return trial


def _point(trial: Any) -> dict[str, Any]:
    """The values a trial runs: those it was queued with, else its parameters. Not its parameters first: a
    trial still drawing them (or killed while it did) has only some, and its point would look free."""
    return dict(trial.system_attrs.get("fixed_params") or trial.params)


def suggest(trial: Any, spec: SweepSpec) -> dict[str, Any]:
    """The trial's value for each space entry (fixed for queued and grid trials)."""
    params = {}
    for name, entry in spec.space.items():
        if isinstance(entry, FloatRange):
            if entry.is_int:
                params[name] = trial.suggest_int(
                    name, int(entry.low), int(entry.high), step=int(entry.step or 1), log=entry.log
                )
            else:
                params[name] = trial.suggest_float(
                    name, float(entry.low), float(entry.high), log=entry.log, step=entry.step
                )
        else:
            params[name] = trial.suggest_categorical(name, list(entry))
    return params


class TrialWatcher:
    """A listener on a trial's run: reports each epoch to the study, prunes."""

    def __init__(self, trial: Any, spec: SweepSpec, control: RunControl) -> None:
        self.trial = trial
        self.spec = spec
        self.control = control
        self.pruned = False
        self.run_dir: Path | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.run_dir = Path(event.run_dir)
            self.trial.set_user_attr("run_dir", str(Path(event.run_dir).resolve()))
        elif isinstance(event, EpochFinished):
            metric = self.spec.file.objective.metric  # load_sweep fills it in where the file names none
            value = event.metrics.get(metric) if metric is not None else None
            if value is None:
                return
            self.trial.report(float(value), event.epoch)
            if event.epoch < event.epochs and self.trial.should_prune():
                self.pruned = True
                self.control.stop()  # ends the run at the top of the next epoch, last.pt written


def run_sweep(
    spec: SweepSpec,
    sweeps_dir: Path,
    *,
    trials: int | None = None,
    control: SweepControl | None = None,
    listeners: Sequence[Listener] = (),
    on_trial: Callable[[TrialStarted | TrialEnded], None] | None = None,
    code: TargetAccess | None = None,
) -> SweepOutcome:
    """Run trials of `spec` until the study has `trials` of them (or a stop is asked).

    `code`: where the trials' `model.target` may be imported from (`sweep_study.sweep_access`)."""
    from .launch import run_training  # loads torch

    optuna = require_optuna()
    states = optuna.trial.TrialState
    control = control or SweepControl()
    folder = SweepFolder.for_spec(sweeps_dir, spec)
    study = open_study(spec, folder)
    target = trials if trials is not None else spec.trials
    mine: set[int] = set()
    ran = failed = invalid_in_a_row = 0
    notify = on_trial or (lambda _record: None)
    while not control.stop_requested.is_set():
        trial = next_trial(study, spec, folder, target, mine)
        if trial is None:
            break
        with _heartbeat(study, trial, _beats(spec, folder)):  # as Study.optimize does around each trial
            params = suggest(trial, spec)
            notify(TrialStarted(trial.number, params, retry_of(study.get_trials(deepcopy=False)[trial.number])))
            name = f"{spec.name[:70]}-t{trial.number:03d}"
            try:
                preset = spec.trial_preset(params, name)
            except PresetError as exc:
                error = "; ".join(str(p) for p in exc.problems)
                trial.set_user_attr("error", error)
                study.tell(trial, state=states.FAIL)
                notify(TrialEnded(trial.number, "failed", None, None, error))
                ran, failed, invalid_in_a_row = ran + 1, failed + 1, invalid_in_a_row + 1
                if invalid_in_a_row >= MAX_INVALID_IN_A_ROW:
                    raise SweepError(
                        f"{MAX_INVALID_IN_A_ROW} sampled trials in a row were not valid presets: {error}"
                    ) from exc
                continue
            invalid_in_a_row = 0
            run_control = RunControl()
            control.current = run_control
            if control.stop_requested.is_set():
                run_control.stop()
            watcher = TrialWatcher(trial, spec, run_control)
            resume = _resumable(trial.user_attrs.get("resume_dir"), code)
            if resume is not None:
                for record in RunFolder(resume).read_metrics():  # the pruner sees the epochs already done
                    if spec.file.objective.metric in record:
                        trial.report(float(record[spec.file.objective.metric]), int(record["epoch"]))
            outcome = run_training(
                preset,
                runs_dir=folder.trials_dir,
                listeners=[watcher, *listeners],
                control=run_control,
                resume=resume,
                tags={"sweep": spec.name, "trial": trial.number, "sweep_dir": str(folder.path.resolve())},
                code=code,
            )
            control.current = None
            ran += 1
            run_dir = outcome.run_dir
            if run_dir is not None and "run_dir" not in trial.user_attrs:
                trial.set_user_attr("run_dir", str(Path(run_dir).resolve()))
            if outcome.state == RunState.FINISHED:
                value = spec.file.objective.score(RunFolder(run_dir).read_metrics()) if run_dir else None
                if value is None:
                    trial.set_user_attr("error", "the run finished without a validation metric")
                    study.tell(trial, state=states.FAIL)
                    failed += 1
                    notify(TrialEnded(trial.number, "failed", None, run_dir, "no metric"))
                else:
                    study.tell(trial, value)
                    notify(TrialEnded(trial.number, "finished", value, run_dir))
            elif outcome.state == RunState.INTERRUPTED and watcher.pruned:
                if run_dir is not None:
                    RunFolder(run_dir).change_state(RunState.PRUNED)
                study.tell(trial, state=states.PRUNED)
                notify(TrialEnded(trial.number, "pruned", _last(trial), run_dir))
            elif outcome.state == RunState.INTERRUPTED:
                study.tell(trial, state=states.FAIL)
                _requeue(study, study.get_trials(deepcopy=False)[trial.number])
                notify(TrialEnded(trial.number, "interrupted", None, run_dir))
                break
            else:
                trial.set_user_attr("error", outcome.error or "the run failed")
                study.tell(trial, state=states.FAIL)
                failed += 1
                notify(TrialEnded(trial.number, "failed", None, run_dir, outcome.error))
    if control.stop_requested.is_set():
        return SweepOutcome(RunState.INTERRUPTED, ran, failed, ExitCode.INTERRUPTED)
    return SweepOutcome(RunState.FINISHED, ran, failed, ExitCode.FAILED if ran and failed == ran else ExitCode.OK)


@contextlib.contextmanager
def _heartbeat(study: Any, trial: Any, beats: Path | None):
    """Say that `trial` is alive, every interval, until it ends: to a storage with Optuna's heartbeat (a
    database), as Study.optimize does; else, where `beats` names the sweep folder, in its beat file there."""
    storage = study._storage  # the heartbeat API takes the storage's own trial id
    if hasattr(storage, "record_heartbeat") and storage.get_heartbeat_interval() is not None:
        interval = storage.get_heartbeat_interval()

        def beat() -> None:
            storage.record_heartbeat(trial._trial_id)

        file = None
    elif beats is not None:
        interval = sweep_storage.HEARTBEAT_SECONDS
        file = sweep_storage.beat_file(beats, trial.number)

        def beat() -> None:
            sweep_storage.write_beat(file)

    else:
        yield
        return
    done = threading.Event()

    def keep_beating() -> None:
        while True:
            with contextlib.suppress(Exception):  # a server or filesystem briefly away: the next beat tries again
                beat()
            if done.wait(interval):
                return

    threading.Thread(target=keep_beating, name=f"heartbeat-{trial.number}", daemon=True).start()
    try:
        yield
    finally:
        done.set()
        if file is not None:
            with contextlib.suppress(OSError):
                file.unlink()  # ended: nothing left to watch


def _resumable(run_dir: str | None, code: TargetAccess | None) -> Path | None:
    """The folder of a stopped or killed trial to continue, when it can be (else a fresh run)."""
    from .folder import RunFolderError
    from .launch import load_run_preset

    if not run_dir:
        return None
    try:
        load_run_preset(Path(run_dir), code)  # refuses a folder that is finished, still running, or has no last.pt
    except (RunFolderError, PresetError):
        return None
    return Path(run_dir)


def _last(trial: Any) -> float | None:
    values = trial.study.get_trials(deepcopy=False)[trial.number].intermediate_values
    return float(values[max(values)]) if values else None

"""`tui-trainer --headless`: train without the console, for scripts, clusters and detached runs.

One line per epoch; a rich progress bar over batches when stdout is a terminal, plain lines
otherwise (no control characters in logs). Ctrl+C or SIGTERM stops between batches with
last.pt and status.json written, or, while the images are decoded, after the chunks in hand
(nothing half-written is kept); a second Ctrl+C aborts at once.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TextIO

from ..config import Preset, PresetError, load_preset
from ..config.code_trust import TargetAccess, trusted_access
from ..engine.continuation import DEFAULT_POLICY, Continuation
from ..engine.events import (
    BatchProgress,
    EpochFinished,
    Event,
    RunControl,
    RunFailed,
    RunFinished,
    RunStarted,
    SetupProgress,
)
from ..engine.health import EpochHealth, format_health
from ..engine.torchrun_env import launch_rank
from ..runs.folder import RunFolder, RunFolderError
from ..runs.lineage import Parent, parse_fork
from ..runs.notify import ended_text
from ..runs.outcome import ExitCode
from ..runs.slurm import JobRecorder, SlurmJob
from ..runs.state import RunState
from ..runs.timing import training_time
from ..text import format_duration, format_lr, printable, setup_text
from .lineage_args import extension_epochs

SETUP_LINE_SECONDS = 5.0
"""At most one progress line per setup stage this often (plus its first and last)."""


def format_epoch(event: EpochFinished) -> str:
    m = event.metrics
    width = len(str(event.epochs))
    weights = " (ema)" if m.get("val_weights") == "ema" else ""  # the EMA weights were validated
    return (
        f"epoch {event.epoch:>{width}}/{event.epochs}  "
        f"train loss {m['train_loss']:.4f} acc {m['train_acc'] * 100:6.2f}%  "
        f"val{weights} loss {m['val_loss']:.4f} acc {m['val_acc'] * 100:6.2f}%  "
        f"lr {format_lr(m['lr'])}  {m['train_images_per_second']:,.0f} img/s  {m['epoch_seconds']:.1f}s"
        + _best_metric_text(m)
        + ("  *best" if event.is_best else "")
    )


def _best_metric_text(metrics: dict) -> str:
    """The figure that picks best.pt, when it is not one the line already shows (macro_f1, balanced_acc)."""
    name = metrics.get("best_metric")
    value = metrics.get(name) if name not in (None, "val_acc", "val_loss") else None
    return f"  {name} {value * 100:.2f}%" if isinstance(value, (int, float)) else ""


LOG_EVERY = 30.0
"""Default seconds between two progress lines when stdout is not a terminal (`--log-every`)."""


def format_progress(event: BatchProgress, epochs: int) -> str:
    """One plain progress line: where the epoch is, its figures so far, and when it will end."""
    left = event.seconds * (event.batches - event.batch) / event.batch if event.batch else 0.0
    of = f"/{epochs}" if epochs else ""
    return (
        f"epoch {event.epoch}{of}  batch {event.batch}/{event.batches}  loss {event.loss:.4f} "
        f"acc {event.accuracy * 100:.2f}%  {event.images_per_second:,.0f} img/s  epoch ETA {format_duration(left)}"
    )


class PlainPrinter:
    """Events as plain lines, for logs and pipes: a progress line every `log_every` seconds (0: none)."""

    def __init__(self, out: TextIO, log_every: float = LOG_EVERY, clock: Callable[[], float] = time.monotonic) -> None:
        self.out = out
        self._last_stage = ""
        self._last_line = 0.0
        self.health = EpochHealth()  # the epoch's progress reports, printed once with its line
        self.log_every = log_every
        self._clock = clock
        self._logged_at: float | None = None
        self._epochs = 0

    def _progress_line(self, event: BatchProgress) -> str | None:
        if self.log_every <= 0 or event.batch >= event.batches:  # the epoch line follows the last batch
            return None
        now = self._clock()
        if self._logged_at is None:
            self._logged_at = now  # the interval starts with the first batch
            return None
        if now - self._logged_at < self.log_every:
            return None
        self._logged_at = now
        return format_progress(event, self._epochs)

    def __call__(self, event: Event) -> None:
        line = None
        if isinstance(event, BatchProgress):
            line = self._progress_line(event)
            if event.health is not None:
                self.health.add(event.health, event.batch)
        elif isinstance(event, SetupProgress):
            now = time.monotonic()
            finished = bool(event.total) and event.done == event.total
            # Decoding a large folder takes minutes: a line with the rate and ETA every few seconds.
            if event.stage != self._last_stage or finished or now - self._last_line >= SETUP_LINE_SECONDS:
                self._last_stage, self._last_line = event.stage, now
                line = setup_text(event.stage, event.done, event.total, event.rate, event.eta)
        elif isinstance(event, RunStarted):
            self._epochs = event.epochs
            threads = f", {event.threads} threads ({event.threads_reason})" if event.threads else ""
            inside = f" (epoch {event.start_epoch} from batch {event.start_batch + 1})" if event.start_batch else ""
            line = (
                f"run {event.run_dir}: {event.preset_name}, epochs {event.start_epoch}-{event.epochs}{inside}, "
                f"{event.train_images} train / {event.val_images} val images, {len(event.classes)} classes, "
                f"{event.device} {event.precision}{threads}"
            )
            if event.storage:
                line += f"\nstorage: {event.storage}, {event.storage_reason}"
        elif isinstance(event, EpochFinished):
            line = format_epoch(event)
            health = self.health.take()
            if health is not None:
                line += "".join(f"\n  health: {text}" for text in format_health(health))
        elif isinstance(event, RunFinished):
            best = (
                f", best val acc {event.best_val_acc * 100:.2f}% (epoch {event.best_epoch})" if event.best_epoch else ""
            )
            line = f"{ended_text(event, took=_run_time(event))}{best}: {event.run_dir}"
        elif isinstance(event, RunFailed) and event.run_dir:  # without a folder, run_headless reports it
            line = f"error: {event.error}" + (f"\nhint: {event.hint}" if event.hint else "")
        if line is not None:
            print(printable(line, lines=True), file=self.out, flush=True)  # a path may hold ESC


def _run_time(event: RunFinished) -> str:
    """The run's training time (the event carries its folder's figure, as a follower reads it); a resumed
    run names the part this process trained too (a stop during set-up: the set-up's time)."""
    if event.setup_stage:
        return f"{event.seconds:.1f}s"
    try:
        trained = training_time(RunFolder(Path(event.run_dir)).read_status()) if event.run_dir else None
    except RunFolderError:
        trained = None
    if trained is None or not trained.resumed:
        return f"{event.seconds:.1f}s"
    return trained.describe()


class RichPrinter(PlainPrinter):
    """Plain lines plus a live progress bar over the epoch's batches."""

    def __init__(self, out: TextIO) -> None:
        super().__init__(out)
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.console = Console(file=out)
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}  acc {task.fields[acc]:.1%}  {task.fields[ips]:,.0f} img/s"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.task = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, BatchProgress):
            super().__call__(event)  # keeps its health figures for the epoch's line
            if self.task is None:
                self.progress.start()
                self.task = self.progress.add_task(
                    "", total=event.batches, epoch=event.epoch, loss=0.0, acc=0.0, ips=0.0
                )
            self.progress.update(
                self.task,
                completed=event.batch,
                total=event.batches,
                epoch=event.epoch,
                loss=event.loss,
                acc=event.accuracy,
                ips=event.images_per_second,
            )
            return
        if isinstance(event, (EpochFinished, RunFinished, RunFailed)) and self.task is not None:
            self.progress.remove_task(self.task)
            self.progress.stop()
            self.task = None
        line_out = self.out
        self.out = _ConsoleWriter(self.console)
        try:
            super().__call__(event)
        finally:
            self.out = line_out


class _ConsoleWriter:
    """Lets `print` go through rich's console so lines land above the live bar."""

    def __init__(self, console) -> None:
        self.console = console

    def write(self, text: str) -> int:
        if text.strip():
            self.console.print(text.rstrip("\n"), markup=False, highlight=False)
        return len(text)

    def flush(self) -> None:
        pass


def _install_signal_handlers(
    control: RunControl, err: TextIO, training: Callable[[], bool], received: list[signal.Signals]
) -> None:
    """`training()`: whether the data is ready and batches run (before that, a stop ends the decode).
    `received` gets each stop signal: SIGUSR1 is SLURM's warning (`sbatch --signal=USR1@90`)."""

    def stop(signum: int, _frame: FrameType | None) -> None:
        if control.stop_requested.is_set():
            raise KeyboardInterrupt  # second signal: abort now
        received.append(signal.Signals(signum))
        name = signal.Signals(signum).name
        what = "stopping after this batch, writing last.pt" if training() else "stopping the data preparation"
        print(f"\n{name}: {what} (again to abort)", file=err, flush=True)
        control.stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    if hasattr(signal, "SIGUSR1"):  # not on Windows
        signal.signal(signal.SIGUSR1, stop)
    if hasattr(signal, "SIGTSTP") and not sys.stdin.isatty():
        _install_pause_handlers(control, err)


def _install_pause_handlers(control: RunControl, err: TextIO) -> None:
    """A run without a terminal (detached, or started by a script) pauses after its current batch on
    SIGTSTP and goes on at SIGCONT: what the console's `p` sends to a run it follows. In a terminal
    ctrl+z keeps its usual meaning (the shell suspends the run)."""

    def pause(_signum: int, _frame: FrameType | None) -> None:
        if not control.paused and not control.stop_requested.is_set():
            control.pause()
            print("\nSIGTSTP: paused after this batch (SIGCONT resumes)", file=err, flush=True)

    def resume(_signum: int, _frame: FrameType | None) -> None:
        if control.paused:
            control.resume()
            print("SIGCONT: resumed", file=err, flush=True)

    signal.signal(signal.SIGTSTP, pause)
    signal.signal(signal.SIGCONT, resume)


def _refused(run_dir: Path | None) -> int:
    """Exit 2, giving back the lock `--run-dir` took on a folder it was to start a run in."""
    if run_dir is not None:
        from ..runs import lock

        lock.release(run_dir)
    return ExitCode.USAGE


def _requeue(job: SlurmJob, err: TextIO) -> bool:
    """Put this SLURM job back in the queue, when it may be; the requeued job runs the same command."""
    if not job.requeue_allowed():
        print(f"SLURM job {job.job_id} does not allow requeueing (sbatch --requeue): not requeued", file=err)
        return False
    for name in ("SIGTERM", "SIGUSR1"):  # SLURM ends this job as it requeues it: the checkpoint is written
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    problem = job.requeue()
    if problem:
        print(printable(f"SLURM job {job.job_id} could not be requeued: {problem}", lines=True), file=err, flush=True)
        return False
    print(f"SLURM job {job.job_id} requeued (restart {job.restart + 1} comes next)", file=err, flush=True)
    return True


def _vouched_access(preset_path: Path | None, overrides: Sequence[str], run_dir: Path) -> TargetAccess | None:
    """`--run-dir` resuming: the run folder's `model.target` may be imported from beside PRESET when PRESET
    (with its --set) names the same target, so a requeued job of the user's own model needs no --trust-code.
    A folder whose preset names another target than the user's is someone else's code: None."""
    if preset_path is None:
        return None
    try:
        own = load_preset(preset_path, overrides).model.target
        theirs = RunFolder(run_dir).read_preset().model.target
    except (PresetError, RunFolderError):
        return None  # the resume that follows reports what is wrong
    return TargetAccess.beside(preset_path) if own and own == theirs else None


def run_headless(
    preset_path: Path | None,
    overrides: Sequence[str],
    runs_dir: Path,
    resume: Path | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    log_every: float = LOG_EVERY,
    trust_code: bool = False,
    run_dir: Path | None = None,
    schedule: str | None = None,
    fork: str | None = None,
) -> int:
    """Run a preset (or resume a run) to the end; returns the process exit code.

    `overrides` with `resume`: only `train.epochs`, to extend a finished run, its added epochs'
    learning rate as `schedule` says (engine.continuation). `fork` ("RUN_DIR@EPOCH"): a new run from
    that epoch's checkpoint, with `preset_path` or else the run's own preset (and `overrides`).

    `trust_code` (--trust-code): a resumed run's `model.target` may be imported (from the installed
    packages, then the current folder); a preset run directly imports its own from its folder.
    `run_dir` (`--run-dir`): the run's folder, started, resumed or left alone when finished.
    """
    from ..runs.launch import load_run_preset, run_training  # torch is loaded only from here on

    out = out or sys.stdout
    err = err or sys.stderr
    into = None
    code: TargetAccess | None = None
    extend: Continuation | None = None
    parent: Parent | None = None
    try:
        preset: Preset
        if run_dir is not None:
            from ..runs.run_dir import plan_run_dir

            plan = plan_run_dir(run_dir)
            if plan.action == "finished":
                print(printable(f"{run_dir}: finished all {plan.epochs} epochs; nothing to do", lines=True), file=out)
                return ExitCode.OK
            if plan.action == "resume":
                code = _vouched_access(preset_path, overrides, run_dir) if not trust_code else None
                resume, overrides = run_dir, ()  # the run's own preset.toml; PRESET and --set started it
            else:
                into = run_dir
        if resume is not None:
            epochs = extension_epochs(overrides)
            code = code or trusted_access(trust_code)
            preset = load_run_preset(resume, code, extend_to=epochs)
            if epochs is not None:
                extend = Continuation(RunFolder(resume).read_run_status().epochs_done, schedule or DEFAULT_POLICY)
        elif fork is not None:
            run, epoch = parse_fork(fork)
            parent = Parent(run, epoch)
            if preset_path is None:  # the parent's own preset, changed by --set: its code needs --trust-code
                code = trusted_access(trust_code)
                preset = RunFolder(run).read_preset_to_build(code, overrides)
            else:
                code = TargetAccess.beside(preset_path)
                preset = load_preset(preset_path, overrides)
        else:
            assert preset_path is not None
            code = TargetAccess.beside(preset_path)
            preset = load_preset(preset_path, overrides)
    except PresetError as exc:
        for problem in exc.problems:
            print(printable(f"error: {problem}", lines=True), file=err)
        return _refused(into)
    except (RunFolderError, ValueError) as exc:  # ValueError: a --fork that is not RUN_DIR@EPOCH
        print(printable(f"error: {exc}", lines=True), file=err)
        return _refused(into)

    control = RunControl()
    started: list[RunStarted] = []
    received: list[signal.Signals] = []
    _install_signal_handlers(control, err, lambda: bool(started), received)
    reported: list[RunFailed] = []
    listeners = [
        lambda event: started.append(event) if isinstance(event, RunStarted) else None,
        lambda event: reported.append(event) if isinstance(event, RunFailed) else None,
    ]
    job = SlurmJob.from_env() if launch_rank() == 0 else None
    jobs = JobRecorder(job) if job is not None else None
    if launch_rank() == 0:  # under torchrun only rank 0 prints
        listeners.append(RichPrinter(out) if out.isatty() else PlainPrinter(out, log_every))
    if jobs is not None:
        listeners.append(jobs)
    try:
        outcome = run_training(
            preset,
            runs_dir=runs_dir,
            listeners=listeners,
            control=control,
            resume=resume,
            preset_source=preset_path,
            code=code,
            into=into,
            extend=extend,
            fork=parent,
        )
    except KeyboardInterrupt:
        # A second Ctrl+C: the status must not keep saying "running"; last.pt of the last epoch stays.
        if started and launch_rank() == 0:
            with contextlib.suppress(OSError, RunFolderError):  # a full disk must not turn this into a traceback
                RunFolder(Path(started[0].run_dir)).record_abort()
        print("aborted", file=err, flush=True)
        return ExitCode.INTERRUPTED
    if jobs is not None:
        warned = getattr(signal, "SIGUSR1", None) in received  # SLURM's "time is nearly up"
        jobs.end(requeued=warned and outcome.state == RunState.INTERRUPTED and _requeue(jobs.job, err))
    if outcome.state == RunState.INTERRUPTED and not started and not resume:
        print(
            "nothing was trained: run the same command to start again "
            "(a split whose decoding was cut short is decoded again; finished ones stay cached)",
            file=err,
            flush=True,
        )
    if outcome.exit_code == ExitCode.USAGE:  # refused before any work (no run folder): on stderr, once, with its hint
        print(printable(f"error: {outcome.error}", lines=True), file=err)
        if reported and reported[0].hint:
            print(printable(f"hint: {reported[0].hint}", lines=True), file=err)
    elif outcome.exit_code == ExitCode.FAILED and launch_rank() != 0:
        # Under torchrun only rank 0 prints events; another rank's own failure must still be seen.
        print(printable(f"error (rank {launch_rank()}): {outcome.error}", lines=True), file=err, flush=True)
    return outcome.exit_code

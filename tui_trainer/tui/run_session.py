"""The console's run, from start to end: one object that starts, stops, follows and ends it.

A console shows one run at a time: one it trains itself in a thread worker (with a `RunControl`
to pause and stop it), or a run folder it follows (a detached or external run, or a finished one).
Either way the engine's events arrive as `RunEvent` messages and are folded into `history` here,
on the UI thread. A run can fail by two routes, both ending in `_fail`: the engine's `RunFailed`
for the failures training reports, and the worker's error state for an exception that escapes.
"""

from __future__ import annotations

import contextlib
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.worker import Worker, WorkerState

from ..config.code_trust import TargetAccess
from ..config.schema import Preset
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
from ..runs.folder import RunFolder
from ..runs.live import RunHistory
from ..text import setup_text
from .attach_follow import Attachment
from .error_screen import failure_screen
from .messages import RunEvent
from .run_end_notice import announce_run_end

if TYPE_CHECKING:
    from .app import TrainerApp

STOP_WHILE_PREPARING = (
    "Nothing is trained yet: the images are being prepared. It stops once the images in hand are "
    "decoded, a few seconds at most; a split whose decoding is cut short is decoded again at the next start."
)

Trainer = Callable[..., Any]
"""`run_training(preset, *, runs_dir, listeners, control, preset_source, resume=None, code=None) -> RunOutcome`."""


def load_trainer() -> Trainer:
    """The real training entry point, imported only when a run starts (it imports torch)."""
    from ..runs.launch import run_training

    return run_training


class RunSession:
    """The run on the training screen, and the worker or follower that feeds it."""

    def __init__(self, app: TrainerApp) -> None:
        self.app = app
        self.history: RunHistory | None = None
        self.control: RunControl | None = None
        """Set while the console trains a run of its own (None for a followed run)."""
        self.attachment: Attachment | None = None
        """The run folder followed (attached, detached, or finished) when `history` is not an in-process run."""
        self.quit_after = False
        """The user asked to quit during a run: the App quits once it has ended."""
        self._worker: Worker[Any] | None = None
        self._done = threading.Event()
        self._done.set()
        self._number = 0  # the run that messages must come from (see `RunEvent.run`)

    # Reading ----------------------------------------------------------------------------------

    @property
    def training(self) -> bool:
        """Whether the console's own training thread is still going."""
        return not self._done.is_set()

    @property
    def attached_running(self) -> bool:
        """Whether `history` is a followed run that is still going (it can be stopped with SIGINT)."""
        return self.attachment is not None and self.history is not None and self.history.running

    # Starting ---------------------------------------------------------------------------------

    def start(self, preset: Preset, source: Path | None, code: TargetAccess | None) -> None:
        """Train `preset` in a new run folder; `source`: the saved preset file it came from, if any;
        `code`: where its `model.target` may be imported from (config.code_trust)."""
        self._begin(RunHistory(preset_name=preset.name, state="starting", epochs_planned=preset.train.epochs))
        self._train(preset, preset_source=source, code=code)

    def resume(self, path: Path, preset: Preset, code: TargetAccess | None) -> None:
        """Continue the run in `path` from its last.pt, in this console (`code`: as for `start`)."""
        history = RunHistory.from_run_dir(path)  # the epochs so far; the run adds the rest
        history.state = "starting"
        self._begin(history)
        self._train(preset, preset_source=None, code=code, resume=path)

    def follow(self, path: Path, expect_pid: int | None = None) -> None:
        """Show the run in `path` from its files, live while it goes (any run, any state)."""
        self._begin(RunHistory(preset_name=path.name, state="starting", run_dir=path))
        self.attachment = Attachment(path, self._listener(), expect_pid=expect_pid)
        self.attachment.start(self.app)

    def _begin(self, history: RunHistory) -> None:
        if self.attachment is not None:
            self.attachment.stop()
            self.attachment = None
        self.control = None
        self.history = history
        self._number += 1

    def _train(
        self, preset: Preset, preset_source: Path | None, code: TargetAccess | None, resume: Path | None = None
    ) -> None:
        control = self.control = RunControl()
        done = self._done = threading.Event()
        listener, runs_dir, trainer = self._listener(), self.app.runs_dir, self.app.trainer
        extra = {"resume": resume} if resume is not None else {}

        def train() -> Any:
            try:
                run_training = trainer or load_trainer()
                return run_training(
                    preset,
                    runs_dir=runs_dir,
                    listeners=[listener],
                    control=control,
                    preset_source=preset_source,
                    code=code,
                    **extra,
                )
            finally:
                done.set()

        self._worker = self.app.run_worker(
            train, thread=True, exclusive=True, exit_on_error=False, group="training", name="training"
        )

    def _listener(self) -> Callable[[Event], None]:
        """The listener of the run being started: called on its thread, it only posts the event to the App."""
        app, number = self.app, self._number

        def post(event: Event) -> None:
            # RuntimeError: the app is closing; training goes on to its end without a UI.
            with contextlib.suppress(RuntimeError):
                app.post_message(RunEvent(event, number))

        return post

    # Steering ---------------------------------------------------------------------------------

    def stop(self, wait: bool = False, timeout: float | None = None) -> None:
        """Ask the run to stop between batches (safe from any thread); optionally wait for it."""
        if self.control is not None and self.training:
            self.control.stop()
            if (
                self.history is not None
                and self.history.running
                and threading.current_thread() is threading.main_thread()
            ):
                self.history.set_state("stopping")
        if wait:
            self._done.wait(timeout)

    def toggle_pause(self) -> None:
        """Pause the run between batches, or let it go on."""
        if self.control is None or self.history is None or self.history.state == "stopping":
            return
        if self.control.paused:
            self.control.resume()
            self.history.set_state("running")
        else:
            self.control.pause()
            self.history.set_state("paused")

    # Events from the run ----------------------------------------------------------------------

    def handle(self, message: RunEvent) -> None:
        """Fold one event into `history` (UI thread) and show what it changed."""
        history = self.history
        if message.run != self._number or history is None:
            return  # a late event of a run this console no longer shows
        event = message.event
        if isinstance(event, BatchProgress):
            history.add_progress(event)
            self.app.history_changed()
        elif isinstance(event, SetupProgress):
            resumed = not history.running  # set-up after the end: another process resumed the run
            if resumed:
                history.progress = None  # the dead process's last batch is not this one's
                history.set_state("starting")
            text = setup_text(event.stage, event.done, event.total, event.rate, event.eta)
            history.set_setup(text)
            self.app.history_changed(bindings=resumed)
        elif isinstance(event, RunStarted):
            history.start(event)
            self.app.history_changed()
        elif isinstance(event, EpochFinished):
            history.add_epoch(event)
            # The first epoch makes the confusion matrix available; later ones change no key, and
            # refreshing the bindings rebuilds the footer (a new layout) each time.
            self.app.history_changed(bindings=len(history.epochs) == 1)
        elif isinstance(event, RunFinished):
            history.finish(event)
            self.app.history_changed()
            self._announce_end(event)
        elif isinstance(event, RunFailed):
            self._fail(event)

    def worker_changed(self, event: Worker.StateChanged) -> None:
        """The training worker ended: its outcome, an exception that escaped, or a cancel at exit."""
        worker = event.worker
        if worker is not self._worker or not self.app.ui_alive:
            return  # another worker, or the app is shutting down (it cancels its workers)
        history = self.history
        if event.state == WorkerState.SUCCESS:
            outcome = worker.result
            state = getattr(outcome, "state", "finished")
            run_dir = getattr(outcome, "run_dir", None)
            if history is not None:
                if run_dir and history.run_dir is None:
                    history.run_dir = Path(run_dir)
                if history.running or history.state != state:
                    history.set_state(state)
        elif event.state == WorkerState.ERROR:
            error = worker.error
            assert error is not None
            run_dir = history.run_dir if history is not None and history.run_dir is not None else ""
            details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            self._fail(RunFailed(str(run_dir), f"{type(error).__name__}: {error}", "", details), "Training crashed")
        elif event.state == WorkerState.CANCELLED:
            if history is not None and history.running:
                history.set_state("interrupted")
        else:
            return
        self.app.history_changed(bindings=True)
        if self.quit_after:
            self.quit_after = False
            self.app.quit_checking_document()

    # The end ----------------------------------------------------------------------------------

    def _fail(self, failed: RunFailed, title: str = "Training failed") -> None:
        """A failure by either route: into the history, the crash's traceback into the run's log, a dialog."""
        if self.history is not None:
            self.history.fail(failed)
            self.app.history_changed()
        saved_to = self._save_traceback(failed)
        self._announce_end(failed)
        if self.app.ui_alive:
            self.app.push_screen(failure_screen(failed, title, saved_to))

    def _save_traceback(self, failed: RunFailed) -> Path | None:
        """A crash of this console's own run: its traceback goes to the run folder's log (a detached run's is there)."""
        if failed.user_error or not failed.details or not failed.run_dir or self.attachment is not None:
            return None
        try:
            return RunFolder(Path(failed.run_dir)).record_crash(failed.error, failed.details)
        except OSError:
            return None  # the dialog still shows it

    def _announce_end(self, event: RunFinished | RunFailed) -> None:
        """Bell and a notification when a run this console watched ends (not when an old one replays)."""
        watched = self.attachment is None or self.attachment.seen_running
        if watched and self.app.ui_alive:
            announce_run_end(self.app, event)

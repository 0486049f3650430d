"""The console's run, from start to end: one object that starts, stops, follows and ends it.

A console shows one run at a time: one it trains itself in a thread worker (with a `RunControl`
to pause and stop it), or a run folder it follows (a detached or external run, or a finished one).
Either way the engine's events arrive as `RunEvent` messages and are folded into `view` here, on
the UI thread, which then fires the one `changed` signal the screens subscribe to. A run can fail
by two routes, both ending in `_fail`: the engine's `RunFailed` for the failures training
reports, and the worker's error state for an exception that escapes.
"""

from __future__ import annotations

import contextlib
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.app import App
from textual.signal import Signal
from textual.worker import Worker, WorkerState

from ...config.code_trust import TargetAccess
from ...config.schema import Preset
from ...engine.continuation import Continuation
from ...engine.events import (
    Event,
    RunControl,
    RunFailed,
    RunFinished,
)
from ...runs.detach import pause_run
from ...runs.folder import RunFolder
from ...runs.view import RunView
from ..common.error_screen import failure_screen
from ..messages import RunEvent
from .attach_follow import Attachment
from .end_notice import announce_run_end

STOP_WHILE_PREPARING = (
    "Nothing is trained yet: the images are being prepared. It stops once the images in hand are "
    "decoded, a few seconds at most; a split whose decoding is cut short is decoded again at the next start."
)

Trainer = Callable[..., Any]
"""`run_training(preset, *, runs_dir, listeners, control, preset_source, resume=None, code=None) -> RunOutcome`."""


def ui_alive(app: App[Any]) -> bool:
    """False while the app shuts down: its screens are gone but messages still arrive."""
    return app.is_running and bool(app.screen_stack)


def load_trainer() -> Trainer:
    """The real training entry point, imported only when a run starts (it imports torch)."""
    from ...runs.launch import run_training

    return run_training


class RunSession:
    """The run on the training screen, and the worker or follower that feeds it."""

    def __init__(self, app: App[Any], trainer: Trainer | None = None) -> None:
        self.app = app
        self.trainer = trainer
        """Stands in for `run_training` (tests); None: the real one, imported when a run starts."""
        self.changed: Signal[RunView | None] = Signal(app, "run-changed")
        """Fired once for every change of `view` (or a new view): the screens that draw the run subscribe."""
        self.view: RunView | None = None
        self.control: RunControl | None = None
        """Set while the console trains a run of its own (None for a followed run)."""
        self.attachment: Attachment | None = None
        """The run folder followed (attached, detached, or finished) when `view` is not an in-process run."""
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
        """Whether `view` is a followed run that is still going (it can be stopped with SIGINT)."""
        return self.attachment is not None and self.view is not None and self.view.running

    @property
    def preparing(self) -> bool:
        """Whether this console's run is still decoding or loading its images (nothing trained yet)."""
        return self.training and self.view is not None and self.view.state == "starting"

    # Starting ---------------------------------------------------------------------------------

    def start(self, preset: Preset, source: Path | None, code: TargetAccess | None, runs_dir: Path) -> None:
        """Train `preset` in a new run folder; `source`: the saved preset file it came from, if any;
        `code`: where its `model.target` may be imported from (config.code_trust)."""
        self._begin(RunView(preset_name=preset.name, state="starting", epochs_planned=preset.train.epochs))
        self._train(preset, runs_dir, preset_source=source, code=code)

    def resume(
        self, path: Path, preset: Preset, code: TargetAccess | None, runs_dir: Path, extend: Continuation | None = None
    ) -> None:
        """Continue the run in `path` from its last.pt, in this console (`code`: as for `start`);
        `extend`: the schedule that trains a finished run on (its preset says the new total)."""
        view = RunView.from_run_dir(path)  # the epochs so far; the run adds the rest
        view.state = "starting"
        view.epochs_planned = preset.train.epochs
        self._begin(view)
        self._train(preset, runs_dir, preset_source=None, code=code, resume=path, extend=extend)

    def follow(self, path: Path, expect_pid: int | None = None) -> None:
        """Show the run in `path` from its files, live while it goes (any run, any state)."""
        self._begin(RunView.to_follow(path))
        self.attachment = Attachment(path, self._listener(), expect_pid=expect_pid)
        self.attachment.start(self.app)

    def _begin(self, view: RunView) -> None:
        if self.attachment is not None:
            self.attachment.stop()
            self.attachment = None
        self.control = None
        self.view = view
        self._number += 1
        self.changed.publish(view)

    def _train(
        self,
        preset: Preset,
        runs_dir: Path,
        preset_source: Path | None,
        code: TargetAccess | None,
        resume: Path | None = None,
        extend: Continuation | None = None,
    ) -> None:
        control = self.control = RunControl()
        done = self._done = threading.Event()
        listener, trainer = self._listener(), self.trainer
        extra: dict[str, Any] = {"resume": resume} if resume is not None else {}
        if extend is not None:
            extra["extend"] = extend

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
            # Read as the event is sent, on the follower's thread: by the time the UI handles it the
            # follower may have moved on (an old failed run is watched for a resume after its replay).
            attachment = self.attachment
            replayed = attachment is not None and attachment.replaying
            # RuntimeError: the app is closing; training goes on to its end without a UI.
            with contextlib.suppress(RuntimeError):
                app.post_message(RunEvent(event, number, replayed))

        return post

    # Steering ---------------------------------------------------------------------------------

    def stop(self, wait: bool = False, timeout: float | None = None) -> None:
        """Ask the run to stop between batches (safe from any thread); optionally wait for it."""
        if self.control is not None and self.training:
            self.control.stop()
            if self.view is not None and self.view.running and threading.current_thread() is threading.main_thread():
                self.view.set_state("stopping")
                self.changed.publish(self.view)
        if wait:
            self._done.wait(timeout)

    @property
    def pausable(self) -> bool:
        """Whether `p` can pause (or resume) the run shown: this console's own, or a followed run whose
        process this user may signal."""
        if self.training:
            return True
        return self.attached_running and self.attachment is not None and not self.attachment.pause_refusal()

    def toggle_followed_pause(self) -> None:
        """Pause the followed run after its current batch, or let it go on (a signal to its process);
        DetachError says why not (another user's run, another machine's, or it has just ended)."""
        view, attachment = self.view, self.attachment
        if view is None or attachment is None:
            return
        pausing = view.state != "paused"
        pause_run(attachment.run_dir, pause=pausing)
        view.set_state("paused" if pausing else "running")
        self.changed.publish(view)

    def toggle_pause(self) -> None:
        """Pause the run between batches, or let it go on."""
        if self.control is None or self.view is None or self.view.state == "stopping":
            return
        if self.control.paused:
            self.control.resume()
            self.view.set_state("running")
        else:
            self.control.pause()
            self.view.set_state("paused")
        self.changed.publish(self.view)

    # Events from the run ----------------------------------------------------------------------

    def handle(self, message: RunEvent) -> None:
        """Fold one event into `view` (UI thread) and tell the screens it changed."""
        view = self.view
        if message.run != self._number or view is None:
            return  # a late event of a run this console no longer shows
        event = message.event
        if isinstance(event, RunFailed):
            self._fail(event, replayed=message.replayed)
            return
        view.fold(event)
        self.changed.publish(view)
        if isinstance(event, RunFinished) and not message.replayed:
            self._announce_end(event)

    def worker_changed(self, event: Worker.StateChanged) -> bool:
        """The training worker ended: its outcome, an exception that escaped, or a cancel at exit.
        True when this was the run's worker and it has ended."""
        worker = event.worker
        if worker is not self._worker or not ui_alive(self.app):
            return False  # another worker, or the app is shutting down (it cancels its workers)
        view = self.view
        if event.state == WorkerState.SUCCESS:
            outcome = worker.result
            state = getattr(outcome, "state", "finished")
            run_dir = getattr(outcome, "run_dir", None)
            if view is not None:
                if run_dir and view.run_dir is None:
                    view.run_dir = Path(run_dir)
                if view.running or view.state != state:
                    view.set_state(state)
        elif event.state == WorkerState.ERROR:
            error = worker.error
            assert error is not None
            run_dir = view.run_dir if view is not None and view.run_dir is not None else ""
            details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            self._fail(RunFailed(str(run_dir), f"{type(error).__name__}: {error}", "", details), "Training crashed")
        elif event.state == WorkerState.CANCELLED:
            if view is not None and view.running:
                view.set_state("interrupted")
        else:
            return False
        self.changed.publish(view)
        return True

    # The end ----------------------------------------------------------------------------------

    def _fail(self, failed: RunFailed, title: str = "Training failed", replayed: bool = False) -> None:
        """A failure by either route: into the view, the crash's traceback into the run's log, a dialog
        (without the bell and notice when `replayed`: an old run's failure is not news)."""
        if self.view is not None:
            self.view.fail(failed)
            self.changed.publish(self.view)
        saved_to = self._save_traceback(failed)
        if not replayed:
            self._announce_end(failed)
        if ui_alive(self.app):
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
        """Bell and a notification when a run this console watched ends (callers leave out replays)."""
        if ui_alive(self.app):
            announce_run_end(self.app, event)

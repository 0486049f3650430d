"""The console: `tui-trainer [PRESET | RUN_DIR]`.

The App owns what outlives a screen: the open preset (`presets`, a `PresetSession`) and the
console's run (`run_session`: the training worker or the followed run folder, its `RunControl`,
and the `RunView` the screens draw). Training runs in a thread worker that calls
`tui_trainer.runs.launch.run_training`; its events arrive as `RunEvent` messages, the session folds
them into the view and fires its `changed` signal, which the screens that draw the run subscribe
to. Screens never call the App: they post the request messages of `messages.py`, handled here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.worker import Worker

from ..config.code_trust import TargetAccess
from ..config.loading import PresetError
from ..config.preset_document import PresetDocument
from ..engine.events import RunControl
from ..runs.eval_folder import is_eval_folder
from ..runs.folder import RunFolder, RunFolderError, is_run_folder
from ..runs.outcome import ExitCode
from ..runs.view import RunView
from ..text import count_of, printable
from .app_settings import UserSettings
from .commands import ConsoleCommands
from .common.code_prompt import ask_about_run
from .common.confirm_screen import ConfirmScreen
from .common.error_screen import ErrorScreen
from .common.help_screen import HelpScreen
from .common.image_display import detect_image_display
from .common.path_prompt import PathPrompt
from .common.user_config import load_user_config
from .messages import (
    EvaluateRun,
    ExportRun,
    ExtendRun,
    NewPreset,
    OpenPath,
    OpenRun,
    PauseTraining,
    ResumeRun,
    RunEvent,
    SavePreset,
    StopTraining,
)
from .preset.list_screen import PresetListScreen
from .preset.lr_finder_screen import Finder
from .preset.session import PresetSession
from .run.attach_follow import Attachment
from .run.session import STOP_WHILE_PREPARING, RunSession, Trainer, ui_alive
from .run.training_screen import TrainingScreen
from .run.use import RunUseActions

TERMINAL_GONE_GRACE = 5.0
"""Seconds after SIGTERM/SIGHUP (and the run's checkpoint) that the console gets to quit the usual way,
restoring the terminal, before the process ends without it."""

NOTIFY_SECONDS: dict[SeverityLevel, float] = {"information": 3.0, "warning": 6.0, "error": 10.0}
"""How long a notification stays when it does not say (Textual's 5 s for all): a toast sits over the
bottom right of the screen, where the compare table and the editor's last lines are."""


class TrainerApp(UserSettings, RunUseActions, App[None]):
    """The tui-trainer console."""

    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "tui-trainer"
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
        Binding("f1,question_mark", "help", "Help", id="app.help", key_display="?"),
        Binding("ctrl+r", "start_training", "Start training", id="app.start", show=False),
        Binding("ctrl+t", "show_training", "Training screen", id="app.training", show=False),
        Binding("ctrl+o", "show_presets", "Presets", id="app.presets", show=False),
        Binding("ctrl+l", "show_runs", "Runs", id="app.runs", show=False),
        Binding("ctrl+g", "start_detached", "Start detached", id="app.start_detached", show=False),
    ]

    def __init__(
        self,
        path: Path | None = None,
        overrides: Sequence[str] = (),
        runs_dir: Path = Path("runs"),
        trainer: Trainer | None = None,
        trust_code: bool = False,
        lr_finder: Finder | None = None,
    ) -> None:
        super().__init__()
        self.trust_code = trust_code
        """--trust-code: a run folder's (or received sweep's) `model.target` is imported without asking."""
        self.start_path = path
        self.overrides = list(overrides)
        self.runs_dir = runs_dir
        self.sweeps_dir = Path("sweeps")
        self.presets = PresetSession(self, lr_finder)
        self.run_session = RunSession(self, trainer)
        self.training_screen = TrainingScreen(self.run_session, self.presets)
        self._shown_run_keys: tuple[object, ...] = ()
        self._quit_after = False  # the user asked to quit during a run: quit once it has ended
        self._ask_before_quit = True
        self._exit_code = ExitCode.OK
        self._exit_guard = threading.Thread(target=self._exit_once_stopped, name="exit-after-hangup", daemon=True)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Every notification of the console (screens' too): plain text, control characters escaped,
        because most of them quote a path or a class name, which may hold `[` or an escape sequence.

        Without a `timeout`, it stays as long as its severity asks (NOTIFY_SECONDS): a routine word
        ("Saved ...") goes before it hides what the user opened, a warning or error stays to be read."""
        message, title = printable(message, lines=True), printable(title)
        timeout = NOTIFY_SECONDS[severity] if timeout is None else timeout
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    # Start-up and shutdown --------------------------------------------------------------------

    def on_mount(self) -> None:
        self.apply_user_settings()  # theme and keymap from config.toml, before the first screen
        self.install_screen(self.training_screen, name="training")
        self.run_session.changed.subscribe(self, self._run_changed, immediate=True)
        self.push_screen(PresetListScreen())
        if self.start_path is not None:
            if is_run_folder(self.start_path):  # `tui-trainer RUN_DIR`: ctrl+l lists its neighbours
                self.runs_dir = self.start_path.resolve().parent
            self.open_path(self.start_path, self.overrides)
        elif self.overrides:
            self.notify("--set needs a PRESET; ignored", severity="warning")
        if not self.is_headless:
            self._install_signal_handlers()

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        # Not on Windows, nor outside the main thread.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError, AttributeError):
            loop.add_signal_handler(signal.SIGINT, self._on_signal)
        for name in ("SIGTERM", "SIGHUP"):
            with contextlib.suppress(ValueError, AttributeError, OSError):
                signal.signal(getattr(signal, name), lambda _sig, _frame: self._on_terminal_gone(loop))

    def _on_terminal_gone(self, loop: asyncio.AbstractEventLoop) -> None:
        """SIGTERM/SIGHUP, as a plain handler rather than on the event loop: when the terminal is gone
        but nobody has closed it (a dead ssh connection not yet noticed), the loop blocks writing to it
        and would never see the signal. So the run is stopped from here (between batches, last.pt
        written), the loop is asked to quit as usual, and if it cannot, the process ends once the run
        has saved."""
        self._exit_code = ExitCode.INTERRUPTED
        if self.control is not None:
            self.control.stop()  # thread-safe; a run that has ended ignores it
        with contextlib.suppress(RuntimeError):  # the loop has closed: the process is ending anyway
            loop.call_soon_threadsafe(self._on_signal)
        if not self._exit_guard.is_alive():
            self._exit_guard.start()

    def _exit_once_stopped(self) -> None:
        self.run_session.stop(wait=True)
        time.sleep(TERMINAL_GONE_GRACE)  # the usual way out restores the terminal, if there is one
        os._exit(self._exit_code)

    def _on_signal(self) -> None:
        """SIGINT/SIGTERM/SIGHUP: stop a run cleanly (last.pt, status interrupted), then exit."""
        self._exit_code = ExitCode.INTERRUPTED
        self._ask_before_quit = False  # the terminal may be gone: nobody can answer
        if self.training_active:
            self._quit_after = True
            self.stop_training()
        else:
            self.exit(return_code=self._exit_code)

    def on_unmount(self) -> None:
        # Whatever ends the app, never leave the run going without a UI: it stops between
        # batches and writes its checkpoint and status (asyncio then waits for the thread).
        self.run_session.stop()

    # The console's run (what the screens read; `run_session` starts, steers and ends it) -------

    @property
    def history(self) -> RunView | None:
        """The current or last run, as the screens draw it."""
        return self.run_session.view

    @history.setter
    def history(self, view: RunView | None) -> None:
        self.run_session.view = view
        self.run_session.changed.publish(view)

    @property
    def document(self) -> PresetDocument | None:
        """The preset being edited."""
        return self.presets.document

    @property
    def control(self) -> RunControl | None:
        return self.run_session.control

    @property
    def attachment(self) -> Attachment | None:
        return self.run_session.attachment

    @property
    def training_active(self) -> bool:
        return self.run_session.training

    @property
    def preparing_data(self) -> bool:
        """Whether this console's run is still decoding or loading its images (nothing trained yet)."""
        return self.run_session.preparing

    @property
    def attached_running(self) -> bool:
        """Whether `history` is a followed run that is still going (it can be stopped with SIGINT)."""
        return self.run_session.attached_running

    def stop_training(self, wait: bool = False, timeout: float | None = None) -> None:
        """Ask the run to stop between batches (safe from any thread); optionally wait for it."""
        self.run_session.stop(wait, timeout)

    # Presets ----------------------------------------------------------------------------------

    def open_path(self, path: Path, overrides: Sequence[str] = ()) -> None:
        """A preset file opens in the editor; a folder with status.json is a run; one with report.json an
        evaluation; a sweep file or folder its sweep screen."""
        from .sweep.opening import is_sweep_path

        if is_sweep_path(path):
            self.open_sweep(path)
            return
        if path.is_dir():
            if is_eval_folder(path):
                self.open_evaluation(path)
            elif is_run_folder(path):
                self.open_run(path)
            else:
                self.notify(f"{path} is a folder without a run status: not a run folder", severity="error")
            return
        self.presets.open(path, overrides)

    def open_run(self, path: Path, expect_pid: int | None = None) -> None:
        """Show a run folder on the training screen, followed live from its files (any run, any state).

        `expect_pid`: the pid of a run this console just started or resumed detached.
        """
        path = Path(path)
        if self.training_active:  # `history` belongs to the run in this console
            own = self.history.run_dir if self.history is not None else None
            if own is not None and own.resolve() == path.resolve():
                self.action_show_training()
                return
            from .runs.summary_screen import RunSummaryScreen

            self.notify("A run is going in this console: the other run opens read-only")
            self.push_screen(RunSummaryScreen(path))
            return
        self.run_session.follow(path, expect_pid)
        self._show_new_run()

    def _show_new_run(self) -> None:
        self.refresh_bindings()
        self.action_show_training()

    def resume_run(self, path: Path) -> None:
        """Continue an interrupted or failed run in this console, in its folder, from its last.pt
        (after a yes to its `model.target`, if it has one)."""
        if self.training_active:
            self.notify("A run is already going", severity="warning")
            return
        ask_about_run(self, Path(path), self.trust_code, lambda code: self._resume_run(Path(path), code))

    def extend_run(self, request: ExtendRun) -> None:
        """Train a finished run on to `request.epochs` in this console (after a yes to its `model.target`)."""
        if self.training_active:
            self.notify("A run is already going", severity="warning")
            return
        path = Path(request.path)
        ask_about_run(self, path, self.trust_code, lambda code: self._resume_run(path, code, request))

    def _resume_run(self, path: Path, code: TargetAccess | None, extension: ExtendRun | None = None) -> None:
        from ..engine.continuation import Continuation
        from ..runs.launch import load_run_preset

        if self.training_active:
            return
        try:
            # Refuses a run that another process is still training (and an extension of an unfinished one).
            preset = load_run_preset(path, code, extend_to=extension.epochs if extension else None)
            extend = None
            if extension is not None:
                done = RunFolder(path).read_run_status().epochs_done
                extend = Continuation(done, extension.schedule)
        except (PresetError, RunFolderError) as exc:
            self.push_screen(ErrorScreen("Cannot extend" if extension else "Cannot resume", str(exc)))
            return
        self.run_session.resume(path, preset, code, self.runs_dir, extend=extend)
        self._show_new_run()

    def action_show_runs(self) -> None:
        from .runs.screen import RunsScreen

        for screen in self.screen_stack:
            if isinstance(screen, RunsScreen):
                while self.screen is not screen:
                    self.pop_screen()
                return
        runs_dir = self.runs_dir
        if not runs_dir.is_dir() and self.history is not None and self.history.run_dir is not None:
            runs_dir = self.history.run_dir.parent  # `tui-trainer RUN_DIR` without --runs-dir: its neighbours
        self.push_screen(RunsScreen(runs_dir, trust_code=self.trust_code, in_console=True))

    def open_sweep(self, path: Path) -> None:
        """A sweep folder, or a sweep file, on the sweep screen (the study's trials)."""
        from .sweep.opening import sweep_screen_for

        try:
            self.push_screen(sweep_screen_for(Path(path), self.sweeps_dir, trust_code=self.trust_code))
        except ValueError as exc:
            self.push_screen(ErrorScreen("Cannot open the sweep", str(exc)))

    def action_show_sweeps(self) -> None:
        from .sweep.opening import default_sweep_path

        def chosen(path: Path | None) -> None:
            if path is not None:
                self.open_sweep(path)

        self.push_screen(PathPrompt("Open a sweep (file or folder)", str(default_sweep_path(self.sweeps_dir))), chosen)

    def action_start_detached(self) -> None:
        """Train the open preset in a process of its own, which goes on when the console closes."""
        from ..config import resolved_toml

        doc = self.document
        if doc is None or not doc.valid or doc.preset is None:
            self.notify("Open a preset without problems first", severity="warning")
            return
        saved = doc.path is not None and not doc.dirty
        self.notify("Starting a detached run…")
        self._start_detached(doc.path if saved else None, None if saved else resolved_toml(doc.preset))

    @work(thread=True, exit_on_error=False, group="detach", name="start detached")
    def _start_detached(self, preset_path: Path | None, preset_text: str | None) -> None:
        from ..runs.detach import DetachError, start_detached

        try:
            run = start_detached(preset_path, self.runs_dir, preset_text=preset_text)
        except (DetachError, OSError) as exc:
            self.call_from_thread(self.push_screen, ErrorScreen("Cannot start a detached run", str(exc)))
            return
        self.call_from_thread(self.notify, f"Detached run {run.run_dir.name} (pid {run.pid}): output in log.txt")
        self.call_from_thread(self.open_run, run.run_dir, run.pid)

    def new_preset(self) -> None:
        self.presets.new()

    def action_new_preset(self) -> None:
        """The palette's "preset: New preset" (the presets list has its own `n`); unsaved changes are asked about."""
        self.presets.close_editor(then=self.presets.new)

    def action_show_presets(self) -> None:
        self.presets.close_editor()

    def action_close_editor(self) -> None:
        self.presets.close_editor()

    def action_save_preset(self) -> None:
        self.presets.save()

    def action_save_preset_as(self) -> None:
        self.presets.save_as()

    # Requests from the screens ----------------------------------------------------------------

    def on_open_path(self, request: OpenPath) -> None:
        self.open_path(request.path)

    def on_new_preset(self, _request: NewPreset) -> None:
        self.presets.new()

    def on_save_preset(self, _request: SavePreset) -> None:
        self.presets.save()

    def on_open_run(self, request: OpenRun) -> None:
        self.open_run(request.path, request.expect_pid)

    def on_resume_run(self, request: ResumeRun) -> None:
        self.resume_run(request.path)

    def on_extend_run(self, request: ExtendRun) -> None:
        self.extend_run(request)

    def on_evaluate_run(self, request: EvaluateRun) -> None:
        self.evaluate_run(request.path)

    def on_export_run(self, request: ExportRun) -> None:
        self.export_run(request.path)

    def on_pause_training(self, _request: PauseTraining) -> None:
        self.action_pause_training()

    def on_stop_training(self, _request: StopTraining) -> None:
        self.action_stop_training()

    # Training ---------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "start_training":
            return None if self.training_active else True
        if action == "stop_training":
            return True if self.training_active or self.attached_running else None
        if action == "pause_training":  # a followed run it cannot pause hides it: `pause_refused` says why
            if self.run_session.pausable:
                return True
            return False if self.attachment is not None else None  # a followed or old run; idle: shown, off
        if action == "pause_refused":
            return self.attached_running and not self.run_session.pausable
        if action == "open_confusion":
            return True if self.history is not None and self.history.epochs else None
        if action in ("evaluate", "export", "open_evaluation"):
            return True if self.use_run_available() else None
        if action in ("save_preset", "save_preset_as", "start_detached"):
            return self.document is not None
        return True

    def action_start_training(self) -> None:
        if self.training_active:
            self.notify("A run is already going", severity="warning")
            return
        doc = self.document
        if doc is None:
            self.notify("Open a preset first", severity="warning")
            return
        if not doc.valid or doc.preset is None:
            count = len(doc.problem_lines())
            self.notify(
                f"The preset has {count_of(count, 'problem')}: fix {'it' if count == 1 else 'them'} before training",
                title="Cannot start",
                severity="error",
            )
            return
        source = doc.path if doc.path is not None and not doc.dirty else None
        self.run_session.start(doc.preset, source, TargetAccess.beside(doc.path), self.runs_dir)  # the user's own
        self._show_new_run()

    def action_stop_training(self) -> None:
        if not self.training_active and self.attached_running and self.attachment is not None:
            from ..runs.detach import DetachError, stop_run

            try:
                pid = stop_run(self.attachment.run_dir)
            except DetachError as exc:
                self.notify(str(exc), severity="warning")
                return
            self.notify(f"Asked pid {pid} to stop after this batch; the run keeps last.pt")
            return
        if not self.training_active:
            self.notify("No run is going")
            return
        preparing = self.preparing_data
        self.stop_training()
        self.notify(
            "Stopping the data preparation" if preparing else "Stopping after this batch; the run keeps last.pt"
        )

    def action_pause_training(self) -> None:
        if not self.training_active and self.attached_running:
            from ..runs.detach import DetachError

            try:
                self.run_session.toggle_followed_pause()
            except DetachError as exc:
                self.notify(f"Cannot pause: {exc}", severity="warning")
            return
        if not self.training_active or self.control is None or self.history is None:
            self.notify("No run is going")
            return
        self.run_session.toggle_pause()

    def action_pause_refused(self) -> None:
        """`p` on a followed run this console may not signal: say why instead of doing nothing."""
        attachment = self.attachment
        refusal = attachment.pause_refusal() if attachment is not None else ""
        self.notify(f"Cannot pause: {refusal or 'no run is going'}", severity="warning")

    def action_show_training(self) -> None:
        if self.screen is self.training_screen:
            return
        if self.training_screen in self.screen_stack:
            while self.screen is not self.training_screen:
                self.pop_screen()
            return
        self.push_screen("training")

    def action_toggle_health(self) -> None:
        """The training screen's health panel, shown or hidden (the palette's way to its h key)."""
        self.action_show_training()
        self.training_screen.action_toggle_health()

    def action_open_confusion(self) -> None:
        from .confusion.screen import ConfusionScreen

        if self.history is None or not self.history.epochs:
            self.notify("No finished epoch yet: the confusion matrix comes with the first validation")
            return
        self.push_screen(ConfusionScreen(self.history, changed=self.run_session.changed, trust_code=self.trust_code))

    def _run_changed(self, view: RunView | None) -> None:
        """The keys follow the run: a new run, another state, its first epoch (confusion), its end.
        Only then: refreshing the bindings rebuilds the footer (a new layout)."""
        key = (id(view), self.training_active, view.state if view else "", bool(view and view.epochs))
        if key != self._shown_run_keys and ui_alive(self):
            self._shown_run_keys = key
            self.refresh_bindings()

    # Events from the run's thread --------------------------------------------------------------

    def on_run_event(self, message: RunEvent) -> None:
        self.run_session.handle(message)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if self.run_session.worker_changed(event) and self._quit_after:
            self._quit_after = False
            self.quit_checking_document()

    # Quitting ---------------------------------------------------------------------------------

    async def action_quit(self) -> None:
        """Quit, asking first while a run is going or the preset has unsaved changes."""
        if isinstance(self.screen, ConfirmScreen):
            return  # a question is open, maybe this one: a second ctrl+q must not stack another
        if self.training_active:
            if self._quit_after:
                self.notify("Still stopping: the run is saving its checkpoint")
                return

            def answered(answer: str | None) -> None:
                if answer == "y":
                    preparing = self.preparing_data
                    self._quit_after = True
                    self.stop_training()
                    saving = "" if preparing else " (it saves last.pt)"
                    self.notify(f"Stopping the run{saving}, then quitting", timeout=30)

            self.push_screen(
                ConfirmScreen(
                    "Training is running",
                    STOP_WHILE_PREPARING + " Quit?"
                    if self.preparing_data
                    else "Stop the run and quit? It finishes the current batch, saves last.pt and is marked "
                    "interrupted, so it can be resumed.",
                    [("y", "Stop and quit"), ("n", "Keep training")],
                ),
                answered,
            )
            return
        self.quit_checking_document()

    async def action_help_quit(self) -> None:
        """Ctrl+C outside a text field: the same as ctrl+q (asks while training)."""
        await self.action_quit()

    def quit_checking_document(self) -> None:
        """Quit now, unless the open preset has unsaved changes: then ask about them first."""
        self.clear_notifications()

        def quit_now() -> None:
            self.exit(return_code=self._exit_code)

        if self._ask_before_quit:
            self.presets.before_quit(quit_now)
        else:
            quit_now()

    # Help -------------------------------------------------------------------------------------

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen.for_screen(self.screen))


def run_console(
    path: Path | None,
    overrides: list[str],
    runs_dir: Path,
    sweeps_dir: Path = Path("sweeps"),
    trust_code: bool = False,
) -> int:
    """Run the console until the user quits; returns the process exit status.

    `trust_code` (--trust-code): run folders' `model.target` is imported without the console asking."""
    if path is not None and not path.exists():
        print(printable(f"tui-trainer: {path}: no such file or folder"), file=sys.stderr)
        return ExitCode.USAGE
    # The terminal is asked what images it shows now: once Textual runs, its replies would go to Textual.
    detect_image_display(load_user_config()[0].images)  # the file's problems are shown once the console is up
    app = TrainerApp(path=path, overrides=overrides, runs_dir=runs_dir, trust_code=trust_code)
    app.sweeps_dir = sweeps_dir
    try:
        app.run()
    finally:
        # Normally the run is over by now; after a crash of the UI, let it save and stop.
        app.stop_training(wait=True)
    return app.return_code or 0

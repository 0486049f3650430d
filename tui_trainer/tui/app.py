"""The console: `tui-trainer [PRESET | RUN_DIR]`.

The App owns what outlives a screen: the open preset (`document`), the training worker and its
`RunControl`, and the `history` of the current or last run. Training runs in a thread worker
that calls `tui_trainer.runs.launch.run_training`; its events arrive as messages (see
`event_bridge.py`) and are folded into `history` here, on the UI thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.worker import Worker, WorkerState

from ..config.fields import all_fields
from ..config.loading import PresetError, parse_override
from ..config.schema import Preset
from ..engine.events import RunControl, RunFailed, RunFinished
from ..runs.eval_folder import is_eval_folder
from ..runs.folder import RunFolderError, is_run_folder
from ..runs.live import RunHistory
from ..setup_text import setup_text
from .app_settings import UserSettings
from .attach_follow import Attachment
from .commands import ConsoleCommands
from .confirm_screen import ConfirmScreen
from .error_screen import ErrorScreen
from .event_bridge import EventBridge
from .help_screen import HelpScreen
from .messages import (
    BatchProgressed,
    EpochCompleted,
    SetupProgressed,
    TrainingFailed,
    TrainingFinished,
    TrainingStarted,
)
from .path_prompt import PathPrompt
from .preset_document import NEW_PRESET_NOTE, NeedsPath, PresetDocument, toml_literal
from .preset_editor import PresetEditorScreen, suggested_copy_path
from .preset_list import PresetListScreen
from .recent import remember
from .run_end_notice import announce_run_end
from .run_use import RunUseActions
from .training_screen import TrainingScreen

Trainer = Callable[..., Any]
"""`run_training(preset, *, runs_dir, listeners, control, preset_source) -> RunOutcome`."""

EXIT_INTERRUPTED = 130


def load_trainer() -> Trainer:
    """The real training entry point, imported only when a run starts (it imports torch)."""
    from ..runs.launch import run_training

    return run_training


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
    ) -> None:
        super().__init__()
        self.start_path = path
        self.overrides = list(overrides)
        self.runs_dir = runs_dir
        self.sweeps_dir = Path("sweeps")
        self.trainer = trainer
        self.document: PresetDocument | None = None
        self.history: RunHistory | None = None
        self.control: RunControl | None = None
        self.training_screen = TrainingScreen()
        self._bridge: EventBridge | None = None
        self._train_worker: Worker[Any] | None = None
        self.attachment: Attachment | None = None
        """The run folder followed (attached, detached, or finished) when `history` is not an in-process run."""
        self._run_done = threading.Event()
        self._run_done.set()
        self._quit_after_run = False
        self._ask_before_quit = True
        self._exit_code = 0

    # Start-up and shutdown --------------------------------------------------------------------

    def on_mount(self) -> None:
        self.apply_user_settings()  # theme and keymap from config.toml, before the first screen
        self.install_screen(self.training_screen, name="training")
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
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            # Not on Windows, nor outside the main thread.
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError, AttributeError):
                loop.add_signal_handler(sig, self._on_signal)

    def _on_signal(self) -> None:
        """SIGINT/SIGTERM/SIGHUP: stop a run cleanly (last.pt, status interrupted), then exit."""
        self._exit_code = EXIT_INTERRUPTED
        self._ask_before_quit = False  # the terminal may be gone: nobody can answer
        if self.training_active:
            self._quit_after_run = True
            self.stop_training()
        else:
            self.exit(return_code=self._exit_code)

    def on_unmount(self) -> None:
        # Whatever ends the app, never leave the run going without a UI: it stops between
        # batches and writes its checkpoint and status (asyncio then waits for the thread).
        if self.control is not None and self.training_active:
            self.control.stop()

    @property
    def training_active(self) -> bool:
        return not self._run_done.is_set()

    def stop_training(self, wait: bool = False, timeout: float | None = None) -> None:
        """Ask the run to stop between batches (safe from any thread); optionally wait for it."""
        if self.control is not None and self.training_active:
            self.control.stop()
            if (
                self.history is not None
                and self.history.running
                and threading.current_thread() is threading.main_thread()
            ):
                self.history.set_state("stopping")
        if wait:
            self._run_done.wait(timeout)

    # Presets ----------------------------------------------------------------------------------

    def open_path(self, path: Path, overrides: Sequence[str] = ()) -> None:
        """A preset file opens in the editor; a folder with status.json is a run; one with report.json an
        evaluation; a sweep file or folder its sweep screen."""
        from .sweep_opening import is_sweep_path

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
        self.open_preset(path, overrides)

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
            from .run_summary_screen import RunSummaryScreen

            self.notify("A run is going in this console: the other run opens read-only")
            self.push_screen(RunSummaryScreen(path))
            return
        self._stop_following()
        self.control = None
        self.history = RunHistory(preset_name=path.name, state="starting", run_dir=path)
        self._bridge = EventBridge(self)
        self.attachment = Attachment(path, self._bridge, expect_pid=expect_pid)
        self.attachment.start(self)
        self.refresh_bindings()
        self.action_show_training()
        self._history_changed()

    def _stop_following(self) -> None:
        if self.attachment is not None:
            self.attachment.stop()
            self.attachment = None

    @property
    def attached_running(self) -> bool:
        """Whether `history` is a followed run that is still going (it can be stopped with SIGINT)."""
        return self.attachment is not None and self.history is not None and self.history.running

    def resume_run(self, path: Path) -> None:
        """Continue an interrupted or failed run in this console, in its folder, from its last.pt."""
        from ..runs.launch import load_run_preset

        if self.training_active:
            self.notify("A run is already going", severity="warning")
            return
        path = Path(path)
        try:
            preset = load_run_preset(path)  # refuses a run that another process is still training
        except (PresetError, RunFolderError) as exc:
            self.push_screen(ErrorScreen("Cannot resume", str(exc)))
            return
        self._stop_following()
        self.control = RunControl()
        self.history = RunHistory.from_run_dir(path)  # the epochs so far; the run adds the rest
        self.history.state = "starting"
        self._bridge = EventBridge(self)
        self._run_done.clear()
        self._train_worker = self._train(preset, self.control, self._bridge, None, resume=path)
        self.refresh_bindings()
        self.action_show_training()
        self._history_changed()

    def action_show_runs(self) -> None:
        from .runs_screen import RunsScreen

        for screen in self.screen_stack:
            if isinstance(screen, RunsScreen):
                while self.screen is not screen:
                    self.pop_screen()
                return
        runs_dir = self.runs_dir
        if not runs_dir.is_dir() and self.history is not None and self.history.run_dir is not None:
            runs_dir = self.history.run_dir.parent  # `tui-trainer RUN_DIR` without --runs-dir: its neighbours
        self.push_screen(RunsScreen(runs_dir))

    def open_sweep(self, path: Path) -> None:
        """A sweep folder, or a sweep file, on the sweep screen (the study's trials)."""
        from .sweep_opening import sweep_screen_for

        try:
            self.push_screen(sweep_screen_for(Path(path), self.sweeps_dir))
        except ValueError as exc:
            self.push_screen(ErrorScreen("Cannot open the sweep", str(exc)))

    def action_show_sweeps(self) -> None:
        from .sweep_opening import default_sweep_path

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

    def open_preset(self, path: Path, overrides: Sequence[str] = ()) -> None:
        try:
            document = PresetDocument.open(path)
        except (OSError, UnicodeDecodeError) as exc:
            self.push_screen(ErrorScreen("Cannot open preset", f"{path}: {exc}"))
            return
        remember(path)
        self._apply_overrides(document, overrides)
        self._edit(document)

    def new_preset(self) -> None:
        self._edit(PresetDocument.new())
        self.notify(f"New preset: {NEW_PRESET_NOTE}.", timeout=10)

    def action_new_preset(self) -> None:
        """The palette's "preset: New preset" (the presets list has its own `n`); unsaved changes are asked about."""
        self.action_close_editor(then=self.new_preset)

    def _edit(self, document: PresetDocument) -> None:
        self.document = document
        while isinstance(self.screen, (PresetEditorScreen, TrainingScreen)):
            self.pop_screen()
        self.push_screen(PresetEditorScreen(document))
        self.refresh_bindings()

    def _apply_overrides(self, document: PresetDocument, overrides: Sequence[str]) -> None:
        known = {spec.path for spec in all_fields()}
        for assignment in overrides:
            try:
                parts, value = parse_override(assignment)
            except PresetError as exc:
                self.notify(str(exc), severity="error")
                continue
            path = ".".join(parts)
            if path not in known:
                self.notify(f"--set {assignment}: unknown key {path}", severity="error")
            elif document.preset is None:
                self.notify(f"--set {assignment}: ignored, the preset has problems", severity="error")
            else:
                document.set_override(path, toml_literal(value))
        if overrides and document.preset is not None:
            self.notify(f"{len(overrides)} --set override(s) applied; not saved yet")

    @property
    def editor(self) -> PresetEditorScreen | None:
        for screen in reversed(self.screen_stack):
            if isinstance(screen, PresetEditorScreen):
                return screen
        return None

    def action_show_presets(self) -> None:
        self.action_close_editor()

    def action_close_editor(self, then: Callable[[], None] | None = None) -> None:
        """Back to the preset list (then `then`); unsaved changes are saved or dropped on purpose only."""
        doc = self.document

        def to_list() -> None:
            self._pop_to_list()
            if then is not None:
                then()

        if doc is None or not doc.edited:  # --set values alone are not worth a question
            to_list()
            return

        def answered(answer: str | None) -> None:
            if answer == "s":
                self._save(doc, None, then=to_list)
            elif answer == "d":
                self.document = None
                to_list()

        self.push_screen(
            ConfirmScreen(
                "Unsaved changes",
                f"{doc.title} has unsaved changes.",
                [("s", "Save"), ("d", "Discard"), ("escape", "Cancel")],
            ),
            answered,
        )

    def _pop_to_list(self) -> None:
        while len(self.screen_stack) > 2 and not isinstance(self.screen, PresetListScreen):
            self.pop_screen()
        self.refresh_bindings()

    def action_save_preset(self) -> None:
        doc = self.document
        if doc is None:
            self.notify("No preset is open", severity="warning")
        elif doc.path is None or doc.read_only:
            if doc.read_only:
                self.notify("Built-in presets are read-only: save a copy", severity="information")
            self.action_save_preset_as()
        else:
            self._save(doc, None)

    def action_save_preset_as(self, then: Callable[[], None] | None = None) -> None:
        doc = self.document
        if doc is None:
            self.notify("No preset is open", severity="warning")
            return

        def chosen(path: Path | None) -> None:
            if path is None:
                return
            if path.exists() and (doc.path is None or path.resolve() != doc.path.resolve()):

                def overwrite(answer: str | None) -> None:
                    if answer == "y":
                        self._save(doc, path, then)

                self.push_screen(
                    ConfirmScreen("Overwrite?", f"{path} exists. Replace it?", [("y", "Replace"), ("n", "Cancel")]),
                    overwrite,
                )
            else:
                self._save(doc, path, then)

        self.push_screen(PathPrompt("Save preset as", str(suggested_copy_path(doc))), chosen)

    def _save(self, doc: PresetDocument, path: Path | None, then: Callable[[], None] | None = None) -> None:
        try:
            target = doc.save(path)
        except NeedsPath:
            self.action_save_preset_as(then)
            return
        except OSError as exc:
            self.push_screen(ErrorScreen("Cannot save", str(exc)))
            return
        remember(target)
        message = f"Saved {target}"
        if doc.pending:
            message += f" ({len(doc.pending)} invalid form edit(s) not included)"
        if doc.preset is None:
            message += " with problems"
        self.notify(message, severity="warning" if doc.pending or doc.preset is None else "information")
        editor = self.editor
        if editor is not None:
            editor.document_saved()
        if then is not None:
            then()

    # Training ---------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "start_training":
            return None if self.training_active else True
        if action == "stop_training":
            return True if self.training_active or self.attached_running else None
        if action == "pause_training":
            return True if self.training_active else None
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
                f"The preset has {count} problem{'s' if count != 1 else ''}: fix them before training",
                title="Cannot start",
                severity="error",
            )
            return
        preset = doc.preset
        source = doc.path if doc.path is not None and not doc.dirty else None
        self._stop_following()
        self.control = RunControl()
        self.history = RunHistory(preset_name=preset.name, state="starting", epochs_planned=preset.train.epochs)
        self._bridge = EventBridge(self)
        self._run_done.clear()
        self._train_worker = self._train(preset, self.control, self._bridge, source)
        self.refresh_bindings()
        self.action_show_training()
        self._history_changed()

    @work(thread=True, exclusive=True, exit_on_error=False, group="training", name="training")
    def _train(
        self, preset: Preset, control: RunControl, bridge: EventBridge, source: Path | None, resume: Path | None = None
    ) -> Any:
        try:
            trainer = self.trainer or load_trainer()
            extra = {"resume": resume} if resume is not None else {}
            return trainer(
                preset, runs_dir=self.runs_dir, listeners=[bridge], control=control, preset_source=source, **extra
            )
        finally:
            self._run_done.set()

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
        self.stop_training()
        self.notify("Stopping after this batch; the run keeps last.pt")
        self._history_changed()

    def action_pause_training(self) -> None:
        if not self.training_active or self.control is None or self.history is None:
            self.notify("No run is going")
            return
        if self.history.state == "stopping":
            return
        if self.control.paused:
            self.control.resume()
            self.history.set_state("running")
        else:
            self.control.pause()
            latest = self._bridge.take_progress() if self._bridge is not None else None
            if latest is not None:  # the bridge holds back progress between messages
                self.history.add_progress(latest)
            self.history.set_state("paused")
        self._history_changed()

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
        try:
            from .confusion.screen import ConfusionScreen  # written alongside; may not exist yet
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.endswith("confusion.screen"):
                self.notify("The confusion matrix screen is not available yet", severity="warning")
                return
            raise
        if self.history is None or not self.history.epochs:
            self.notify("No finished epoch yet: the confusion matrix comes with the first validation")
            return
        self.push_screen(ConfusionScreen(self.history))

    @property
    def ui_alive(self) -> bool:
        """False while the app shuts down: its screens are gone but messages still arrive."""
        return self.is_running and bool(self.screen_stack)

    def _history_changed(self, bindings: bool = False) -> None:
        if not self.ui_alive:
            return
        if bindings:
            self.refresh_bindings()
        if self.training_screen.is_current:
            self.training_screen.show_history()

    # Events from the training thread ----------------------------------------------------------

    def on_training_started(self, message: TrainingStarted) -> None:
        if self.history is not None:
            self.history.start(message.event)
            self._history_changed()

    def on_setup_progressed(self, message: SetupProgressed) -> None:
        if self.history is not None:
            event = message.event
            resumed = not self.history.running  # set-up after the end: another process resumed the run
            if resumed:
                self.history.progress = None  # the dead process's last batch is not this one's
                self.history.set_state("starting")
            text = setup_text(event.stage, event.done, event.total)
            if event.rate > 0 and event.total > 1 and event.done < event.total:
                text += f"  {event.rate:,.0f} img/s, ETA {event.eta:.0f}s"
            self.history.set_setup(text)
            self._history_changed(bindings=resumed)

    def on_batch_progressed(self, message: BatchProgressed) -> None:
        event = message.bridge.take_progress()
        if event is not None and self.history is not None:
            self.history.add_progress(event)
            self._history_changed()

    def on_epoch_completed(self, message: EpochCompleted) -> None:
        if self.history is not None:
            self.history.add_epoch(message.event)
            # The first epoch makes the confusion matrix available; later ones change no key, and
            # refreshing the bindings rebuilds the footer (a new layout) each time.
            self._history_changed(bindings=len(self.history.epochs) == 1)

    def on_training_finished(self, message: TrainingFinished) -> None:
        if self.history is not None:
            self.history.finish(message.event)
            self._history_changed()
        self._announce_end(message.event)

    def on_training_failed(self, message: TrainingFailed) -> None:
        event = message.event
        if self.history is not None:
            self.history.fail(event)
            self._history_changed()
        self._announce_end(event)
        if self.ui_alive:
            self.push_screen(ErrorScreen("Training failed", event.error, event.hint, event.details))

    def _announce_end(self, event: RunFinished | RunFailed) -> None:
        """Bell and a notification when a run this console watched ends (not when an old one replays)."""
        watched = self.attachment is None or self.attachment.seen_running
        if watched and self.ui_alive:
            announce_run_end(self, event)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker is not self._train_worker or not self.ui_alive:
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
            if state == "failed" and self._bridge is not None and not self._bridge.saw_failure:
                error = getattr(outcome, "error", "") or "the run failed"
                if history is not None:
                    history.error = error
                self.push_screen(ErrorScreen("Training failed", error))
        elif event.state == WorkerState.ERROR:
            error = worker.error
            assert error is not None
            details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            if history is not None:
                history.error, history.details = f"{type(error).__name__}: {error}", details
                history.set_state("failed")
            self.push_screen(ErrorScreen("Training crashed", f"{type(error).__name__}: {error}", details=details))
        elif event.state == WorkerState.CANCELLED:
            if history is not None and history.running:
                history.set_state("interrupted")
        else:
            return
        self.refresh_bindings()
        self._history_changed()
        if self._quit_after_run:
            self._quit_after_run = False
            self._quit_checking_document()

    # Quitting ---------------------------------------------------------------------------------

    async def action_quit(self) -> None:
        """Quit, asking first while a run is going or the preset has unsaved changes."""
        if isinstance(self.screen, ConfirmScreen):
            return  # a question is open, maybe this one: a second ctrl+q must not stack another
        if self.training_active:
            if self._quit_after_run:
                self.notify("Still stopping: the run is saving its checkpoint")
                return

            def answered(answer: str | None) -> None:
                if answer == "y":
                    self._quit_after_run = True
                    self.stop_training()
                    self.notify("Stopping the run (it saves last.pt), then quitting", timeout=30)
                    self._history_changed()

            self.push_screen(
                ConfirmScreen(
                    "Training is running",
                    "Stop the run and quit? It finishes the current batch, saves last.pt and is marked "
                    "interrupted, so it can be resumed.",
                    [("y", "Stop and quit"), ("n", "Keep training")],
                ),
                answered,
            )
            return
        self._quit_checking_document()

    async def action_help_quit(self) -> None:
        """Ctrl+C outside a text field: the same as ctrl+q (asks while training)."""
        await self.action_quit()

    def _quit_checking_document(self) -> None:
        self.clear_notifications()
        doc = self.document
        if doc is None or not doc.edited or not self._ask_before_quit:
            self.exit(return_code=self._exit_code)
            return

        def answered(answer: str | None) -> None:
            if answer == "s":
                self._save(doc, None, then=lambda: self.exit(return_code=self._exit_code))
            elif answer == "d":
                self.exit(return_code=self._exit_code)

        self.push_screen(
            ConfirmScreen(
                "Unsaved changes",
                f"{doc.title} has unsaved changes.",
                [("s", "Save and quit"), ("d", "Quit without saving"), ("escape", "Cancel")],
            ),
            answered,
        )

    # Help -------------------------------------------------------------------------------------

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen.for_screen(self.screen))


def run_console(path: Path | None, overrides: list[str], runs_dir: Path, sweeps_dir: Path = Path("sweeps")) -> int:
    """Run the console until the user quits; returns the process exit status."""
    if path is not None and not path.exists():
        print(f"tui-trainer: {path}: no such file or folder", file=sys.stderr)
        return 2
    app = TrainerApp(path=path, overrides=overrides, runs_dir=runs_dir)
    app.sweeps_dir = sweeps_dir
    try:
        app.run()
    finally:
        # Normally the run is over by now; after a crash of the UI, let it save and stop.
        app.stop_training(wait=True)
    return app.return_code or 0

"""The live view of a run: state, batch progress with speed and ETA, charts, the epoch table.

The screen owns no training state: it draws the run session's `RunView` whenever the session's
`changed` signal fires while the screen is shown (and in full when the screen comes back), so
leaving it never affects the run. It is
also the one place that paces the UI: every progress event reaches the history, and the screen
redraws the progress at most `PROGRESS_REDRAWS_PER_SECOND` times a second.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, ProgressBar, Static

from ...engine.health import format_health
from ...runs.lineage import LeadIn
from ...runs.records import EpochRecord
from ...runs.view import RunView
from ...text import format_duration, format_lr, printable, short_path, shown
from ..common.baseline import Baseline, read_baseline
from ..messages import PauseTraining, StopTraining
from .charts import EpochTable, MetricChart
from .session import STOP_WHILE_PREPARING, RunSession

if TYPE_CHECKING:
    from ..preset.session import PresetSession


PROGRESS_REDRAWS_PER_SECOND = 1.0
"""How often the batch progress is redrawn at most (epochs and state changes show at once): each
redraw takes CPU, and the GIL, from the training thread, and a person reads no faster."""


def estimates(history: RunView) -> tuple[float | None, float | None]:
    """Seconds left in this epoch and in the whole run, from the latest progress."""
    progress = history.progress
    if progress is None or progress.batch <= 0 or progress.seconds <= 0:
        return None, None
    per_batch = progress.seconds / progress.batch
    epoch_left = (progress.batches - progress.batch) * per_batch
    finished = [r["epoch_seconds"] for r in history.epochs if r.get("epoch_seconds")]
    per_epoch = sum(finished) / len(finished) if finished else per_batch * progress.batches
    run_left = epoch_left + max(0, history.epochs_planned - progress.epoch) * per_epoch
    return epoch_left, run_left


class TrainingScreen(Screen[None]):
    """Start, pause, resume and stop a run of the preset being edited, and watch it."""

    HELP_TITLE = "training"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "app.start_training", "Start", id="run.start"),
        Binding("p", "pause", "Pause", id="run.pause"),
        Binding("p", "resume", "Resume", id="run.resume"),  # check_action shows the one that applies
        Binding("p", "app.pause_refused", "Pause", id="run.pause", show=False),  # says why not; remapped with it
        Binding("x", "stop", "Stop", id="run.stop"),
        Binding("c", "app.open_confusion", "Confusion", id="run.confusion"),
        # Evaluate and export: in help, the palette and the run-end notice; the footer fits 80 columns.
        Binding("v", "app.evaluate", "Evaluate", id="run.evaluate", show=False),
        Binding("o", "app.export", "Export", id="run.export", show=False),
        # Off the footer (full at 80 columns); listed in help and the command palette ("run: Health panel").
        Binding("h", "toggle_health", "Health panel", id="run.health", show=False),
        Binding("l", "toggle_log_loss", "Log loss", id="run.log_loss", show=False),
        Binding("escape,e", "back", "Back", id="training.back"),
    ]

    def __init__(self, session: RunSession, presets: PresetSession | None = None) -> None:
        super().__init__(id="training")
        self.session = session
        self.presets = presets  # for the preset's name before a run starts
        self._drawn_version = -1
        self._drawn_epochs = -1
        self._drawn_steps = -1
        self._drawn_key: tuple[object, ...] = ()
        self._drawn_at = 0.0
        self._redraw_timer: Timer | None = None
        self._texts: dict[str | None, str] = {}
        self._baseline = Baseline()  # the pinned run the charts draw beside this one
        self._drawn_beside: tuple[bool, str] = (False, "")  # whether the charts draw it, and why not
        self._ready = False
        self._paused_shown = False
        self.health_shown = False  # the health panel, toggled with h; off by default (the charts need the rows)

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Static("", id="run-state")
        yield Static("", id="run-dir", markup=False)
        with Horizontal(id="progress-row"):
            yield ProgressBar(total=None, show_eta=False, id="batch-progress")
            yield Static("", id="progress-text", markup=False)
        yield Static("", id="live-metrics", markup=False)
        yield Static("", id="health-panel", markup=False)
        with Horizontal(id="charts"):
            yield MetricChart("loss", "train_loss", "val_loss", steps=True, id="loss-chart")
            yield MetricChart("accuracy %", "train_acc", "val_acc", percent=True, short="acc %", id="acc-chart")
        yield EpochTable(id="epoch-table")
        yield Footer()

    def on_mount(self) -> None:
        self._ready = True
        self._apply_health_shown()

    def on_resize(self, _event: events.Resize) -> None:
        self.call_after_refresh(self._refit_state)  # once the widgets have their new sizes

    def _refit_state(self) -> None:
        """The state line fitted to the new width: it leaves out parts rather than lose the best epoch."""
        if self._ready:
            self._texts.pop("run-state", None)
            with contextlib.suppress(NoMatches):
                self._show_state(self.session.view)

    def on_unmount(self) -> None:
        self._ready = False

    def on_screen_suspend(self) -> None:
        self.session.changed.unsubscribe(self)

    def on_screen_resume(self) -> None:
        # Immediate: the signal's call is the redraw, paced by `show_history`, not one more queued message.
        self.session.changed.subscribe(self, self._run_changed, immediate=True)
        self._drawn_version = -1
        self._drawn_epochs = -1
        self._drawn_key = ()
        self._show_baseline()
        self.show_history()

    def _show_baseline(self) -> None:
        """The pinned baseline run's validation curves beside this run's (dimmed); looked up each time the
        screen is shown, since the runs screen pins and unpins it."""
        baseline = read_baseline(with_metrics=True)
        if baseline.dropped:
            self.notify(f"baseline {printable(baseline.dropped)} is gone: unpinned", markup=False)
        self._baseline = baseline
        for chart in self.query(MetricChart):
            chart.set_baseline(baseline)

    def _baseline_beside(self, history: RunView | None) -> tuple[bool, str]:
        """(drawn, why not) of the pinned baseline beside this run (`Baseline.beside`)."""
        if history is None:
            return False, ""
        return self._baseline.beside(history.run_dir, history.classes)

    def _run_changed(self, _view: RunView | None) -> None:
        self.show_history()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_toggle_health(self) -> None:
        """Show or hide the health panel (step timing, gradient norm, CPU/GPU figures)."""
        self.health_shown = not self.health_shown
        self._apply_health_shown()

    def _apply_health_shown(self) -> None:
        if not self._ready:
            return  # on_mount applies it
        panel = self.query_one("#health-panel", Static)
        panel.display = self.health_shown
        self._texts.pop("health-panel", None)
        self._show_health(self.session.view)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "stop":  # shown and enabled as the App's stop is
            return self.app.check_action("stop_training", parameters)
        if action in ("pause", "resume"):  # "p Pause" while running, "p Resume" while paused
            history = self.session.view
            paused = history is not None and history.state == "paused"
            if (action == "resume") != paused:
                return False  # hidden: the other binding of `p` is the one that applies
            return self.app.check_action("pause_training", parameters)
        return True

    def action_pause(self) -> None:
        self.post_message(PauseTraining())

    def action_resume(self) -> None:
        self.post_message(PauseTraining())

    def _show_pause_key(self, history: RunView | None) -> None:
        """Redraw the footer when the run is paused or goes on, so `p` says what it will do."""
        paused = history is not None and history.state == "paused"
        if paused != self._paused_shown:
            self._paused_shown = paused
            self.refresh_bindings()

    def action_stop(self) -> None:
        """`x` asks first: a stop ends the run (it can be resumed from last.pt, but not undone)."""
        from ..common.confirm_screen import ConfirmScreen

        def answered(answer: str | None) -> None:
            if answer == "y":
                self.post_message(StopTraining())

        self.app.push_screen(
            ConfirmScreen(
                "Stop the run?",
                STOP_WHILE_PREPARING
                if self.session.preparing
                else "It stops after the current batch and keeps last.pt, so it can be resumed.",
                [("y", "Stop"), ("escape", "Keep training")],
            ),
            answered,
        )

    def action_toggle_log_loss(self) -> None:
        """The loss chart on a log scale, or back: late epochs' small changes become visible."""
        self.query_one("#loss-chart", MetricChart).toggle_log_scale(self.session.view)

    def show_history(self) -> None:
        """Redraw what changed since the last call (cheap when nothing did)."""
        if not self._ready:
            return
        history = self.session.view
        version = history.version if history is not None else 0
        if version == self._drawn_version:
            return
        key = (id(history), history.state, len(history.epochs), history.setup_stage) if history else ()
        wait = 1 / PROGRESS_REDRAWS_PER_SECOND - (time.monotonic() - self._drawn_at)
        if key == self._drawn_key and wait > 0:
            # Only the batch progress moved: draw it once the interval is over (one timer however
            # many events come meanwhile), so the console takes as little from training as it can.
            if self._redraw_timer is None:
                self._redraw_timer = self.set_timer(wait, self._redraw_later)
            return
        self._drawn_key, self._drawn_at, self._drawn_version = key, time.monotonic(), version
        with contextlib.suppress(NoMatches):  # the app is closing and the widgets are gone
            self._draw(history)

    def _set(self, widget: Static, text: str) -> None:
        """Update a one-line Static only when its text changed; a repaint, never a new layout."""
        if self._texts.get(widget.id) != text:
            self._texts[widget.id] = text
            widget.update(text, layout=False)

    def _redraw_later(self) -> None:
        self._redraw_timer = None
        self.show_history()

    def _draw(self, history: RunView | None) -> None:
        self._show_pause_key(history)
        self._show_state(history)
        self._show_progress(history)
        self._show_health(history)
        epochs = len(history.epochs) if history is not None else 0
        steps = len(history.step_losses) if history is not None else 0
        beside = self._baseline_beside(history)
        if beside != self._drawn_beside:  # the run's classes came: the baseline is drawn, or says why not
            self._drawn_beside, self._drawn_epochs = beside, -1
        if epochs == self._drawn_epochs and steps != self._drawn_steps:
            self._drawn_steps = steps  # the per-step loss moved: only its chart, at the progress pace
            self.query_one("#loss-chart", MetricChart).show_history(history)
        if epochs != self._drawn_epochs:
            self._drawn_epochs = epochs
            self._drawn_steps = steps
            self.query_one("#loss-chart", MetricChart).show_history(history)
            self.query_one("#acc-chart", MetricChart).show_history(history)
            self.query_one("#epoch-table", EpochTable).show_history(history)

    def _show_state(self, history: RunView | None) -> None:
        state = self.query_one("#run-state", Static)
        folder = self.query_one("#run-dir", Static)
        if history is None:
            doc = self.presets.document if self.presets is not None else None
            name = doc.preset_name() if doc is not None else "no preset open"
            self._set(state, f"[b]{shown(name)}[/b] · no run yet: press [b]s[/b] (or ctrl+r) to start training")
            self._set(folder, "")
            return
        self.sub_title = printable(f"run of {history.preset_name}")
        parts = [(f"[reverse] {history.state} [/reverse]", 0)]  # (markup, rank): see state_line
        if history.state == "paused" and history.pause is not None:
            parts.append((history.pause.since_text(), 2))
        if history.device:
            device = f"{history.device} {history.precision}" + (f", {history.storage}" if history.storage else "")
            parts.append((device, 3))
        if history.epochs_planned:
            done = int(history.epochs[-1].get("epoch", len(history.epochs))) if history.epochs else 0  # a fork: K+1..
            epoch = min(done + (1 if history.running else 0), history.epochs_planned)
            parts.append((f"epoch {epoch}/{history.epochs_planned}", 1))
        if history.best_val_acc is not None:
            parts.append((_best_text(history), 0))
        if history.setup_stage and history.progress is None:
            parts.append((shown(history.setup_stage), 2))
        self._set(state, state_line(history.preset_name, parts, state.size.width))
        drawn, why_not = self._baseline_beside(history)
        beside = f" · gray: {printable(self._baseline.label)}" if drawn else ""  # the charts' dimmed curve
        apart = f"baseline not drawn: {why_not} · " if why_not else ""  # first: a long line is cut at its end
        where = printable(short_path(history.run_dir)) if history.run_dir else "(not yet created)"
        self._set(folder, apart + folder_line(where, history.lead_in) + beside)

    def _show_progress(self, history: RunView | None) -> None:
        bar = self.query_one("#batch-progress", ProgressBar)
        text = self.query_one("#progress-text", Static)
        live = self.query_one("#live-metrics", Static)
        progress = history.progress if history is not None else None
        if history is None or progress is None:
            bar.update(total=None if history is not None and history.running else 1, progress=0)
            self._set(text, "")
            self._set(live, "")
            return
        bar.update(total=progress.batches, progress=progress.batch)
        epoch_left, run_left = estimates(history)
        parts = [f"batch {progress.batch}/{progress.batches}", f"{progress.images_per_second:,.0f} img/s"]
        if history.running and progress.batch >= progress.batches and len(history.epochs) < progress.epoch:
            parts.append("validating")  # the epoch's batches are done; its line comes after validation
        elif history.state == "paused":
            parts.append("paused")  # no ETA: the run's time stands still while it holds
        elif epoch_left is not None and history.running:
            parts.append(f"ETA {format_duration(epoch_left)}")
        self._set(text, " · ".join(parts))
        ticking = run_left is not None and history.running and history.state != "paused"
        run_eta = f" · run ETA {format_duration(run_left)}" if ticking else ""
        self._set(
            live,
            f"epoch {progress.epoch}: loss {progress.loss:.4f} · acc {progress.accuracy:.1%} · "
            f"lr {format_lr(progress.lr)}{run_eta}",
        )

    def _show_health(self, history: RunView | None) -> None:
        panel = self.query_one("#health-panel", Static)
        if not panel.display:
            return
        health = history.progress.health if history is not None and history.progress is not None else None
        if health is None:
            text = "health: no figures yet (they come with the run's progress reports)"
        else:
            text = "\n".join(f"health: {line}" for line in format_health(health))
        if self._texts.get(panel.id) != text:
            self._texts[panel.id] = text
            panel.set_class(health is not None and health.input_bound, "-input-bound")
            panel.update(text)  # the line count may change: a new layout


def state_line(name: str, parts: list[tuple[str, int]], width: int) -> str:
    """The run's name in bold, then `parts` (markup, rank) joined by " · ", fitted to `width` cells
    (0: not laid out yet, everything): the highest-ranked parts are left out first (the device, then
    the set-up stage, then the epoch), rank 0 never (the state, the best epoch); then the name is
    cut with an ellipsis."""

    def line(title: str, kept: list[tuple[str, int]]) -> str:
        return " · ".join([f"[b]{shown(title)}[/b]", *(markup for markup, _ in kept)])

    def cells(text: str) -> int:
        return Text.from_markup(text).cell_len

    kept = list(parts)
    while width and cells(line(name, kept)) > width and any(rank for _, rank in kept):
        worst = max(rank for _, rank in kept)
        kept = [part for part in kept if part[1] != worst]
    over = cells(line(name, kept)) - width
    if width and over > 0:
        title = printable(name)
        name = title[: max(4, len(title) - over - 1)] + "…"
    return line(name, kept)


def folder_line(where: str, lead_in: LeadIn) -> str:
    """The run folder, and for a fork the legend of its parent's dotted epochs, or first (a long line
    is cut at its end) why they are not drawn."""
    parent = lead_in.parent
    if parent is None:
        return f"run folder: {where}"
    if lead_in.problem:
        return f"parent {lead_in.problem}: epochs to {parent.epoch} not drawn · run folder: {where}"
    return f"run folder: {where} · dotted to ep {parent.epoch}: parent {printable(parent.run.name)}"


def _best_text(history: RunView) -> str:
    """The best epoch for the state line, named by the figure that picked it when that is not accuracy:
    "best 71.2% (ep 3)", "best macro_f1 64.0% (ep 3)"."""
    record = next((r for r in history.epochs if r.get("epoch") == history.best_epoch), {})
    typed = EpochRecord.from_record(record)
    if typed.best_metric == "val_acc" or typed.best_value is None:
        return f"best {history.best_val_acc:.1%} (ep {history.best_epoch})"
    value = f"{typed.best_value:.4f}" if typed.best_metric == "val_loss" else f"{typed.best_value:.1%}"
    return f"best {typed.best_metric} {value} (ep {history.best_epoch})"

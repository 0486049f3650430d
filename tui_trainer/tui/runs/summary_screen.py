"""A run folder, read-only: its status and metrics as charts and a table.

The stand-in for `tui-trainer RUN_DIR` until the runs screen exists; it reads the run's status and
epoch records once (no live follow).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from ...runs.view import RunView
from ...text import printable, shown
from ..run.charts import EpochTable, MetricChart


class RunSummaryScreen(Screen[None]):
    HELP_TITLE = "run folder"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="run_summary.back"),
        Binding("r", "reload", "Reload", id="run_summary.reload"),
    ]

    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.history = RunView.from_run_dir(run_dir)

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Static("", id="run-state")
        yield Static(f"run folder: {printable(self.run_dir)}", id="run-dir", markup=False)
        with Horizontal(id="charts"):
            yield MetricChart("loss", "train_loss", "val_loss", id="loss-chart")
            yield MetricChart("accuracy %", "train_acc", "val_acc", percent=True, short="acc %", id="acc-chart")
        yield EpochTable(id="epoch-table")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = printable(self.run_dir)
        self._show()

    def _show(self) -> None:
        h = self.history
        parts = [f"[b]{shown(h.preset_name)}[/b]", f"[reverse] {h.state} [/reverse]"]
        parts.append(f"{len(h.epochs)}/{h.epochs_planned} epochs")
        if h.best_val_acc is not None:
            parts.append(f"best {h.best_val_acc:.1%} (ep {h.best_epoch})")
        if h.error:
            parts.append(f"error: {shown(h.error)}")
        self.query_one("#run-state", Static).update(" · ".join(parts) + "  (read-only)")
        self.query_one("#loss-chart", MetricChart).show_history(h)
        self.query_one("#acc-chart", MetricChart).show_history(h)
        self.query_one("#epoch-table", EpochTable).show_history(h)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_reload(self) -> None:
        self.history = RunView.from_run_dir(self.run_dir)
        self._show()

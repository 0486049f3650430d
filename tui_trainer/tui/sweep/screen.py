"""The sweep screen: a study's trials as a sortable table, their curves, a parameter scatter.

It reads the study (from SQLite, the journal file or the database its sweep.toml names; a URL's
password is never shown) and the trials' run folders every two seconds in a thread worker, so
it shows a sweep run by this console's detached process, a shell, or another machine alike.
Enter opens a trial's run on the training screen; `g` starts (or continues) the sweep detached,
`x` stops it after the current trial's batch. `g` runs the sweep file the screen was opened with, or
(for a sweep folder) the one its study was started from: it refuses one whose name, space, objective
or sampler differ from the study on screen, and a received sweep whose preset has a `model.target`
runs only after a yes to its code (see `code_prompt`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from ...config.sweep_file import STORAGES, SweepSpec
from ...runs.folder import RunFolder
from ...runs.sweep_study import (
    SweepFolder,
    TrialRow,
    best_row,
    in_sweep_folder,
    sort_rows,
    sweep_file_of,
    trial_rows,
)
from ...text import format_value, printable, shown
from ..common.code_prompt import ask_to_run_code
from ..common.confirm_screen import ConfirmScreen
from ..common.readable_plot import ReadablePlot, epoch_ticks, plottable
from ..messages import OpenRun

RESCAN_SECONDS = 2.0
FIXED_COLUMNS = ("trial", "state", "objective")
TAIL_COLUMNS = ("epochs", "time")
CURVE_COLORS = ("cyan", "orange", "green", "magenta", "yellow", "blue", "red", "white")


class SweepScreen(Screen[None]):
    """One sweep folder's study."""

    HELP_TITLE = "sweep"

    DEFAULT_CSS = """
    SweepScreen #sweep-title { height: 1; padding: 0 1; }
    SweepScreen #sweep-filter { height: 1; border: none; padding: 0 1; margin: 0; }
    SweepScreen #sweep-table { height: 1fr; }
    SweepScreen #sweep-plot { height: 12; }
    SweepScreen #sweep-message { height: auto; max-height: 2; padding: 0 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open run", id="sweep.open"),
        Binding("space", "toggle_select", "Select", id="sweep.select"),
        Binding("o", "next_sort", "Sort by", id="sweep.sort"),
        Binding("r", "reverse_sort", "Reverse", id="sweep.reverse"),
        Binding("v", "next_view", "Curves/scatter", id="sweep.view"),
        Binding("g", "start", "Start detached", id="sweep.start"),
        Binding("x", "stop", "Stop", id="sweep.stop"),
        Binding("slash", "focus_filter", "Filter", id="sweep.filter"),
        Binding("escape", "back", "Back", id="sweep.back"),
    ]

    def __init__(
        self, folder: Path, sweeps_dir: Path | None = None, sweep_file: Path | None = None, trust_code: bool = False
    ) -> None:
        super().__init__(id="sweep")
        self.folder = SweepFolder(Path(folder))
        self.sweep_file = sweep_file
        self.trust_code = trust_code
        self.sweeps_dir = Path(sweeps_dir) if sweeps_dir is not None else self.folder.path.parent
        self.rows: list[TrialRow] = []
        self.shown: list[TrialRow] = []
        self.selected: set[int] = set()
        self.params: list[str] = []
        self.direction = "maximize"
        self.metric = "val_acc"
        self.sort_column = "objective"
        self.descending = True
        self.view = "curves"  # curves | scatter:<param>
        self.best: TrialRow | None = None
        self.study: Any = None
        # A study in the folder's own files is read at once; one in a database is read only after the user
        # says yes: the server is whatever the folder's sweep.toml names, and the folder may be someone else's.
        self.may_connect = self.folder.storage in STORAGES
        self._drawn: list[tuple[str, ...]] = []
        self._columns: tuple[str, ...] = ()
        self._started = False

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Static("", id="sweep-title", markup=False)
        yield Input(placeholder="filter: words of a trial's state, number or values  (/)", id="sweep-filter")
        yield DataTable(id="sweep-table", cursor_type="row", zebra_stripes=True)
        yield ReadablePlot(id="sweep-plot")
        yield Static("", id="sweep-message", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        elsewhere = self.folder.storage != "sqlite"  # a journal file or a database: say which
        self.sub_title = printable(f"{self.folder.path}" + (f"  (study: {self.folder.where})" if elsewhere else ""))
        self.query_one("#sweep-table", DataTable).focus()
        if not self.may_connect:
            self.ask_to_connect()
        self.rescan()
        self.set_interval(RESCAN_SECONDS, self.rescan)

    def ask_to_connect(self) -> None:
        """Ask before connecting to the database this sweep folder's sweep.toml names (No is the default)."""
        question = (
            f"{shown(self.folder.sweep_file)} keeps this sweep's study in a database: {shown(self.folder.where)}. "
            "Reading it connects to that server as you. Say yes only if you know the server: a sweep "
            "folder from someone else may name any."
        )

        def answered(answer: str | None) -> None:
            self.may_connect = answer == "y"
            if self.may_connect:
                self.rescan()
            else:
                self.say(f"not connected to {self.folder.where}: esc, then open the sweep again to connect")

        self.app.push_screen(
            ConfirmScreen("Connect to the database?", question, [("n", "No"), ("y", "Connect")]), answered
        )

    # ------------------------------------------------------------------ reading

    def rescan(self) -> None:
        self._scan()

    @work(thread=True, exclusive=True, group="sweep-scan", exit_on_error=False)
    def _scan(self) -> None:
        from ...runs.sweep_study import SweepError, load_study

        if not self.may_connect:
            return  # the user has not said yes to the database (ask_to_connect)
        try:
            if self.study is None:
                if not self.folder.exists():
                    if not self._started:
                        self.app.call_from_thread(self.say, "not started yet: g starts the sweep detached")
                    return
                self.study = load_study(self.folder)
        except SweepError as exc:
            self.app.call_from_thread(self.say, str(exc))
            return
        spec = self.study.user_attrs.get("spec", {})
        rows = trial_rows(self.study)
        self.app.call_from_thread(self.show_rows, rows, spec, self.study.direction.name.lower())

    def show_rows(self, rows: list[TrialRow], spec: dict[str, Any], direction: str) -> None:
        self.rows = rows
        self.params = list(spec.get("space", {}))
        self.metric = spec.get("objective", {}).get("metric", "val_acc")
        self.direction = direction
        self.best = best_row(rows, direction)
        self._redraw()

    # ------------------------------------------------------------------ drawing

    @property
    def columns(self) -> tuple[str, ...]:
        return (*FIXED_COLUMNS, *(f"param:{p}" for p in self.params), *TAIL_COLUMNS)

    def _redraw(self) -> None:
        if not self.is_attached:
            return
        table = self.query_one("#sweep-table", DataTable)
        if self.columns != self._columns:
            self._columns = self.columns
            table.clear(columns=True)
            for column in self.columns:
                table.add_column(self._label(column), key=column)
            self._drawn = []
        current = self.current_row()
        text = self.query_one("#sweep-filter", Input).value
        self.shown = sort_rows([r for r in self.rows if r.matches(text)], self.sort_column, self.descending)
        cells = [self._cells(row) for row in self.shown]
        if cells != self._drawn:
            self._drawn = cells
            table.clear()
            for column in self.columns:  # the sort arrow lives in the header
                table.columns[column].label = self._label(column)  # type: ignore[index]
            for row, values in zip(self.shown, cells, strict=True):
                table.add_row(*values, key=str(row.number))
            numbers = [r.number for r in self.shown]
            if current is not None and current.number in numbers:
                table.move_cursor(row=numbers.index(current.number), animate=False)
        self._show_title()
        self._plot()

    def _label(self, column: str) -> str:
        name = column.removeprefix("param:")
        if column == "objective":
            name = self.metric
        arrow = (" ▼" if self.descending else " ▲") if column == self.sort_column else ""
        return name + arrow

    def _cells(self, row: TrialRow) -> tuple[str, ...]:
        mark = "●" if row.number in self.selected else " "
        star = "★" if self.best is not None and row.number == self.best.number else " "
        return (
            f"{mark}{star}{row.number}",
            row.state,
            format_value(row.value),
            *(format_value(row.params.get(p)) for p in self.params),
            format_value(row.epochs),
            "-" if row.seconds is None else f"{row.seconds:.1f}s",
        )

    def _show_title(self) -> None:
        done = sum(r.state in ("finished", "pruned") for r in self.rows)
        running = sum(r.state == "running" for r in self.rows)
        best = f"  best: trial {self.best.number} {self.metric} {self.best.value:.4g}" if self.best else ""
        self.query_one("#sweep-title", Static).update(
            f"{printable(self.folder.path.name)}: {done} finished or pruned, {running} running{best}  "
            f"(sorted by {self._label(self.sort_column).rstrip(' ▲▼')})"
        )

    def _plot(self) -> None:
        plot = self.query_one("#sweep-plot", ReadablePlot)
        plt = plot.plt
        plt.clear_figure()  # ticks and scales too: the curves and the scatter set their own
        if self.view == "curves":
            chosen = [r for r in self.rows if r.number in self.selected] or [r for r in [self.current_row()] if r]
            plt.title(f"{self.metric} per epoch: " + ("selected trials" if self.selected else "this trial"))
            epochs: list[float] = []
            for i, row in enumerate(chosen[: len(CURVE_COLORS)]):
                if row.run_dir is None:
                    continue
                metrics = RunFolder(row.run_dir).read_metrics()
                xs, ys = plottable(
                    [int(m["epoch"]) for m in metrics if self.metric in m],
                    [float(m[self.metric]) for m in metrics if self.metric in m],
                )
                if xs:
                    plt.plot(xs, ys, marker="hd", color=CURVE_COLORS[i], label=f"trial {row.number}")
                    epochs += xs
            if epochs:
                plt.xticks(epoch_ticks(epochs))  # whole epochs, not 1.00, 1.50
        else:
            param = self.view.removeprefix("scatter:")
            points = [
                (r.params[param], r.value)
                for r in self.rows
                if r.value is not None and isinstance(r.params.get(param), (int, float))
            ]
            plt.title(f"{self.metric} against {param}")
            xs, ys = plottable([p for p, _ in points], [v for _, v in points])
            if xs:
                plt.scatter(xs, ys, marker="hd", color="orange")
                if param.endswith(("lr", "weight_decay")) and min(xs) > 0:
                    plt.xscale("log")
                else:
                    plt.xscale("linear")
        plot.refresh()

    def current_row(self) -> TrialRow | None:
        table = self.query_one("#sweep-table", DataTable)
        if not self.shown or table.row_count == 0:
            return None
        row = min(max(table.cursor_row, 0), len(self.shown) - 1)
        key = table.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value
        return next((r for r in self.shown if str(r.number) == key), None)

    def say(self, message: str) -> None:
        self.query_one("#sweep-message", Static).update(printable(message, lines=True))

    # ------------------------------------------------------------------ events

    def on_input_changed(self, event: Input.Changed) -> None:
        self._redraw()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#sweep-table", DataTable).focus()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.view == "curves" and not self.selected:
            self._plot()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        column = str(event.column_key.value)
        self.sort_by(column, not self.descending if column == self.sort_column else column == "objective")

    # ------------------------------------------------------------------ actions

    def sort_by(self, column: str, descending: bool) -> None:
        self.sort_column, self.descending = column, descending
        self._drawn = []
        self._redraw()

    def action_next_sort(self) -> None:
        columns = list(self.columns)
        column = columns[(columns.index(self.sort_column) + 1) % len(columns)]
        best_first = self.direction == "maximize"
        self.sort_by(column, best_first if column == "objective" else False)

    def action_reverse_sort(self) -> None:
        self.sort_by(self.sort_column, not self.descending)

    def action_next_view(self) -> None:
        views = ["curves", *(f"scatter:{p}" for p in self.params)]
        self.view = views[(views.index(self.view) + 1) % len(views)] if self.view in views else "curves"
        self._plot()

    def action_toggle_select(self) -> None:
        row = self.current_row()
        if row is None:
            return
        self.selected ^= {row.number}
        self._redraw()

    def action_open(self) -> None:
        row = self.current_row()
        if row is None or row.run_dir is None:
            self.say("this trial has no run folder yet")
            return
        self.post_message(OpenRun(row.run_dir))

    def action_focus_filter(self) -> None:
        self.query_one("#sweep-filter", Input).focus()

    def action_back(self) -> None:
        filter_input = self.query_one("#sweep-filter", Input)
        if filter_input.has_focus and filter_input.value:
            filter_input.value = ""
            return
        self.app.pop_screen()

    def action_start(self) -> None:
        self._start()

    @work(thread=True, exclusive=True, group="sweep-start", exit_on_error=False)
    def _start(self) -> None:
        from ...config import PresetError
        from ...config.sweep_file import load_sweep

        if self.sweep_file is not None:
            sweep_file = self.sweep_file
        elif self.study is not None:
            sweep_file = sweep_file_of(self.folder, self.study)  # named by the study: data, like the folder
        else:
            self.app.call_from_thread(self.say, "the study is not read yet; try again")
            return
        try:
            spec = load_sweep(sweep_file)
        except PresetError as exc:
            self.app.call_from_thread(self.say, printable(f"cannot start {sweep_file}: {exc.problems[0]}"))
            return
        differs = self._differs(spec)
        if differs:
            self.app.call_from_thread(
                self.say, printable(f"not started: g would run {sweep_file}, whose {differs} differ from this study's")
            )
            return
        self.app.call_from_thread(self._ask_then_start, spec)

    def _differs(self, spec: SweepSpec) -> str:
        """What of the sweep `g` would run differs from the study shown ("" when they agree)."""
        differs = []
        if SweepFolder.for_spec(self.sweeps_dir, spec).path.resolve() != self.folder.path.resolve():
            differs.append("name (its folder)")
        kept = self.study.user_attrs.get("spec") if self.study is not None else None
        if kept is not None and kept != spec.spec_record():
            differs.append("space, objective or sampler")
        return " and ".join(differs)

    def _ask_then_start(self, spec: SweepSpec) -> None:
        """Start at once a sweep file the user named; a received one with a model.target after a yes."""
        received = self.sweep_file is None or in_sweep_folder(spec.source)
        folder = Path.cwd() if in_sweep_folder(spec.source) else spec.preset_path.parent  # where the child looks
        target = spec.targets[0] if received and spec.targets else ""
        ask_to_run_code(
            self.app,
            spec.preset_path,
            target,
            self.trust_code,
            lambda code: self._spawn(spec, trust_code=code is not None),
            folder=folder,
        )

    @work(thread=True, exclusive=True, group="sweep-start", exit_on_error=False)
    def _spawn(self, spec: SweepSpec, trust_code: bool) -> None:
        from ...runs.sweep_detach import start_sweep_detached

        self._started = True
        pid = start_sweep_detached(spec.source, self.sweeps_dir, self.folder, trust_code=trust_code)
        self.app.call_from_thread(
            self.say,
            printable(f"sweep started detached (pid {pid}): {spec.source} (preset {spec.preset_path}); ")
            + printable(f"log in {self.folder.log_file}"),
        )

    def action_stop(self) -> None:
        from ...runs.detach import DetachError
        from ...runs.sweep_detach import stop_sweep

        if self.study is None:
            return
        try:
            pids = stop_sweep(self.study)
        except DetachError as exc:
            self.say(str(exc))
            return
        self.say(f"asked pid {', '.join(map(str, pids))} to stop after the current batch")

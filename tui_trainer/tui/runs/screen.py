"""Every run under the runs folder: open or attach, resume, extend, stop, compare, pin a baseline.

The list is rescanned every few seconds on a worker thread, so runs started elsewhere (another
console, a cluster job writing to a shared folder) appear and change state on their own.
What the App does with a run goes through optional hooks, so the screen works in any App:
`open_run(path, expect_pid=None)` (attach, or show a finished run) and `resume_run(path)`
(continue in this console); without them it falls back to a read-only summary.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

from ...config.builtin import resolve_preset_arg
from ...config.code_trust import TargetAccess
from ...config.loading import PresetError
from ...runs.detach import DetachError, resume_detached, stop_run
from ...runs.folder import RunFolder
from ...runs.pause import PAUSED
from ...runs.slurm_queue import with_job_states
from ...runs.slurm_submit import Submission, SubmitError, Submitted, prepare, submit
from ...runs.state import RunState
from ...runs.summary import BROKEN, RunSummary, filter_runs, list_runs
from ...text import format_duration, printable, short_path
from ..common.baseline import Baseline, pin_baseline, read_baseline
from ..common.code_prompt import ask_about_run
from ..common.error_screen import ErrorScreen
from ..common.path_prompt import PathPrompt
from ..messages import EvaluateRun, ExportRun, ExtendRun, OpenRun, ResumeRun, StopTraining
from .submit_screen import SubmitScreen

RESCAN_SECONDS = 2.0
STATE_STYLES = {
    "running": "bold green",
    PAUSED: "bold yellow",  # a running run that holds between batches (its label; its state says running)
    "pending": "cyan",  # submitted to SLURM, its job not started
    "failed": "bold red",
    "interrupted": "yellow",
    "pruned": "dim",  # a sweep stopped it early
    BROKEN: "bold red",
}


def row_cells(run: RunSummary, selected: bool, baseline: bool = False) -> tuple[Any, ...]:
    """The table cells of one run: mark (● selected, b the baseline, ●b both), state, started, epochs, best,
    time, what."""
    started = run.started_at.strftime("%m-%d %H:%M") if run.started_at else ""
    epochs = f"{run.epochs_done}/{run.epochs_planned}" if run.epochs_planned else (str(run.epochs_done or ""))
    best = f"{run.best_val_acc:.1%}" if run.best_val_acc is not None else ""
    if run.state == BROKEN:
        what = f"{run.name}: {run.problem}"
    else:
        what = run.preset_name or run.name
        note = run.problem or (run.error if run.state == RunState.FAILED else "")
        if note:
            what += f" · {note}"
    state = Text(run.label, style=STATE_STYLES.get(run.label, STATE_STYLES.get(run.state, "")))
    if run.job is not None:  # SLURM's word beside the folder's: "pending · PENDING (Priority)"
        state.append(f" · {printable(run.job.text)}", style="dim")
    return (
        ("●" if selected else "") + ("b" if baseline else "") or " ",
        state,
        started,
        epochs,
        best,
        format_duration(run.duration),
        Text(printable(what), no_wrap=True, overflow="ellipsis"),  # cut to the column's width (last_column_width)
    )


COLUMNS = (
    (" ", "mark"),
    ("state", "state"),
    ("started", "started"),
    ("epochs", "epochs"),
    ("best", "best"),
    ("time", "time"),
    ("run", "what"),
)
"""(label, key) of the table's columns; the last, the run's name, takes what the others leave."""


def last_column_width(rows: list[tuple[Any, ...]], width: int, padding: int = 1) -> int | None:
    """The width that lets the last column (the run's name) fit the table in `width` cells, its cells
    cut with an ellipsis; None when the table fits as it is (or `width` is not known yet, 0).

    A table wider than the screen scrolls sideways: the name is cut at the screen's edge with
    nothing to say so, and the horizontal scrollbar leaves a stray `▋` in the empty rows."""
    if not width or not rows:
        return None

    def cells(cell: Any) -> int:
        return cell.cell_len if isinstance(cell, Text) else Text(str(cell)).cell_len

    columns = list(zip(*rows, strict=True))  # the cells of each column
    widths = [
        max(cells(label), *map(cells, column)) + 2 * padding
        for (label, _), column in zip(COLUMNS, columns, strict=True)
    ]
    if sum(widths) <= width:
        return None
    return max(cells(COLUMNS[-1][0]), width - sum(widths[:-1]) - 2 * padding)


class RunsScreen(Screen[None]):
    """The runs folder as a table; the highlighted run's folder and any problem below it."""

    HELP_TITLE = "runs"

    DEFAULT_CSS = """
    RunsScreen #runs-filter { height: 1; border: none; padding: 0 1; margin: 0; }
    RunsScreen #runs-table { height: 1fr; }
    RunsScreen #runs-detail { height: auto; max-height: 4; padding: 0 1; color: $text-muted; }
    RunsScreen #runs-message { height: auto; max-height: 2; padding: 0 1; }
    """

    # At 60 columns the footer holds three keys beside the console's own (quit, help) and the palette;
    # the others are listed by help (?), the filter's placeholder names `/`, and a running run's detail
    # line names `x`. Compare says to select with space when nothing is selected.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", id="runs.open", show=False),  # the table's enter opens too
        Binding("space", "toggle_select", "Select", id="runs.select", show=False),
        Binding("r", "resume", "Resume", id="runs.resume"),
        Binding("d", "resume_detached", "Resume detached", id="runs.resume_detached", show=False),
        Binding("e", "extend", "Extend…", id="runs.extend", show=False),
        Binding("b", "toggle_baseline", "Pin as baseline", id="runs.baseline", show=False),
        Binding("x", "stop", "Stop", id="runs.stop", show=False),
        Binding("c", "compare", "Compare", id="runs.compare"),
        Binding("v", "evaluate", "Evaluate", id="runs.evaluate", show=False),
        Binding("o", "export", "Export", id="runs.export", show=False),
        Binding("S", "submit", "Submit to SLURM", id="runs.submit", show=False),
        Binding("slash", "focus_filter", "Filter", id="runs.filter", show=False),
        Binding("escape", "back", "Back", id="runs.back"),
    ]

    def __init__(self, runs_dir: Path, trust_code: bool = False, in_console: bool = False) -> None:
        super().__init__(id="runs")
        self.runs_dir = Path(runs_dir)
        self.trust_code = trust_code
        """--trust-code: a detached resume of a run with a `model.target` does not ask first."""
        self.in_console = in_console
        """The console handles the requests this screen posts (open, resume, evaluate, export a run);
        elsewhere a run opens read-only and the rest is refused with a word why."""
        self.all_runs: list[RunSummary] = []
        self.shown: list[RunSummary] = []
        self.selected: set[Path] = set()
        self.baseline: Path | None = None
        """The pinned baseline run (the settings file keeps it)."""
        self._drawn: tuple[list[tuple[Any, ...]], int | None] = ([], None)  # rows and the name column's width

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Input(placeholder="filter: words of the name, preset, state or date  (/)", id="runs-filter")
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="runs-detail", markup=False)
        yield Static("", id="runs-message", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = printable(short_path(self.runs_dir))
        table = self.query_one("#runs-table", DataTable)
        self._read_baseline()
        self.show_runs(list_runs(self.runs_dir))  # the first scan at once: a few small files per run
        self.rescan()  # and at once again with the SLURM jobs' states, off the UI thread
        table.focus()
        self.set_interval(RESCAN_SECONDS, self.rescan)

    # ------------------------------------------------------------------ the list

    def rescan(self) -> None:
        self._scan()

    @work(thread=True, exclusive=True, group="runs-scan", exit_on_error=False)
    def _scan(self) -> None:
        runs = with_job_states(list_runs(self.runs_dir))  # squeue, cached, with a short timeout: here, off the UI
        self.app.call_from_thread(self.show_runs, runs)

    def show_runs(self, runs: list[RunSummary]) -> None:
        """Show `runs` (newest first) through the filter, keeping the cursor on the same run."""
        self.all_runs = runs
        self._redraw()

    def _redraw(self) -> None:
        if not self.is_attached:
            return
        table = self.query_one("#runs-table", DataTable)
        current = self.current_run()
        self.shown = filter_runs(self.all_runs, self.query_one("#runs-filter", Input).value)
        baseline = self.baseline.absolute() if self.baseline is not None else None
        rows = [row_cells(run, run.path in self.selected, run.path.absolute() == baseline) for run in self.shown]
        fitted = last_column_width(rows, table.scrollable_content_region.width, table.cell_padding)
        if (rows, fitted) != self._drawn:
            self._drawn = (rows, fitted)
            table.clear(columns=True)  # a column keeps the width of its widest cell ever, until cleared
            for label, key in COLUMNS:
                table.add_column(label, key=key, width=fitted if key == COLUMNS[-1][1] else None)
            for run, cells in zip(self.shown, rows, strict=True):
                table.add_row(*cells, key=str(run.path))
            paths = [run.path for run in self.shown]
            if current is not None and current.path in paths:
                table.move_cursor(row=paths.index(current.path), animate=False)
        self._show_detail()
        if not self.all_runs:
            self.say(f"no runs in {short_path(self.runs_dir)} yet")

    def current_run(self) -> RunSummary | None:
        table = self.query_one("#runs-table", DataTable)
        if not self.shown or table.row_count == 0:
            return None
        row = min(max(table.cursor_row, 0), len(self.shown) - 1)
        key = table.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value
        return next((run for run in self.shown if str(run.path) == key), None)

    def _show_detail(self) -> None:
        run = self.current_run()
        detail = self.query_one("#runs-detail", Static)
        if run is None:
            detail.update("")
            return
        lines = [printable(short_path(run.path))]
        if run.state == RunState.RUNNING:
            lines[0] += " · x stops it"  # x is out of the footer
        if run.pause is not None:
            lines.append(run.pause.describe())
        if run.job is not None:
            lines.append(f"SLURM job {printable(run.job.job_id)}: {printable(run.job.text)}")
        if run.problem:
            lines.append(f"problem: {printable(run.problem)}")
        if run.error:
            lines.append(f"error: {printable(run.error)}")
        command = RunFolder(run.path).read_command()  # how to run it again (runs started detached)
        if command:
            lines.append(f"command: {printable(command)}")
        detail.update(Text("\n".join(lines)))  # plain text: a "[" in a folder name is not markup

    def say(self, message: str) -> None:
        self.query_one("#runs-message", Static).update(Text(printable(message, lines=True)))

    # ------------------------------------------------------------------ events

    def on_resize(self) -> None:
        self.call_after_refresh(self._redraw)  # the names cut to the new width, once the table has it

    def on_input_changed(self, event: Input.Changed) -> None:
        self._redraw()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#runs-table", DataTable).focus()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()

    # ------------------------------------------------------------------ actions

    def action_focus_filter(self) -> None:
        self.query_one("#runs-filter", Input).focus()

    def action_back(self) -> None:
        filter_input = self.query_one("#runs-filter", Input)
        if filter_input.has_focus:
            self.query_one("#runs-table", DataTable).focus()
            return
        self.app.pop_screen()

    def action_toggle_select(self) -> None:
        run = self.current_run()
        if run is None:
            return
        self.selected ^= {run.path}
        self._redraw()
        table = self.query_one("#runs-table", DataTable)
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1, animate=False)

    def action_open(self) -> None:
        run = self.current_run()
        if run is None:
            return
        if run.state == BROKEN:
            self.say(f"cannot open {run.name}: {run.problem}")
            return
        self.open_run(run.path)

    def open_run(self, path: Path, expect_pid: int | None = None) -> None:
        if self.in_console:
            self.post_message(OpenRun(path, expect_pid))
            return
        from .summary_screen import RunSummaryScreen  # an App without live attach

        self.app.push_screen(RunSummaryScreen(path))

    def _resumable(self) -> RunSummary | None:
        run = self.current_run()
        if run is None:
            return None
        if run.state == RunState.RUNNING:
            self.say(f"{run.name} is running: enter attaches to it")
        elif not run.resumable:
            finished = run.state == RunState.FINISHED
            why = "it finished" if finished else "it has no last.pt" if run.has_checkpoint is False else ""
            why = why or ("its folder is damaged: " + run.problem if run.damaged else "")
            self.say(f"cannot resume {run.name}" + (f": {why}" if why else f" ({run.label})"))
        else:
            return run
        return None

    def action_resume(self) -> None:
        run = self._resumable()
        if run is None:
            return
        if not self.in_console:
            self.say("this console cannot resume in place; press d to resume detached")
            return
        self.post_message(ResumeRun(run.path))

    def action_resume_detached(self) -> None:
        run = self._resumable()
        if run is not None:
            ask_about_run(self.app, run.path, self.trust_code, lambda code: self._resume_detached(run, code))

    def _resume_detached(self, run: RunSummary, code: TargetAccess | None) -> None:
        """`code` set: the user trusts the run's `model.target`, and so does the child (--trust-code)."""
        try:
            detached = resume_detached(run.path, trust_code=code is not None)
        except (DetachError, OSError) as exc:
            self.say(f"cannot resume {run.name}: {exc}")
            return
        self.say(f"resumed {run.name} detached (pid {detached.pid}); output in {detached.log_file}")
        self.rescan()
        self.open_run(run.path, expect_pid=detached.pid)

    def action_stop(self) -> None:
        run = self.current_run()
        if run is None:
            return
        if run.state != RunState.RUNNING:
            self.say(f"{run.name} is not running ({run.label})")
            return
        if run.pid == os.getpid():
            self.post_message(StopTraining())  # the console's own run: stop it as the training screen does
            self.say(f"stopping {run.name} after the current batch")
            return
        try:
            pid = stop_run(run.path)
        except DetachError as exc:
            self.say(str(exc))
            return
        self.say(f"asked {run.name} (pid {pid}) to stop after its current batch; it keeps last.pt")
        self.rescan()

    def _use(self, request: type[EvaluateRun | ExportRun], verb: str) -> None:
        run = self.current_run()
        if run is None:
            return
        if not self.in_console:
            self.say(f"this console cannot {verb} runs")
        elif run.state == BROKEN or not run.has_checkpoint:
            self.say(f"cannot {verb} {run.name}: it has no checkpoint")
        else:
            self.post_message(request(run.path))

    def action_evaluate(self) -> None:
        self._use(EvaluateRun, "evaluate")

    def action_export(self) -> None:
        self._use(ExportRun, "export")

    # ------------------------------------------------------------------ submit to SLURM

    def action_submit(self) -> None:
        """Ask for a preset, show the script it would be submitted with, and submit it on y."""

        def chosen(path: Path | None) -> None:
            if path is not None:
                self._confirm_submit(resolve_preset_arg(str(path)))

        self.app.push_screen(PathPrompt("Submit a preset to SLURM (a file, or a built-in's name)"), chosen)

    def _confirm_submit(self, preset: Path) -> None:
        try:
            submission = prepare(preset, (), {}, self.runs_dir)
        except SubmitError as exc:
            self.app.push_screen(ErrorScreen("Cannot submit", str(exc)))
            return
        self.app.push_screen(SubmitScreen(submission), lambda yes: self._submit(submission) if yes else None)

    @work(thread=True, exclusive=True, group="runs-submit", exit_on_error=False)
    def _submit(self, submission: Submission) -> None:
        """sbatch and scontrol on a worker: a busy controller answers in seconds."""
        self.app.call_from_thread(self.say, f"submitting {submission.preset_name} to SLURM...")
        try:
            submitted = submit(submission)
        except (SubmitError, OSError) as exc:
            self.app.call_from_thread(self.say, f"cannot submit {submission.preset_name}: {exc}")
            return
        self.app.call_from_thread(self._submitted, submitted)

    def _submitted(self, submitted: Submitted) -> None:
        self.say(f"submitted job {submitted.job_id}: {submitted.folder.path.name} (enter follows it)")
        self.show_runs(list_runs(self.runs_dir))  # the new run at once; its job's state comes with the rescan
        self.rescan()
        paths = [run.path for run in self.shown]
        if submitted.folder.path in paths:
            self.query_one("#runs-table", DataTable).move_cursor(row=paths.index(submitted.folder.path), animate=False)

    def action_compare(self) -> None:
        chosen = [run.path for run in self.all_runs if run.path in self.selected]
        current = self.current_run()
        if len(chosen) == 1 and current is not None and current.path not in self.selected:
            chosen.append(current.path)
        found = self._read_baseline()
        baseline, apart = self.baseline, ""
        if baseline is not None and all(path.absolute() != baseline.absolute() for path in chosen):
            if not chosen and current is not None:  # nothing selected: the run under the cursor vs the baseline
                chosen.append(current.path)
            apart = found.why_not_compared(chosen)
            if not apart:
                chosen.append(baseline)  # every compare includes the pinned baseline where it compares
        note = f"baseline not drawn: {apart}" if apart else ""
        if len(chosen) < 2:
            how = "select two or more runs with space (or pin a baseline with b), then press c"
            self.say(f"{note}; {how}" if note else how)
            return
        from .compare_screen import CompareScreen

        self.app.push_screen(CompareScreen(chosen, baseline=baseline, note=note))

    # ------------------------------------------------------------------ lineage

    def _read_baseline(self) -> Baseline:
        found = read_baseline()
        if found.dropped:
            self.notify(f"baseline {printable(found.dropped)} is gone: unpinned", markup=False)
        self.baseline = found.path
        return found

    def action_toggle_baseline(self) -> None:
        run = self.current_run()
        if run is None:
            return
        unpin = self.baseline is not None and self.baseline.absolute() == run.path.absolute()
        try:
            pin_baseline(None if unpin else run.path)
        except (OSError, PresetError) as exc:
            self.say(f"cannot pin the baseline: {exc}")
            return
        self.baseline = None if unpin else run.path.absolute()
        self.say(
            f"unpinned {run.name}"
            if unpin
            else f"pinned {run.name} as the baseline: every compare and the training charts draw it (b again: unpin)"
        )
        self._drawn = ([], None)
        self._redraw()

    def action_extend(self) -> None:
        run = self.current_run()
        if run is None:
            return
        if run.state != RunState.FINISHED:
            self.say(
                f"only a finished run can be extended; {run.name} is {run.label}"
                + ("" if run.state == RunState.RUNNING else ": r resumes it")
            )
            return
        if not self.in_console:
            self.say("this console cannot train; extend it with: tui-trainer train --resume RUN --set train.epochs=N")
            return
        from .extend_prompt import ExtendPrompt, Extension

        def answered(extension: Extension | None) -> None:
            if extension is not None:
                self.post_message(ExtendRun(run.path, extension.epochs, extension.schedule))

        self.app.push_screen(ExtendPrompt(run.name, run.epochs_done), answered)

"""Several runs side by side: their validation curves overlaid, and how their presets differ.

Each run gets a letter (A, B, ...) used in the list of runs and the preset table, so long folder
names never crowd an 80-column chart. The list of runs above the charts is their legend (a line in
each run's colour before its letter): a legend inside a chart sits over the top of its curves. A
fork's curve starts with its parent's epochs up to the fork, so the two lines join at that epoch;
the pinned baseline is marked in the list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from string import ascii_uppercase
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from ...runs.folder import RunFolder, RunFolderError
from ...runs.lineage import read_lead_in
from ...runs.preset_diff import preset_diff
from ...runs.summary import summarize
from ...text import printable
from ..common.readable_plot import ReadablePlot, epoch_ticks, plottable

# (plotext, rich) names of one colour each: distinct in a 16-colour terminal; a ninth run reuses the first.
COLORS = (
    ("cyan", "cyan"),
    ("orange", "dark_orange"),
    ("green", "green"),
    ("magenta", "magenta"),
    ("red", "red"),
    ("blue", "blue"),
    ("yellow", "yellow"),
    ("white", "white"),
)


@dataclass(frozen=True)
class ComparedRun:
    letter: str
    path: Path
    label: str  # "A smoke"
    color: str  # plotext's name
    style: str  # rich's name of the same colour
    metrics: list[dict[str, Any]]
    summary: str  # one line: folder, state, epochs, best
    lead_in: list[dict[str, Any]] = field(default_factory=list)
    """A fork's parent's epochs up to the fork: its curve starts with them."""


def _metrics(path: Path) -> list[dict]:
    """The epochs of a run; none for a damaged folder (its summary line says what is wrong)."""
    try:
        return RunFolder(path).read_metrics()
    except RunFolderError:
        return []


def _lineage(path: Path) -> tuple[str, list[dict[str, Any]]]:
    """(" · fork of NAME@K", the parent's epochs up to K) of a fork; ("", []) for other runs."""
    lead_in = read_lead_in(path)
    if lead_in.parent is None:
        return "", []
    return f" · fork of {lead_in.parent.run.name}@{lead_in.parent.epoch}", lead_in.epochs


def load_compared(run_dirs: Sequence[Path], baseline: Path | None = None) -> list[ComparedRun]:
    out = []
    pinned = baseline.absolute() if baseline is not None else None
    for index, path in enumerate(run_dirs):
        letter = ascii_uppercase[index % 26] + ("" if index < 26 else str(index // 26))
        run = summarize(Path(path))
        best = f" · best {run.best_val_acc:.1%}" if run.best_val_acc is not None else ""
        fork, lead_in = _lineage(Path(path))
        problem = fork + (" · baseline" if Path(path).absolute() == pinned else "")
        problem += f" · {run.problem}" if run.problem else ""
        out.append(
            ComparedRun(
                letter=letter,
                path=Path(path),
                label=printable(f"{letter} {run.preset_name or run.name}"),
                color=COLORS[index % len(COLORS)][0],
                style=COLORS[index % len(COLORS)][1],
                metrics=_metrics(Path(path)),
                summary=printable(
                    f"{run.name} · {run.state} · {run.epochs_done}/{run.epochs_planned} epochs{best}{problem}"
                ),
                lead_in=lead_in,
            )
        )
    return out


class CompareChart(ReadablePlot):
    """One metric of several runs, one line each in the run's colour (the screen's list of runs is the legend)."""

    def __init__(self, title: str, key: str, percent: bool = False, *, id: str) -> None:
        # No fixed 0-100 range: runs close to each other must look apart.
        super().__init__(id=id)
        self.chart_title = title
        self.key = key
        self.percent = percent
        self.series: dict[str, list[tuple[int, float]]] = {}
        """What is plotted now: legend label -> (epoch, value) points (tests read it)."""

    def show_runs(self, runs: Sequence[ComparedRun]) -> None:
        scale = 100.0 if self.percent else 1.0
        self.series = {}
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self.chart_title)
        epochs: set[int] = set()
        for run in runs:
            points = [
                (int(r.get("epoch", i + 1)), float(r[self.key]) * scale)
                for i, r in enumerate([*run.lead_in, *run.metrics])
                if isinstance(r.get(self.key), (int, float))
            ]
            self.series[run.label] = points
            xs, ys = plottable([x for x, _ in points], [y for _, y in points])
            if xs:
                epochs.update(int(x) for x in xs)
                plt.plot(xs, ys, marker="braille", color=run.color)
        if epochs:
            plt.xticks(epoch_ticks(epochs))
        self.refresh()


def diff_column_widths(rows: list[tuple[str, list[str]]], runs: int, width: int) -> tuple[int, int]:
    """Widths of the key column and of each run's column so that every run fits side by side."""
    usable = max(20, width - 2 - 2 * (runs + 1))  # the table's scrollbar and each cell's padding
    longest_key = max((len(key) for key, _ in rows), default=3)
    key_width = min(longest_key, max(12, usable // 3))
    longest_value = max((len(v) for _, values in rows for v in values), default=1)
    value_width = max(4, min(longest_value, (usable - key_width) // max(1, runs)))
    return key_width, value_width


def _cut(text: str, width: int) -> str:
    """`text`, ending in … when it is longer than `width` (the full value is in each run's preset.toml)."""
    return text if len(text) <= width else text[: width - 1] + "…"


class CompareScreen(Screen[None]):
    """Validation accuracy and loss of the chosen runs, and the preset keys where they differ."""

    HELP_TITLE = "compare"

    DEFAULT_CSS = """
    CompareScreen #compare-runs { height: auto; max-height: 5; padding: 0 1; }
    CompareScreen #compare-charts { height: 11; min-height: 8; }
    CompareScreen #compare-diff-title { height: 1; padding: 0 1; text-style: bold; }
    CompareScreen #compare-problems { height: auto; padding: 0 1; color: $warning; }
    CompareScreen #compare-diff { height: 1fr; min-height: 4; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="compare.back"),
        Binding("r", "reload", "Reload", id="compare.reload"),
    ]

    def __init__(self, run_dirs: Sequence[Path], baseline: Path | None = None, note: str = "") -> None:
        """`note`: one line under the runs, such as why the pinned baseline is not among them."""
        super().__init__(id="compare")
        self.run_dirs = [Path(p) for p in run_dirs]
        self.baseline = baseline
        self.note = note
        self.runs: list[ComparedRun] = []
        self.diff_rows: list[tuple[str, list[str]]] = []

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Static("", id="compare-runs")
        with Horizontal(id="compare-charts"):
            yield CompareChart("val accuracy %", "val_acc", percent=True, id="compare-acc")
            yield CompareChart("val loss", "val_loss", id="compare-loss")
        yield Static("", id="compare-diff-title")
        yield Static("", id="compare-problems", markup=False)
        yield DataTable(id="compare-diff", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"comparing {len(self.run_dirs)} runs"
        self.action_reload()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_reload(self) -> None:
        self.runs = load_compared(self.run_dirs, self.baseline)
        lines = Text()
        for run in self.runs:
            if lines:
                lines.append("\n")
            lines.append(f"━━ {run.letter} ", style=f"bold {run.style}")  # the charts' legend
            lines.append(run.summary)
        if self.note:
            lines.append(f"\n{self.note}", style="dim")
        self.query_one("#compare-runs", Static).update(lines)
        self.query_one("#compare-acc", CompareChart).show_runs(self.runs)
        self.query_one("#compare-loss", CompareChart).show_runs(self.runs)
        self._show_diff()

    def _show_diff(self) -> None:
        self.diff_rows, problems = preset_diff(self.run_dirs)
        title = self.query_one("#compare-diff-title", Static)
        title.update(
            f"preset differences ({len(self.diff_rows)} key{'' if len(self.diff_rows) == 1 else 's'})"
            if self.diff_rows
            else "the presets are the same"
        )
        self.query_one("#compare-problems", Static).update("\n".join(map(printable, problems)))
        table = self.query_one("#compare-diff", DataTable)
        table.clear(columns=True)
        key_width, value_width = diff_column_widths(self.diff_rows, len(self.runs), self.app.size.width)
        table.add_column("key", key="key", width=key_width)
        for run in self.runs:
            table.add_column(Text(run.letter, style=f"bold {run.style}"), key=run.letter, width=value_width)
        for key, values in self.diff_rows:
            cells = (Text(_cut(printable(v), value_width)) for v in values)  # a value may be a path: plain text
            table.add_row(_cut(key, key_width), *cells, key=key)
        table.display = bool(self.diff_rows)

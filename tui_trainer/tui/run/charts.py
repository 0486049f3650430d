"""Live metric charts (plotext through textual-plotext) and the table of finished epochs.

Both read a `RunView` and are redrawn on the UI thread only; plotext keeps global state,
so every chart draws into its own `ReadablePlot.plt` figure and nothing else touches it.
"""

from __future__ import annotations

import math

from rich.text import Text
from textual.app import RenderResult
from textual.widgets import DataTable

from ...runs.view import RunView
from ...text import format_lr
from ..common.baseline import Baseline
from ..common.readable_plot import ReadablePlot, epoch_ticks, plottable

# Named ANSI colours: they look the same in a 16- or 256-colour SSH session as in truecolor.
TRAIN_COLOR = "cyan"
VAL_COLOR = "orange"
BASELINE_COLOR = "gray"  # the pinned baseline run: dimmed beside the current run
PARENT_MARKER = "braille"  # a fork's parent's epochs: dotted in the run's colours, then its own solid ("hd")
CURVES = ("parent train", "parent val", "train", "val", "baseline")
"""The per-epoch series: the x ticks and the accuracy chart's y range fit all of them."""


def fitted_range(values: list[float], low: float = 0.0, high: float = 100.0) -> tuple[float, float]:
    """A y range that fits the data with a margin, within [low, high]: 99.2% and 100% stay apart."""
    if not values:
        return low, high
    lo, hi = min(values), max(values)
    margin = max(0.5, (hi - lo) * 0.1)
    return max(low, lo - margin), min(high, hi + margin)


def baseline_points(
    points: list[tuple[float, float]], history: RunView | None, baseline: Baseline
) -> list[tuple[float, float]]:
    """The baseline's points drawn beside `history`: none where it does not compare (`Baseline.beside`),
    and none past the run's planned epochs, which would stretch the run's axis for epochs it has no
    point to compare with (an extended run plans more, and sees more of the baseline)."""
    if history is None or not baseline.beside(history.run_dir, history.classes)[0]:
        return []
    last = history.epochs_planned or math.inf
    return [(x, y) for x, y in points if x <= last]


class MetricChart(ReadablePlot):
    """Train and validation curves of one metric, one point per finished epoch; a fork's parent's
    epochs up to the fork come first, dotted, so the fork's screen shows the whole run.

    With `steps`, the training loss also comes as a smoothed curve over the epoch's batches, so the
    first epoch draws something. The legend is in the title (plotext draws its own over the curves).
    """

    def __init__(
        self,
        title: str,
        train_key: str,
        val_key: str,
        percent: bool = False,
        *,
        steps: bool = False,
        short: str = "",
        id: str,
    ) -> None:
        """`short`: the title where `title` leaves no room for the legend (a 60-column terminal's half)."""
        super().__init__(id=id)
        self.chart_title = title
        self.short_title = short or title
        self.train_key = train_key
        self.val_key = val_key
        self.percent = percent
        self.steps = steps
        self.log_scale = False
        self.y_range: tuple[float, float] | None = None
        self.points: dict[str, list[tuple[float, float]]] = {
            series: [] for series in ("train", "val", "steps", "baseline", "parent train", "parent val")
        }
        """What is plotted now, by series (tests and other screens read it): "parent train" and "parent val"
        are a fork's parent's epochs up to the fork, "train" and "val" the run's own."""
        self.baseline_label = ""
        self._baseline: list[tuple[float, float]] = []
        self._pinned = Baseline()

    def set_baseline(self, baseline: Baseline) -> None:
        """The pinned baseline run's validation curve, drawn from the next `show_history` where it compares."""
        scale = 100.0 if self.percent else 1.0
        self._pinned = baseline
        self.baseline_label = baseline.label
        self._baseline = [
            (float(r["epoch"]), float(r[self.val_key]) * scale)
            for r in baseline.metrics
            if isinstance(r.get("epoch"), int) and isinstance(r.get(self.val_key), (int, float))
        ]

    def on_mount(self) -> None:
        self.show_history(None)

    def show_history(self, history: RunView | None) -> None:
        scale = 100.0 if self.percent else 1.0
        lead_in = history.lead_in.epochs if history is not None else []
        for series, key in (("train", self.train_key), ("val", self.val_key)):
            if history is None:
                self.points[series] = []
            else:
                xs, ys = history.epoch_numbers(key), history.series(key)
                self.points[series] = [(x, y * scale) for x, y in zip(xs, ys, strict=False)]
            self.points[f"parent {series}"] = [
                (r["epoch"], float(r[key]) * scale) for r in lead_in if isinstance(r.get(key), (int, float))
            ]
        self.points["steps"] = list(history.step_losses) if self.steps and history is not None else []
        self.points["baseline"] = baseline_points(self._baseline, history, self._pinned)
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        for series, color, marker in (
            ("baseline", BASELINE_COLOR, "braille"),
            ("parent train", TRAIN_COLOR, PARENT_MARKER),
            ("parent val", VAL_COLOR, PARENT_MARKER),
            ("steps", TRAIN_COLOR, "braille"),
            ("train", TRAIN_COLOR, "hd"),
            ("val", VAL_COLOR, "hd"),
        ):
            points = self.points[series]
            lead = self.points.get(f"parent {series}")
            if lead and points:  # a fork's own line starts where its parent's ends
                points = [lead[-1], *points]
            xs, ys = plottable([x for x, _ in points], [y for _, y in points], log=self.log_scale)
            if xs:
                plt.plot(xs, ys, marker=marker, color=color)
        drawn = [point for series in CURVES for point in self.points[series]]
        ticks = epoch_ticks(x for x, _ in drawn)
        if ticks:
            plt.xticks(ticks)
        plt.yscale("log" if self.log_scale else "linear")
        self.y_range = None
        if self.percent:
            self.y_range = fitted_range([y for _, y in drawn if math.isfinite(y)])
            plt.ylim(*self.y_range)
        self.refresh()

    def titles(self) -> list[str]:
        """The title with its legend, longest first (the baseline's and a fork's parent's labels are on the
        screen's run folder line): plotext leaves out a title that does not fit, and with it which line is which."""
        log = " (log)" if self.log_scale else ""
        return [
            f"{self.chart_title}{log} · cyan train · orange val",
            f"{self.short_title}{log} · cyan train · orange val",
            f"{self.short_title}{log}: cyan tr, orange val",
            f"{self.short_title}{log}",
        ]

    def render(self) -> RenderResult:
        """Drawn with the longest title plotext shows at this width (a 60-column terminal's half fits a short one)."""
        rendered: RenderResult = ""
        for title in self.titles():
            self.plt.title(title)
            rendered = super().render()
            if not isinstance(rendered, Text) or title in rendered.plain:
                break
        return rendered

    def toggle_log_scale(self, history: RunView | None) -> None:
        self.log_scale = not self.log_scale
        self.show_history(history)


class EpochTable(DataTable):
    """One row per finished epoch; the best epoch is starred."""

    COLUMNS = (
        ("ep", "epoch", "{:.0f}"),
        ("train loss", "train_loss", "{:.4f}"),
        ("train acc", "train_acc", "{:.1%}"),
        ("val loss", "val_loss", "{:.4f}"),
        ("val acc", "val_acc", "{:.1%}"),
        ("lr", "lr", format_lr),
        ("secs", "epoch_seconds", "{:.1f}"),
        ("img/s", "train_images_per_second", "{:.0f}"),
    )

    def __init__(self, *, id: str) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._shown = 0
        self._best: int | None = None

    def on_mount(self) -> None:
        self.add_column(" ", key="best", width=1)
        for label, key, _ in self.COLUMNS:
            self.add_column(label, key=key)

    def show_history(self, history: RunView | None) -> None:
        epochs = history.epochs if history is not None else []
        best = history.best_epoch if history is not None else None
        if len(epochs) < self._shown:  # another run, or a resume that dropped epochs
            self.clear()
            self._shown, self._best = 0, None
        if best != self._best:
            # Move the star in place: rebuilding the rows would re-lay-out the whole screen.
            for epoch, star in ((self._best, ""), (best, "*")):
                if epoch is not None and str(epoch) in self.rows:
                    self.update_cell(str(epoch), "best", star)
        self._best = best
        for record in epochs[self._shown :]:
            cells = []
            for _, key, fmt in self.COLUMNS:
                value = record.get(key)
                if not isinstance(value, (int, float)):
                    cells.append("")
                elif not math.isfinite(value) or abs(value) >= 1e9:
                    cells.append(f"{value:.3g}")  # a diverged run: "inf", "1e+308", not 300 digits
                else:
                    cells.append(fmt(value) if callable(fmt) else fmt.format(value))
            epoch = record.get("epoch")
            self.add_row("*" if epoch == best else "", *cells, key=str(epoch))
        if len(epochs) > self._shown:
            self.move_cursor(row=len(epochs) - 1)
        self._shown = len(epochs)

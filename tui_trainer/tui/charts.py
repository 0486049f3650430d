"""Live metric charts (plotext through textual-plotext) and the table of finished epochs.

Both read a `RunHistory` and are redrawn on the UI thread only; plotext keeps global state,
so every chart draws into its own `PlotextPlot.plt` figure and nothing else touches it.
"""

from __future__ import annotations

from textual.widgets import DataTable
from textual_plotext import PlotextPlot

from .run_history import RunHistory

# Named ANSI colours: they look the same in a 16- or 256-colour SSH session as in truecolor.
TRAIN_COLOR = "cyan"
VAL_COLOR = "orange"


class MetricChart(PlotextPlot):
    """Train and validation curves of one metric, one point per finished epoch."""

    def __init__(self, title: str, train_key: str, val_key: str, percent: bool = False, *, id: str) -> None:
        super().__init__(id=id)
        self.chart_title = title
        self.train_key = train_key
        self.val_key = val_key
        self.percent = percent
        self.points: dict[str, list[tuple[int, float]]] = {"train": [], "val": []}
        """What is plotted now, by series (tests and other screens read it)."""

    def on_mount(self) -> None:
        self.show_history(None)

    def show_history(self, history: RunHistory | None) -> None:
        scale = 100.0 if self.percent else 1.0
        for series, key in (("train", self.train_key), ("val", self.val_key)):
            if history is None:
                self.points[series] = []
            else:
                xs, ys = history.epoch_numbers(key), history.series(key)
                self.points[series] = [(x, y * scale) for x, y in zip(xs, ys, strict=False)]
        plt = self.plt
        plt.clear_data()
        plt.title(self.chart_title)
        drawn = False
        for series, color in (("train", TRAIN_COLOR), ("val", VAL_COLOR)):
            points = self.points[series]
            if points:
                plt.plot([x for x, _ in points], [y for _, y in points], marker="hd", color=color, label=series)
                drawn = True
        epochs = sorted({x for series in self.points.values() for x, _ in series})
        if drawn:
            step = max(1, len(epochs) // 8)
            plt.xticks(epochs[::step])
        if self.percent:
            plt.ylim(0, 100)
        self.refresh()


class EpochTable(DataTable):
    """One row per finished epoch; the best epoch is starred."""

    COLUMNS = (
        ("ep", "epoch", "{:.0f}"),
        ("train loss", "train_loss", "{:.4f}"),
        ("train acc", "train_acc", "{:.1%}"),
        ("val loss", "val_loss", "{:.4f}"),
        ("val acc", "val_acc", "{:.1%}"),
        ("lr", "lr", "{:.2e}"),
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

    def show_history(self, history: RunHistory | None) -> None:
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
                cells.append(fmt.format(value) if isinstance(value, (int, float)) else "")
            epoch = record.get("epoch")
            self.add_row("*" if epoch == best else "", *cells, key=str(epoch))
        if len(epochs) > self._shown:
            self.move_cursor(row=len(epochs) - 1)
        self._shown = len(epochs)

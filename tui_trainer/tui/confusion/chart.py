"""Per-class validation accuracy across epochs, and a legend that says which classes are still improving."""

from __future__ import annotations

import numpy as np
from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from ...runs.report import accuracy_trend
from ..common.readable_plot import ReadablePlot, epoch_ticks, plottable

# One xterm-256 colour per plotted class, the same in the chart and in the legend.
LINE_COLOURS = (39, 208, 46, 201, 226, 51, 196, 141, 250, 118)
MAX_LINES = len(LINE_COLOURS)
TREND_WINDOW = 3  # epochs over which "still improving" is measured


def plotted_classes(per_class_acc: list[list[float]], limit: int = MAX_LINES) -> list[int]:
    """All classes when they fit, else the `limit` with the lowest latest accuracy (the ones worth watching)."""
    if not per_class_acc:
        return []
    latest = np.asarray(per_class_acc[-1], dtype=np.float64)
    if len(latest) <= limit:
        return list(range(len(latest)))
    return sorted(np.argsort(latest, kind="stable")[:limit].tolist())


class ClassAccuracyChart(ReadablePlot):
    """One line per class: validation accuracy (%) of each epoch."""

    DEFAULT_CSS = """
    ClassAccuracyChart {
        height: 16;
        width: 1fr;
        min-width: 30;
    }
    """

    def show(self, epochs: list[int], per_class_acc: list[list[float]]) -> None:
        """Plot the plotted classes (see `plotted_classes`) in the legend's colours."""
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("per-class val accuracy %")
        plt.xlabel("epoch")
        if per_class_acc:
            xs = (
                epochs[-len(per_class_acc) :]
                if len(epochs) >= len(per_class_acc)
                else list(range(1, len(per_class_acc) + 1))
            )
            for colour, k in zip(LINE_COLOURS, plotted_classes(per_class_acc), strict=False):
                ys = [row[k] * 100 if k < len(row) else float("nan") for row in per_class_acc]
                plt.plot(*plottable(xs, ys), color=colour, marker="braille")
            plt.ylim(0, 100)
            plt.xticks(epoch_ticks(xs))
        self.refresh()


def trend_heading(epochs: int, window: int = TREND_WINDOW) -> str:
    """What the legend's change column is measured against (`accuracy_trend`): `window` epochs back
    once there are that many before the latest, else the first epoch; "" with one epoch (no change)."""
    if epochs < 2:
        return ""
    return f"vs {window} ep ago" if epochs > window else "vs ep 1"


class ClassTrendLegend(Static):
    """The plotted classes in their line colours, with the latest accuracy and its change over the last epochs."""

    DEFAULT_CSS = """
    ClassTrendLegend {
        width: auto;
        min-width: 26;
        height: auto;
        padding: 0 1;
    }
    """

    def show(self, per_class_acc: list[list[float]], names: tuple[str, ...]) -> None:
        text = Text()
        heading = trend_heading(len(per_class_acc))
        text.append(f"val acc %  {heading}".rstrip() + "\n", style="bold")
        if not per_class_acc:
            text.append("no finished epoch yet", style="dim")
            self.update(text)
            return
        trend = accuracy_trend(per_class_acc, TREND_WINDOW)
        latest = per_class_acc[-1]
        for colour, k in zip(LINE_COLOURS, plotted_classes(per_class_acc), strict=False):
            name = names[k] if k < len(names) else str(k)
            text.append("━ ", style=Style(color=Color.from_ansi(colour)))
            text.append(f"{name[:10]:<10}{latest[k] * 100:5.1f}")
            change = trend[k] * 100
            arrow_style = "green" if change > 0.05 else "red" if change < -0.05 else "dim"
            text.append(f" {change:+5.1f}\n" if heading else "\n", style=arrow_style)
        if len(latest) > MAX_LINES:
            text.append(f"(the {MAX_LINES} weakest of {len(latest)})", style="dim")
        text.rstrip()
        self.update(text)

"""The calibration view's charts: the reliability diagram, and a ROC or precision-recall curve.

Each keeps what it draws in `points` (tests read it) and redraws its own `plt` on the UI thread.
All three plot [0, 1] against [0, 1], labelled on both axes, with ticks at quarters.
"""

from __future__ import annotations

import re

from rich.text import Text
from textual.app import RenderResult

from ...engine.calibration import Curve, Reliability
from ..common.readable_plot import ReadablePlot

CURVE_COLOR = "orange"
IDEAL_COLOR = "gray"
TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)
TICK_ERROR = 0.05
"""How far from its tick's value a row may be and still carry its label (a twentieth of the axis)."""
FRAME_ROWS = 5
"""The rows of a chart that are not the plot's: title, top frame, x axis, its tick labels, the axis labels."""


def unit_ticks(rows: int) -> list[float]:
    """The quarter ticks a [0, 1] axis of `rows` text rows can label truly. plotext writes a tick's label
    on the row nearest its value, so on 3 rows 0.25 would name the row of 0.5 (its own ticks read 1.00,
    0.83, 0.50, 0.33, 0.00 on 5 rows: sixths snapped to quarters); a tick is kept where its row's value is
    within TICK_ERROR of its own."""
    steps = max(1, rows - 1)
    return [tick for tick in TICKS if abs(tick * steps - round(tick * steps)) / steps < TICK_ERROR]


def apart(chart: str, y_label: str, x_label: str) -> bool:
    """Whether `chart`'s text shows both labels whole and two spaces or more apart (one space reads as one label)."""
    return re.search(rf"(^|\s){re.escape(y_label)}\s{{2,}}{re.escape(x_label)}(\s|$)", chart, re.MULTILINE) is not None


class UnitChart(ReadablePlot):
    """A chart of [0, 1] against [0, 1]: even y ticks for its height, and its axes named in the longest
    words that fit (plotext leaves out an x label that the y label's words would overlap)."""

    def __init__(self, axis_labels: tuple[tuple[str, str], ...], *, id: str | None = None) -> None:
        """`axis_labels`: (y label, x label) pairs, longest first."""
        super().__init__(id=id)
        self.axis_labels = axis_labels

    def render(self) -> RenderResult:
        ticks = unit_ticks(self.size.height - FRAME_ROWS)
        self.plt.yticks(ticks, [f"{tick:.2f}" for tick in ticks])
        rendered: RenderResult = ""
        for y_label, x_label in self.axis_labels:
            self.plt.ylabel(y_label)
            self.plt.xlabel(x_label)
            rendered = super().render()
            if not isinstance(rendered, Text) or apart(rendered.plain, y_label, x_label):
                break
        return rendered


ROC_LABELS = (
    ("true positive rate", "false positive rate"),
    ("true pos. rate", "false pos. rate"),
    ("TPR", "false positive rate"),
    ("TPR", "FPR"),
)
PR_LABELS = (("precision", "recall"), ("prec.", "recall"))


class ReliabilityChart(UnitChart):
    """Accuracy of each confidence bin as a bar, against the diagonal an honest model would follow."""

    DEFAULT_CSS = """
    ReliabilityChart {
        width: 1fr;
        height: 1fr;
        min-width: 26;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__((("accuracy", "confidence"),), id=id)
        self.points: list[tuple[float, float]] = []
        """(bin centre, accuracy) of each non-empty bin."""

    def show(self, result: Reliability | None) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        if result is None or result.ece is None:
            self.points = []
            plt.title("reliability: no samples")
        else:
            kept = [b for b in result.bins if b.count]
            self.points = [((b.lower + b.upper) / 2, b.accuracy or 0.0) for b in kept]
            plt.bar([x for x, _ in self.points], [y for _, y in self.points], width=0.8, color=CURVE_COLOR)
            plt.plot([0, 1], [0, 1], color=IDEAL_COLOR, marker="braille")
            plt.title(
                f"reliability · ECE {result.ece * 100:.1f}%"
            )  # fits a 26-column chart; MCE is in the screen's title
        plt.xticks(TICKS, [f"{t:.2f}" for t in TICKS])  # bars would put their own centres there
        plt.xlim(0, 1)
        plt.ylim(0, 1)
        self.refresh()


class CurveChart(UnitChart):
    """One ROC or precision-recall curve, with the line a guess would draw (the diagonal, or the class's share)."""

    DEFAULT_CSS = """
    CurveChart {
        width: 1fr;
        height: 1fr;
        min-width: 26;
    }
    """

    def __init__(self, kind: str, *, id: str | None = None) -> None:
        super().__init__(ROC_LABELS if kind == "ROC" else PR_LABELS, id=id)
        self.kind = kind  # "ROC" or "PR"
        self.points: list[tuple[float, float]] = []
        self.chart_title = ""

    def show(self, curve: Curve | None, what: str, chance: float | None = None, missing: str = "") -> None:
        """Draw `curve` (thinned to CURVE_POINTS) titled with `what` and its area; `chance`: a guess's level (PR)."""
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        area = "AUC" if self.kind == "ROC" else "AP"
        if curve is None:
            self.points = []
            self.chart_title = f"{self.kind} · {what}: {missing or 'no curve'}"
        else:
            thin = curve.thinned()
            self.points = list(zip(thin.x.tolist(), thin.y.tolist(), strict=True))
            if self.kind == "ROC":
                plt.plot([0, 1], [0, 1], color=IDEAL_COLOR, marker="braille")
            elif chance is not None:
                plt.plot([0, 1], [chance, chance], color=IDEAL_COLOR, marker="braille")
            plt.plot(thin.x.tolist(), thin.y.tolist(), color=CURVE_COLOR, marker="braille")
            self.chart_title = f"{self.kind} · {what} · {area} {curve.area:.3f}"
        plt.title(self.chart_title)
        plt.xlim(0, 1)
        plt.ylim(0, 1)
        self.refresh()

"""The calibration view's charts: the reliability diagram, and a ROC or precision-recall curve.

Each keeps what it draws in `points` (tests read it) and redraws its own `plt` on the UI thread.
"""

from __future__ import annotations

from ...engine.calibration import Curve, Reliability
from ..common.readable_plot import ReadablePlot

CURVE_COLOR = "orange"
IDEAL_COLOR = "gray"
TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)


class ReliabilityChart(ReadablePlot):
    """Accuracy of each confidence bin as a bar, against the diagonal an honest model would follow."""

    DEFAULT_CSS = """
    ReliabilityChart {
        width: 1fr;
        height: 1fr;
        min-width: 26;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
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
        plt.xlabel("confidence")
        plt.ylabel("accuracy")
        plt.xticks(TICKS, [f"{t:.2f}" for t in TICKS])  # bars would put their own centres there
        plt.xlim(0, 1)
        plt.ylim(0, 1)
        self.refresh()


class CurveChart(ReadablePlot):
    """One ROC or precision-recall curve, with the line a guess would draw (the diagonal, or the class's share)."""

    DEFAULT_CSS = """
    CurveChart {
        width: 1fr;
        height: 1fr;
        min-width: 26;
    }
    """

    def __init__(self, kind: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
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
        plt.xlabel("false positive rate" if self.kind == "ROC" else "recall")
        plt.xlim(0, 1)
        plt.ylim(0, 1)
        self.refresh()

"""Is the confidence honest: the reliability diagram, and one class's ROC and precision-recall curves.

Opened with `k` from the confusion screen, over the same view (the console's run, a run folder's
epoch, an evaluation). Left and right step through the classes; "all" shows the curves averaged
over the classes, with the macro AUC and AP. Predictions saved before runs kept each sample's
class probabilities still get the reliability diagram (it needs only the confidence) and a line
saying how to get the curves.

The figures are computed in a thread worker: ranking 50 000 predictions of 1000 classes takes a
second, and the console keeps answering keys meanwhile (the title says "computing…").
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState

from ...engine.calibration import Reliability, Separation, honesty
from ...engine.events import Predictions
from ...runs.eval_folder import EvalFolder, is_eval_folder
from ...runs.predictions_file import no_probabilities
from ...runs.view import RunView
from ...text import printable
from .calibration_charts import CurveChart, ReliabilityChart
from .following import FollowsRunView, RunChanged
from .source import current_epoch

Figures = tuple[Reliability, Separation | None]
"""The reliability diagram's bins, and the ROC / PR curves (None: the predictions hold no probabilities)."""


def calibration_figures(predictions: Predictions) -> Figures:
    """What the screen draws of `predictions`: pure computation, run in a worker thread."""
    return honesty(predictions.labels, predictions.predictions, predictions.confidences, predictions.probabilities)


class CalibrationScreen(FollowsRunView, Screen):
    """Reliability diagram with ECE, and ROC / PR curves of a chosen class (or all), following new epochs."""

    HELP_TITLE = "calibration"

    DEFAULT_CSS = """
    CalibrationScreen #calibration-title {
        height: auto;
        padding: 0 1;
        background: $boost;
    }
    CalibrationScreen #calibration-problem {
        height: auto;
        padding: 0 1;
        color: $warning;
    }
    CalibrationScreen #calibration-problem.-hidden {
        display: none;
    }
    CalibrationScreen #calibration-charts {
        height: 1fr;
    }
    CalibrationScreen #calibration-curves {
        width: 1fr;
    }
    CalibrationScreen.-no-curves #calibration-curves, CalibrationScreen.-computing #calibration-charts {
        display: none;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Matrix", id="calibration.back"),
        Binding("left", "step_class(-1)", "Class", id="calibration.previous_class"),
        Binding("right", "step_class(1)", "Class", id="calibration.next_class", show=False),
    ]

    def __init__(self, history: RunView, *, changed: RunChanged | None = None) -> None:
        super().__init__()
        self.history = history
        self.changed = changed
        self.chosen: int | None = None  # the class whose curves are drawn; None: all (macro)
        self._seen_version: int | None = None
        self._figures: tuple[Predictions, Figures] | None = None  # the last computed, and of which predictions
        self._computing: Predictions | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="calibration-title")
        yield Static(id="calibration-problem", classes="-hidden")
        with Horizontal(id="calibration-charts"):
            yield ReliabilityChart(id="calibration-reliability")
            with Vertical(id="calibration-curves"):
                yield CurveChart("ROC", id="calibration-roc")
                yield CurveChart("PR", id="calibration-pr")
        yield Footer()

    def on_mount(self) -> None:
        self.reload()

    @property
    def names(self) -> tuple[str, ...]:
        predictions = self.history.predictions
        names = tuple(self.history.classes) or (predictions.classes if predictions is not None else ())
        return tuple(map(printable, names))

    def figures(self) -> Figures | None:
        """The figures of the view's predictions once computed; None while they are computed or without any."""
        predictions = self.history.predictions
        if predictions is None or self._figures is None or self._figures[0] is not predictions:
            return None
        return self._figures[1]

    def reload(self) -> None:
        self._seen_version = self.history.version
        predictions = self.history.predictions
        title = self.query_one("#calibration-title", Static)
        problem = self.query_one("#calibration-problem", Static)
        figures = self.figures()
        if predictions is None:
            title.update("No per-sample predictions yet: they arrive with the first finished epoch.")
            self.query_one(ReliabilityChart).show(None)
            self.add_class("-no-curves")
            problem.add_class("-hidden")
            return
        if figures is None:
            if self._computing is not predictions:  # else the worker already computes these
                self._computing = predictions
                count = len(predictions.labels)
                title.update(Text.assemble(("Calibration", "bold"), f" · computing the figures of {count} images…"))
                self.add_class("-computing")
                problem.add_class("-hidden")
                self.compute(predictions)
            return
        self.remove_class("-computing")
        calibrated, ranked = figures
        title.update(self._title(calibrated, ranked))
        self.query_one(ReliabilityChart).show(calibrated)
        self.set_class(ranked is None, "-no-curves")
        problem.set_class(ranked is not None, "-hidden")
        if ranked is None:
            run_dir = self.history.run_dir
            if run_dir is not None and is_eval_folder(run_dir):  # evaluate the run again, not the evaluation
                run_dir = EvalFolder(run_dir).run_dir
            problem.update(Text(f"ROC and precision-recall: {no_probabilities(run_dir)}"))
            return
        self._show_curves(ranked)

    @work(thread=True, exclusive=True, exit_on_error=False, name="calibration")
    def compute(self, predictions: Predictions) -> tuple[Predictions, Figures]:
        return predictions, calibration_figures(predictions)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.name != "calibration":
            return
        if event.state == WorkerState.SUCCESS and isinstance(event.worker.result, tuple):
            self._figures = event.worker.result
            self._computing = None
            self.reload()  # draws them, or starts on newer predictions that came meanwhile
        elif event.state == WorkerState.ERROR:
            self._computing = None
            error = event.worker.error
            problem = self.query_one("#calibration-problem", Static)
            problem.update(Text(printable(f"Cannot compute the figures: {type(error).__name__}: {error}", lines=True)))
            problem.remove_class("-hidden")

    def _title(self, calibrated: Reliability, ranked: Separation | None) -> Text:
        history = self.history
        epoch = current_epoch(history)
        text = Text()
        text.append("Calibration", style="bold")
        if epoch is not None:
            text.append(f" · epoch {epoch}" + (f" ({history.label})" if history.label else ""))
        count = sum(b.count for b in calibrated.bins)
        text.append(f" · {history.scope} · {count} images\n")
        if calibrated.ece is not None:
            text.append(f"ECE {calibrated.ece * 100:.1f}%  MCE {(calibrated.mce or 0.0) * 100:.1f}%")
        if ranked is not None and ranked.macro_auc is not None:
            text.append(f"  macro AUC {ranked.macro_auc:.3f}  macro AP {(ranked.macro_ap or 0.0):.3f}")
        return text

    def _show_curves(self, ranked: Separation) -> None:
        roc, pr = self.query_one("#calibration-roc", CurveChart), self.query_one("#calibration-pr", CurveChart)
        names = self.names
        if self.chosen is None or self.chosen >= len(ranked.classes):
            self.chosen = None
            missing = [names[k] if k < len(names) else str(k) for k in ranked.without_curve]
            left_out = (
                f" (not {', '.join(missing[:3])}{'…' if len(missing) > 3 else ''}: no samples)" if missing else ""
            )
            roc.show(ranked.macro_roc, f"all{left_out}", missing="no class has samples and others")
            pr.show(ranked.macro_pr, "all", missing="no class has samples")
            return
        k = self.chosen
        name = names[k] if k < len(names) else str(k)
        curves = ranked.classes[k]
        predictions = self.history.predictions
        share = float(np.mean(np.asarray(predictions.labels) == k)) if predictions is not None else None
        why = "no samples of this class" if curves.pr is None else "every sample is of this class"
        roc.show(curves.roc, name, missing=why)
        pr.show(curves.pr, name, chance=share, missing=why)

    def action_step_class(self, step: int) -> None:
        """Next or previous class; "all" sits before the first and after the last."""
        figures = self.figures()
        if figures is None or figures[1] is None:
            return
        count = len(figures[1].classes)
        position = (-1 if self.chosen is None else self.chosen) + step  # -1 is "all"
        position = (position + 1) % (count + 1) - 1
        self.chosen = None if position < 0 else position
        self._show_curves(figures[1])

    def action_back(self) -> None:
        self.dismiss()

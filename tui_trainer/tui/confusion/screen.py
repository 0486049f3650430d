"""The confusion screen: where the model goes wrong on the validation set, class by class, and the images behind it.

Matrix with per-class precision / recall / F1 / support, the most confused pairs, and per-class
accuracy across epochs. Enter on a cell, a header or a pair opens `ConfusionSamplesScreen`. Over
the console's own run the screen redraws when the run session's `changed` signal says a new epoch
arrived.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from ...engine.class_figures import ClassReport, class_report
from ...runs.folder import RunFolder
from ...runs.report import confused_pairs, row_shares
from ...runs.review_session import ReviewSession
from ...runs.thumbnails import ValidationImages
from ...runs.view import RunView, Which
from ...text import printable
from .calibration_screen import CalibrationScreen
from .chart import ClassAccuracyChart, ClassTrendLegend
from .export import export_misclassified
from .following import FollowsRunView, RunChanged
from .matrix import ConfusionMatrix
from .review_screen import LabelReviewScreen
from .samples_screen import ConfusionSamplesScreen
from .source import SampleQuery, current_confusion, current_epoch, epoch_numbers

TOP_PAIRS = 10


class ConfusionScreen(FollowsRunView, Screen):
    """Confusion matrix of the latest (or a run folder's last / best) validation, following new epochs."""

    HELP_TITLE = "confusion matrix"

    DEFAULT_CSS = """
    ConfusionScreen #confusion-body {
        height: 1fr;
        scrollbar-size-vertical: 1;
    }
    ConfusionScreen #confusion-summary {
        height: auto;
        padding: 0 1;
        background: $boost;
    }
    ConfusionScreen #confusion-cursor {
        height: auto;
        padding: 0 1;
        color: $text-muted;
    }
    ConfusionScreen #confusion-lower {
        height: auto;
    }
    ConfusionScreen #confusion-pairs-box {
        width: 1fr;
        height: auto;
        min-width: 28;
    }
    ConfusionScreen .confusion-heading {
        padding: 0 1;
        text-style: bold;
    }
    ConfusionScreen #confusion-pairs {
        height: auto;
        max-height: 12;
        border: none;
        border-left: outer $surface;
        padding: 0 1;
    }
    ConfusionScreen #confusion-pairs:focus {
        border-left: outer $accent;
    }
    ConfusionScreen ConfusionMatrix {
        padding: 0 1;
    }
    ConfusionScreen.-empty ConfusionMatrix, ConfusionScreen.-empty #confusion-lower {
        display: none;
    }
    ConfusionScreen.-no-epochs ClassAccuracyChart, ConfusionScreen.-no-epochs ClassTrendLegend {
        display: none;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="confusion.back"),
        # The footer shows the ways on (images, label errors, calibration) within 60 columns; the help (?) lists all.
        Binding("l", "label_review", "Mislabels", id="confusion.label_review"),
        Binding("k", "calibration", "Calibration", id="confusion.calibration"),
        Binding("p", "toggle_percent", "Counts/%", id="confusion.percent", show=False),
        Binding("e", "export", "Errors CSV", id="confusion.export", show=False),
        Binding("pagedown", "page(1)", "More below", id="confusion.page_down", show=False),
        Binding("pageup", "page(-1)", "Back up", id="confusion.page_up", show=False),
    ]

    def __init__(
        self,
        history: RunView,
        *,
        changed: RunChanged | None = None,
        trust_code: bool = False,
        name: str | None = None,
        id: str | None = None,
    ) -> None:
        """`trust_code` (--trust-code): "where it looked" in the gallery imports `model.target` without asking."""
        super().__init__(name=name, id=id)
        self.history = history
        self.trust_code = trust_code
        self.changed = changed  # the run session's signal, for the console's own run
        self.source: RunView = history  # what is shown: the history, or its run folder's files
        self._disk: tuple[tuple, RunView] | None = None
        self.images = ValidationImages()
        self.show_percent = False
        self.report: ClassReport | None = None
        self._seen_version: int | None = None

    @classmethod
    def from_run_dir(cls, path: str | Path, which: Which = "last") -> ConfusionScreen:
        """The screen for a run folder's predictions of its `which` epoch, its epoch records and thumbnails.

        Raises FileNotFoundError when the run has no finished epoch yet.
        """
        return cls(RunView.from_predictions(path, which))

    @classmethod
    def from_eval_dir(cls, path: str | Path) -> ConfusionScreen:
        """The screen for an evaluation folder (`RUN_DIR/evals/NAME`, from `tui-trainer --eval`)."""
        return cls(RunView.from_eval_dir(path))

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="confusion-body", can_focus=False):  # tab goes matrix -> pairs, never to a blank
            yield Static(id="confusion-summary")
            yield ConfusionMatrix(id="confusion-matrix")
            yield Static(id="confusion-cursor")
            with Horizontal(id="confusion-lower"):
                with Vertical(id="confusion-pairs-box"):
                    yield Static("Most confused (true → predicted)", classes="confusion-heading")
                    yield OptionList(id="confusion-pairs")
                yield ClassTrendLegend(id="confusion-legend")
            yield ClassAccuracyChart(id="confusion-chart")
        yield Footer()

    def on_mount(self) -> None:
        self.reload()
        self.matrix.focus(scroll_visible=False)
        body = self.query_one("#confusion-body", VerticalScroll)
        self.call_after_refresh(body.scroll_home, animate=False)  # the summary above the matrix stays in view

    @property
    def matrix(self) -> ConfusionMatrix:
        return self.query_one(ConfusionMatrix)

    # ---- data ----------------------------------------------------------------------------------

    def _pick_source(self) -> RunView:
        """The history itself once it holds an epoch's results; before that, its run folder's
        predictions of its last epoch if there are some (a history read from a finished run's metrics only)."""
        history = self.history
        if history.predictions is not None or history.confusion is not None or history.run_dir is None:
            return history
        path = RunFolder(Path(history.run_dir)).predictions_file("last")
        try:
            stat = path.stat()
        except OSError:
            return history
        key = (stat.st_mtime_ns, stat.st_size)
        if self._disk is None or self._disk[0] != key:
            try:
                self._disk = (key, RunView.from_predictions(history.run_dir, "last"))
            except (OSError, ValueError, KeyError):
                return history
        return self._disk[1]

    def reload(self) -> None:
        """Redraw everything from the history (called on mount and whenever its version changes)."""
        self._seen_version = self.history.version
        history = self.source = self._pick_source()
        confusion = current_confusion(history)
        names = self._names(confusion)
        per_class = history.per_class_accuracy
        # An evaluation has one result, no epochs: the per-epoch chart would only say it is empty.
        self.set_class(not per_class and confusion is not None, "-no-epochs")
        self.query_one(ClassTrendLegend).show(per_class, names)
        self.query_one(ClassAccuracyChart).show(epoch_numbers(history), per_class)
        summary = self.query_one("#confusion-summary", Static)
        if confusion is None or not confusion.size:
            self.add_class("-empty")
            self.report = None
            summary.update("No finished epoch yet: the matrix appears when the first validation ends.")
            self.query_one("#confusion-cursor", Static).update("")
            return
        if self.has_class("-empty"):
            self.remove_class("-empty")
            self.call_after_refresh(self.matrix.focus)
        self.report = class_report(confusion)
        self.matrix.set_data(confusion, names)
        summary.update(self._summary(self.report))
        self._show_pairs(confusion, names)
        self._describe_cursor()

    def _names(self, confusion: np.ndarray | None) -> tuple[str, ...]:
        names = tuple(self.source.classes)
        if not names and self.source.predictions is not None:
            names = tuple(self.source.predictions.classes)
        k = confusion.shape[0] if confusion is not None else len(names)
        return tuple(printable(names[i]) if i < len(names) else str(i) for i in range(k))  # a class folder's name

    def _summary(self, report: ClassReport) -> Text:
        epoch = current_epoch(self.source)
        label = self.source.label
        text = Text()
        text.append("Confusion", style="bold")
        if epoch is not None:
            text.append(f" · epoch {epoch}" + (f" ({label})" if label else ""))
        scope = self.source.scope
        text.append(f" · {scope} accuracy {report.accuracy * 100:.2f}% ({report.correct} of {report.total})")
        text.append(f" · macro F1 {report.macro_f1 * 100:.1f}")
        text.append("\nrows: true class · columns: predicted · colour: share of row · pgdn: more", style="dim")
        return text

    def _show_pairs(self, confusion: np.ndarray, names: tuple[str, ...]) -> None:
        pairs = self.query_one("#confusion-pairs", OptionList)
        highlighted = pairs.highlighted
        pairs.clear_options()
        found = confused_pairs(confusion, top=TOP_PAIRS)
        if not found:
            pairs.add_option(Option("no confusions: every sample is right", disabled=True))
            return
        shares = row_shares(confusion)
        width = max(len(f"{names[t][:10]} → {names[p][:10]}") for t, p, _ in found)
        for true, pred, count in found:
            label = f"{names[true][:10]} → {names[pred][:10]}"
            pairs.add_option(
                Option(f"{label:<{width}} {count:>5} {shares[true, pred] * 100:4.1f}%", id=f"{true},{pred}")
            )
        if highlighted is not None and pairs.option_count:
            pairs.highlighted = min(highlighted, pairs.option_count - 1)

    def _describe_cursor(self) -> None:
        matrix = self.matrix
        report = self.report
        info = self.query_one("#confusion-cursor", Static)
        if report is None or not matrix.num_classes:
            info.update("")
            return
        row, column = matrix.cursor
        names = matrix.names
        if row >= 0 and column >= 0:
            count = int(matrix.confusion[row, column])
            share = float(matrix.shares[row, column]) * 100
            what = "correct" if row == column else "confused"
            text = f"{names[row]} → {names[column]}: {count} ({share:.1f}% of {names[row]}, {what})"
        elif row >= 0:
            errors = int(report.support[row] - matrix.confusion[row, row])
            recall = report.recall[row] * 100
            text = f"{names[row]}: {errors} of {int(report.support[row])} predicted wrongly (recall {recall:.1f}%)"
        else:
            errors = int(report.predicted[column] - matrix.confusion[column, column])
            precision = report.precision[column] * 100
            predicted = int(report.predicted[column])
            text = f"predicted {names[column]}: {errors} of {predicted} wrong (precision {precision:.1f}%)"
        info.update(Text(text + " · Enter: images"))

    # ---- events and actions --------------------------------------------------------------------

    def on_confusion_matrix_cursor_moved(self, _: ConfusionMatrix.CursorMoved) -> None:
        self._describe_cursor()

    def on_confusion_matrix_selected(self, event: ConfusionMatrix.Selected) -> None:
        event.stop()
        self.open_samples(SampleQuery(event.true, event.pred))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id:
            true, pred = (int(part) for part in event.option.id.split(","))
            self.open_samples(SampleQuery(true, pred))

    def open_samples(self, query: SampleQuery) -> None:
        """Show the validation images of a cell or a class's errors."""
        if self.source.predictions is None:
            self.notify("This epoch has no per-sample predictions to list.", severity="warning")
            return
        changed = self.changed if self.source is self.history else None  # a file read from disk does not change
        self.app.push_screen(
            ConfusionSamplesScreen(self.source, query, images=self.images, changed=changed, trust_code=self.trust_code)
        )

    def action_label_review(self) -> None:
        """The images most likely mislabelled, to relabel, exclude or keep (`LabelReviewScreen`)."""
        self._open_label_review(self.source, self.changed if self.source is self.history else None)

    @work(thread=True, exclusive=True, group="label-review")
    def _open_label_review(self, source: RunView, changed: RunChanged | None) -> None:
        """Read the review file and list the data it keys (a shard set's tar headers) off the console's thread;
        `changed` is None for a file read from disk, which does not change."""
        session = ReviewSession.for_run(source.run_dir).prepare()
        self.app.call_from_thread(self._push_label_review, source, session, changed)

    def _push_label_review(self, source: RunView, session: ReviewSession, changed: RunChanged | None) -> None:
        review = LabelReviewScreen(source, session, images=self.images, trust_code=self.trust_code, changed=changed)
        self.app.push_screen(review)

    def action_export(self) -> None:
        """Every misclassified image of the shown epoch as a CSV (path, true, predicted, confidence, loss)."""
        export_misclassified(self, self.source)

    def action_calibration(self) -> None:
        """The reliability diagram and ROC / precision-recall curves of the shown predictions."""
        changed = self.changed if self.source is self.history else None
        self.app.push_screen(CalibrationScreen(self.source, changed=changed))

    def action_toggle_percent(self) -> None:
        self.show_percent = not self.show_percent
        self.matrix.set_percent(self.show_percent)

    def action_page(self, direction: int) -> None:
        """The per-class legend and chart are below the fold at 80×24: page the body, whatever has focus."""
        body = self.query_one("#confusion-body", VerticalScroll)
        if direction > 0:
            body.scroll_page_down()
        else:
            body.scroll_page_up()

    def action_back(self) -> None:
        self.dismiss()

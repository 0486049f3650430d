"""The review list under the confusion matrix (`l`): the validation images most likely mislabelled, or with
`t` the training images (from `tui-trainer review RUN --train`'s out-of-fold predictions), and a decision
on each ("relabel as X", "exclude", "fine") written at once to the review file.

Beside the list, the selected image with its caption (a `Picture`: real pixels where the terminal shows
them); enter opens it full size, `g` shows where the model looked in it.

The title names the epoch the list ranks. Over a run still training, a newer epoch is offered (`n`), not
ranked at once: a new ranking moves rows and can change a row's suspected class, which `r` relabels as,
so it comes when the reviewer asks, with the cursor kept on the same image.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, OptionList, Static
from textual.widgets.option_list import Option

from ...data.review_file import Decision
from ...engine.events import Predictions
from ...runs.folder import RunFolder
from ...runs.label_review import BASIS, LabelIssues, find_label_issues
from ...runs.out_of_fold_file import read_out_of_fold
from ...runs.predictions_file import NO_PROBABILITIES
from ...runs.review_session import ReviewSession
from ...runs.thumbnails import ValidationImages
from ...runs.view import RunView
from ...text import command_line, printable, short_path, source_path
from .explain_screen import show_where_it_looked
from .following import FollowsRunView, RunChanged
from .picture import Picture
from .sample_view import SampleViewScreen
from .source import current_epoch, sample_paths

SHOWN = 500
"""Candidates listed at most: the top of the ranking is where the wrong labels are."""

DECISION_ACTIONS = frozenset({"relabel", "choose_class", "decide", "undo"})
"""The keys that write a decision: not offered where none can be saved (the line under the heading says why)."""

Scope = Literal["val", "train"]
Ranked = tuple[Predictions, tuple[str, ...] | None, str, str]
"""What a set's ranking is made from: predictions, each sample's file, the set in words, the basis."""


class ClassChooser(ModalScreen["int | None"]):
    """Which class an image becomes: the classes, the suspected one highlighted; escape cancels."""

    HELP_TITLE = "relabel as"

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="review.class_cancel")]

    def __init__(self, names: tuple[str, ...], suspected: int, image: str) -> None:
        super().__init__()
        self._names, self._suspected, self._image = names, suspected, image

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(f"Relabel {self._image} as", style="bold"), classes="dialog-title")
            yield OptionList(*(Option(name, id=str(i)) for i, name in enumerate(self._names)), id="review-classes")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = self._suspected
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(int(event.option.id or 0))

    def action_cancel(self) -> None:
        self.dismiss(None)


class LabelReviewScreen(FollowsRunView, Screen):
    """Candidates ranked by `runs.label_review`, with the decision taken on each and the counts."""

    HELP_TITLE = "likely label errors"

    DEFAULT_CSS = """
    LabelReviewScreen #review-title {
        height: auto;
        padding: 0 1;
        background: $boost;
    }
    LabelReviewScreen #review-counts {
        height: auto;
        padding: 0 1;
    }
    LabelReviewScreen #review-problem {
        height: auto;
        padding: 0 1;
        color: $warning;
    }
    LabelReviewScreen #review-problem.-hidden {
        display: none;
    }
    LabelReviewScreen #review-body {
        height: 1fr;
    }
    LabelReviewScreen DataTable {
        width: 1fr;
        height: 1fr;
    }
    LabelReviewScreen #review-side {
        width: 36%;
        min-width: 20;
        padding: 0 0 0 1;
    }
    LabelReviewScreen #review-caption {
        height: auto;
    }
    LabelReviewScreen #review-path {
        height: 1;
        padding: 0 1;
        color: $text-muted;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="review.back"),
        Binding("r", "relabel", "Relabel", id="review.relabel"),
        Binding("c", "choose_class", "As…", id="review.choose_class"),
        Binding("x", "decide('exclude')", "Exclude", id="review.exclude"),
        Binding("f", "decide('fine')", "Fine", id="review.fine"),
        # Out of the footer, which fits 60 columns: the caption beside the list says these, the help (?) lists all.
        Binding("u", "undo", "Undo", id="review.undo", show=False),
        Binding("enter", "full_view", "Full size", id="review.full_view", show=False),  # the table's enter too
        Binding("g", "explain", "Where it looked", id="review.explain", show=False),
        Binding("t", "toggle_set", "Train/val", id="review.toggle_set", show=False),
        Binding("n", "rank_newer", "Rank newer epoch", id="review.rank_newer", show=False),  # the title offers it
    ]

    def __init__(
        self,
        view: RunView,
        session: ReviewSession | None = None,
        images: ValidationImages | None = None,
        trust_code: bool = False,
        changed: RunChanged | None = None,
    ) -> None:
        """`images`: the run's thumbnails (shared with the gallery); `trust_code` (--trust-code): `g` imports
        the run's `model.target` without asking; `changed`: the run session's signal, over the console's run."""
        super().__init__()
        self.history = view
        self.changed = changed
        self._seen_version: int | None = None
        self.session = session if session is not None else ReviewSession.for_run(view.run_dir)
        self.images = images if images is not None else ValidationImages()
        self.trust_code = trust_code
        self.issues: LabelIssues | None = None
        self.paths: tuple[str, ...] | None = None
        self.names: tuple[str, ...] = ()
        self.scope: Scope = "val"  # which set is ranked: `t` switches
        self.ranked: Predictions | None = None  # what the list ranks: its captions never mix in a newer epoch
        self._ranked_from: Predictions | None = None  # the view's validation predictions when they were ranked
        self._heading = Text()

    def compose(self) -> ComposeResult:
        yield Static(id="review-title")
        yield Static(id="review-counts")
        yield Static(id="review-problem", classes="-hidden")
        with Horizontal(id="review-body"):
            yield DataTable(id="review-table", cursor_type="row", zebra_stripes=True)
            with Vertical(id="review-side"):
                yield Picture(id="review-picture")
                yield Static(id="review-caption", markup=False)
        yield Static(id="review-path", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.table
        for label, key in (("#", "rank"), ("image", "index"), ("given → suspected", "classes")):
            table.add_column(label, key=key)
        table.add_column("p", key="p")
        table.add_column("decision", key="decision")  # no file column: the line under the list shows the whole path
        self.reload()
        table.focus()

    @property
    def table(self) -> DataTable:
        return self.query_one(DataTable)

    # ---- data ----------------------------------------------------------------------------------

    def reload(self, keep: int | None = None) -> None:
        """Rank the chosen set's predictions (`t`: validation or training); list the candidates and their decisions.

        `keep`: the sample the cursor goes back to where it is still a candidate (else the cursor keeps its row)."""
        self._seen_version = self.history.version
        if self.scope == "val":
            self._ranked_from = self.history.predictions
        source = self._train_source() if self.scope == "train" else self._val_source()
        table = self.table
        if isinstance(source, str):  # nothing to rank: why, and what to do
            self.issues, self.paths, self.ranked = None, None, None
            table.clear()
            self._heading = Text.assemble(("Likely label errors", "bold"), f" · {source}")
            self._show_title()
            self._show_counts()
            self._show_path()
            self.refresh_bindings()
            return
        predictions, self.paths, about, basis = source
        self.ranked = predictions
        self.names = tuple(map(printable, predictions.classes))
        assert predictions.probabilities is not None
        self.issues = find_label_issues(predictions.labels, predictions.probabilities)
        shown = min(len(self.issues), SHOWN)
        self._heading = Text.assemble(
            ("Likely label errors", "bold"),
            f" · {len(self.issues)} candidates of {len(predictions.labels)} {about}",
            f" · top {shown} shown" if shown < len(self.issues) else "",
            "\n",
            (basis, "dim"),
        )
        self._show_title()
        row = table.cursor_row
        table.clear()
        for rank in range(shown):
            table.add_row(*self._cells(rank), key=str(rank))
        if shown:
            kept = np.flatnonzero(self.issues.indices[:shown] == keep) if keep is not None else np.zeros(0, np.int64)
            table.move_cursor(row=int(kept[0]) if len(kept) else min(row, shown - 1))
        self._show_counts()
        self._show_path()
        self.refresh_bindings()

    def can_decide(self) -> bool:
        """Whether a decision on these candidates can be saved: they have image files and the review file a place."""
        return self.issues is not None and self.paths is not None and self.session.file is not None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Decision keys only where a decision can be saved: hidden from the footer, not a toast per key."""
        return action not in DECISION_ACTIONS or self.can_decide()

    def _show_title(self) -> None:
        """What the list ranks, and a newer epoch of the run when one has finished since."""
        text = self._heading.copy()
        newer = self._newer_epoch()
        if newer is not None:
            text.append(f"\nepoch {newer} has finished: n ranks it (your place and decisions stay)", style="bold")
        self.query_one("#review-title", Static).update(text)

    def _newer_epoch(self) -> int | None:
        """The epoch of validation predictions newer than those ranked, that can be ranked; None when there are none."""
        predictions = self.history.predictions
        if self.scope != "val" or predictions is None or predictions is self._ranked_from:
            return None
        if predictions.probabilities is None or not len(predictions.labels):
            return None  # an epoch whose file was replaced before it was read, or one without probabilities
        return current_epoch(self.history)

    def history_changed(self) -> None:
        """The live run changed: offer its newer epoch (`n`) rather than move the rows being decided."""
        self._seen_version = self.history.version
        self._show_title()

    def _val_source(self) -> Ranked | str:
        view = self.history
        predictions = view.predictions
        if predictions is None:
            return "no finished epoch yet"
        if predictions.probabilities is None:
            return NO_PROBABILITIES
        if view.classes:
            predictions = replace(predictions, classes=tuple(view.classes))
        epoch = current_epoch(view)
        about = f"{view.scope} images" + (f" · epoch {epoch}" if epoch is not None else "")
        return predictions, sample_paths(view, len(predictions.labels)), about, BASIS

    def _train_source(self) -> Ranked | str:
        """The run's out-of-fold predictions of its training set (`tui-trainer review RUN --train`)."""
        run_dir = self.history.run_dir
        if run_dir is None:
            return "the training set's ranking is kept in a run folder, and this view has none"
        file = RunFolder(Path(run_dir)).train_oof_file
        if not file.exists():
            return (
                "the training set needs out-of-fold predictions (a model never ranks its own training images): "
                f"make them with `{command_line('tui-trainer', 'review', run_dir, '--train')}`"
            )
        try:
            oof = read_out_of_fold(file)
        except (OSError, ValueError) as exc:
            return printable(str(exc))
        predictions = oof.saved.predictions
        if predictions.probabilities is None:
            return f"{printable(file)}: no probabilities array"
        return predictions, oof.saved.paths, "training images", f"confident learning on the {oof.basis}"

    def _cells(self, rank: int) -> tuple[str | Text, ...]:
        issues = self.issues
        assert issues is not None
        path = self._path(rank)
        entry = self.session.decision(path)
        if entry is None:
            decision = Text("·", style="dim")
        elif entry.decision == "relabel":
            decision = Text(f"→ {printable(entry.label)}", style="bold")
        else:
            decision = Text(entry.decision, style="bold" if entry.decision == "exclude" else "")
        given, suspected = self.names[issues.given[rank]], self.names[issues.suspected[rank]]
        return (
            str(rank + 1),
            str(int(issues.indices[rank])),
            f"{given[:12]} → {suspected[:12]}",
            f"{issues.suspected_probability[rank]:.2f}",
            decision,
        )

    def _path(self, rank: int) -> str | None:
        if self.paths is None or self.issues is None:
            return None
        return self.paths[int(self.issues.indices[rank])]

    def _show_counts(self) -> None:
        counts = self.session.counts()
        text = Text()
        for kind, label in (("relabel", "relabelled"), ("exclude", "excluded"), ("fine", "fine")):
            text.append(f"{counts.get(kind, 0)} ", style="bold")
            text.append(f"{label} · ")
        where = self.session.file
        text.append(f"file: {printable(short_path(where))}" if where is not None else "not saved", style="dim")
        self.query_one("#review-counts", Static).update(text)
        problem = self.session.problem or self.session.note
        if self.paths is None and self.issues is not None and not self.session.problem:
            problem = "these predictions have no image files: decisions cannot be saved"
        widget = self.query_one("#review-problem", Static)
        widget.update(Text(problem))
        widget.set_class(not problem, "-hidden")

    def _show_path(self) -> None:
        """The selected candidate's file below the list, and its image and caption beside it."""
        rank = self._rank()
        path = self._path(rank) if rank is not None else None
        self.query_one("#review-path", Static).update(printable(source_path(path)) if path else "")
        image = self._image(rank) if rank is not None else None
        self.query_one("#review-picture", Picture).image = image
        caption = self._caption(rank) if rank is not None else ()
        if rank is not None and image is None and self.images.problem:
            caption = (*caption, self.images.problem)
        text = Text("\n".join(caption))
        other = "validation" if self.scope == "train" else "training"
        undo = "u undo · " if self.can_decide() else ""
        hints = (f"⏎ full size · g where it looked · {undo}" if rank is not None else "") + f"t {other} set"
        text.append(("\n" if caption else "") + hints, style="dim")
        self.query_one("#review-caption", Static).update(text)

    def _sample(self, rank: int) -> int:
        assert self.issues is not None
        return int(self.issues.indices[rank])

    def _image(self, rank: int) -> np.ndarray | None:
        """The thumbnail of the candidate at `rank`, None when the run folder has none."""
        predictions = self.ranked
        if predictions is None or self.scope != "val":
            return None  # a run keeps copies of its validation images only
        images = self.images.get(self.history.run_dir, len(predictions.labels))
        return None if images is None else images[self._sample(rank)]

    def _caption(self, rank: int) -> tuple[str, ...]:
        """Index and classes, then the suspected class's probability and the model's confidence and loss."""
        issues, predictions = self.issues, self.ranked
        assert issues is not None and predictions is not None
        sample = self._sample(rank)
        given, suspected = self.names[issues.given[rank]], self.names[issues.suspected[rank]]
        return (
            f"#{sample} labelled {given}, likely {suspected}",
            f"p {issues.suspected_probability[rank]:.2f} · conf {float(predictions.confidences[sample]):.3f}"
            f" loss {float(predictions.losses[sample]):.3f}",
        )

    def _rank(self) -> int | None:
        if self.issues is None or not self.table.row_count:
            return None
        return self.table.cursor_row

    def on_data_table_row_highlighted(self, _: DataTable.RowHighlighted) -> None:
        self._show_path()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_full_view()

    def action_full_view(self) -> None:
        """The selected image as large as the terminal allows (escape comes back)."""
        rank = self._rank()
        if rank is None:
            return
        image = self._image(rank)
        if image is None and self.scope == "train":
            self.notify("Full size shows validation images (the run keeps copies of those only).", markup=False)
            return
        if image is None:
            self.notify(self.images.problem or "no thumbnails in this run folder", severity="warning", markup=False)
            return
        path = self._path(rank)
        caption = self._caption(rank) + ((printable(source_path(path)),) if path else ())
        self.app.push_screen(SampleViewScreen(image, caption))

    def action_explain(self) -> None:
        """Where the model looked in the selected image (`ExplainScreen`)."""
        rank = self._rank()
        sample = self._sample(rank) if rank is not None else None
        show_where_it_looked(self, self.history, sample, self.trust_code, training=self.scope == "train")

    # ---- decisions -----------------------------------------------------------------------------

    def _decide(self, decision: Decision, label: int | None = None) -> None:
        rank = self._rank()
        path = self._path(rank) if rank is not None else None
        if rank is None or self.issues is None:
            return
        if path is None:
            self.notify("No image file for this sample: the decision cannot be saved.", severity="warning")
            return
        given = self.names[self.issues.given[rank]]
        name = self.names[label] if label is not None else ""
        try:
            self.session.decide(path, decision, label=name, given=given)
        except OSError as exc:
            self.notify(f"Not saved: {printable(exc)}", severity="error")
            return
        self._refresh_row(rank)

    def _refresh_row(self, rank: int) -> None:
        table = self.table
        table.update_cell(str(rank), "decision", self._cells(rank)[4])
        self._show_counts()
        if rank + 1 < table.row_count:
            table.move_cursor(row=rank + 1)  # the next candidate, as a reviewer works down the list

    def action_relabel(self) -> None:
        """Relabel as the suspected class."""
        rank = self._rank()
        if rank is not None and self.issues is not None:
            self._decide("relabel", int(self.issues.suspected[rank]))

    def action_choose_class(self) -> None:
        """Relabel as a class the user picks, the suspected one offered first."""
        rank = self._rank()
        if rank is None or self.issues is None:
            return

        def chosen(label: int | None) -> None:
            if label is not None:
                self._decide("relabel", label)

        image = printable(Path(self._path(rank) or str(int(self.issues.indices[rank]))).name)
        self.app.push_screen(ClassChooser(self.names, int(self.issues.suspected[rank]), image), chosen)

    def action_decide(self, decision: Decision) -> None:
        self._decide(decision)

    def action_undo(self) -> None:
        rank = self._rank()
        path = self._path(rank) if rank is not None else None
        if rank is None or path is None or self.session.decision(path) is None:
            return
        try:
            self.session.undo(path)
        except OSError as exc:
            self.notify(f"Not saved: {printable(exc)}", severity="error")
            return
        self.table.update_cell(str(rank), "decision", self._cells(rank)[4])
        self._show_counts()

    def action_rank_newer(self) -> None:
        """Rank the run's newest validation predictions, the cursor staying on its image where it is still listed."""
        if self._newer_epoch() is None:
            self.notify("The list already ranks the newest predictions.", markup=False)
            return
        rank = self._rank()
        self.reload(keep=self._sample(rank) if rank is not None else None)

    def action_toggle_set(self) -> None:
        """Rank the other set: the validation set, or the training set's out-of-fold predictions."""
        self.scope = "train" if self.scope == "val" else "val"
        self.table.clear()
        self.reload()

    def action_back(self) -> None:
        self.dismiss()

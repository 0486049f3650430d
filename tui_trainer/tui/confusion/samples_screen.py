"""The drill-down under the confusion matrix: the validation images of one cell, or of one class's errors."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container
from textual.screen import Screen
from textual.widgets import Footer, Static

from ...runs.report import SORT_KEYS, SortKey
from ...runs.thumbnails import ValidationImages
from ...runs.view import RunView
from ...text import printable
from .explain_screen import show_where_it_looked
from .export import export_misclassified
from .following import FollowsRunView, RunChanged
from .gallery import SampleGallery
from .gallery_pictures import GalleryPictures
from .sample_view import SampleViewScreen
from .source import SampleQuery, current_epoch, sample_paths


class ConfusionSamplesScreen(FollowsRunView, Screen):
    """Lists the samples of a `SampleQuery`, most confidently wrong first; follows new epochs like the matrix."""

    HELP_TITLE = "images of a cell"

    DEFAULT_CSS = """
    ConfusionSamplesScreen #samples-title {
        height: auto;
        padding: 0 1;
        background: $boost;
    }
    ConfusionSamplesScreen #samples-problem {
        height: auto;
        padding: 0 1;
        color: $warning;
    }
    ConfusionSamplesScreen #samples-path {
        height: 1;
        padding: 0 1;
        color: $text-muted;
    }
    ConfusionSamplesScreen #samples-body {
        height: 1fr;
    }
    ConfusionSamplesScreen #samples-gallery {
        height: 100%;  /* not 1fr: the pictures laid over it would take their share */
    }
    ConfusionSamplesScreen #samples-problem.-hidden, ConfusionSamplesScreen #samples-path.-hidden {
        display: none;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Matrix", id="samples.back"),
        Binding("g", "explain", "Where it looked", id="samples.explain"),
        # Out of the footer, which fits 60 columns; the title says `s`, the help (?) lists both.
        Binding("s", "toggle_sort", "Sort conf/loss", id="samples.sort", show=False),
        Binding("e", "export", "Export errors CSV", id="samples.export", show=False),
    ]

    def __init__(
        self,
        history: RunView,
        query: SampleQuery,
        sort: SortKey = "confidence",
        images: ValidationImages | None = None,
        changed: RunChanged | None = None,
        trust_code: bool = False,
    ) -> None:
        """`trust_code` (--trust-code): `g` imports the run's `model.target` without asking."""
        super().__init__()
        self.trust_code = trust_code
        self.history = history
        self.changed = changed
        self.sample_query = query
        self.sort: SortKey = sort
        self.images = images if images is not None else ValidationImages()
        self._seen_version: int | None = None
        self._pictures: GalleryPictures | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="samples-title")
        yield Static(id="samples-problem", classes="-hidden")
        with Container(id="samples-body"):
            yield SampleGallery(id="samples-gallery")
        yield Static(id="samples-path", classes="-hidden", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self._pictures = GalleryPictures(self.query_one("#samples-body", Container), self.gallery)
        self.reload()
        self.query_one(SampleGallery).focus()

    @property
    def gallery(self) -> SampleGallery:
        return self.query_one(SampleGallery)

    def reload(self, keep_cursor: bool = True) -> None:
        """Recompute the listed samples from the history's latest predictions."""
        history = self.history
        self._seen_version = history.version
        predictions = history.predictions
        title = self.query_one("#samples-title", Static)
        problem = self.query_one("#samples-problem", Static)
        gallery = self.gallery
        names = tuple(
            map(printable, tuple(history.classes) or (predictions.classes if predictions is not None else ()))
        )
        if predictions is None:
            title.update("No per-sample predictions yet: they arrive with the first finished epoch.")
            problem.add_class("-hidden")
            return
        samples = self.sample_query.indices(predictions, self.sort)
        images = self.images.get(history.run_dir, len(predictions.labels))
        gallery.empty_text = "No samples here in this epoch."
        paths = sample_paths(history, len(predictions.labels))
        gallery.set_samples(samples, predictions, names, images, keep_cursor=keep_cursor, paths=paths)
        self._show_path()
        epoch = current_epoch(history)
        epoch_text = f" · epoch {epoch}" if epoch is not None else ""
        count = len(samples)
        title.update(
            Text.assemble(
                (self.sample_query.describe(names), "bold"),
                f" · {count} image{'s' if count != 1 else ''}{epoch_text}\n",
                (f"sorted by {self._sort_text()}, largest first · s: sort by {self._other_sort()}", "dim"),
            )
        )
        problem.update(Text(printable(self.images.problem, lines=True)))
        problem.set_class(not self.images.problem, "-hidden")

    def _show_path(self) -> None:
        """The full file of the tile under the cursor (a tile shows only its end)."""
        gallery = self.gallery
        sample = gallery.current_sample
        path = gallery.sample_path(sample) if sample is not None else None
        line = self.query_one("#samples-path", Static)
        line.update(printable(path or ""))
        line.set_class(path is None, "-hidden")

    def on_sample_gallery_highlighted(self, _: SampleGallery.Highlighted) -> None:
        self._show_path()

    def on_sample_gallery_tiles_moved(self, message: SampleGallery.TilesMoved) -> None:
        if self._pictures is not None:
            self._pictures.show(message.slots, self.gallery.images)

    def on_sample_gallery_opened(self, message: SampleGallery.Opened) -> None:
        gallery = self.gallery
        if gallery.images is None:
            self.notify(self.images.problem or "no thumbnails in this run folder", severity="warning", markup=False)
            return
        first, second, *_ = gallery.caption(message.position)
        path = gallery.sample_path(message.sample)
        caption = (first, second) if path is None else (first, second, printable(path))
        self.app.push_screen(SampleViewScreen(gallery.images[message.sample], caption))

    def action_export(self) -> None:
        export_misclassified(self, self.history)

    def action_explain(self) -> None:
        """The class-activation maps of the image under the cursor (after the code question, if any)."""
        show_where_it_looked(self, self.history, self.gallery.current_sample, self.trust_code)

    def _other_sort(self) -> str:
        return "loss" if self.sort != "loss" else "confidence"

    def _sort_text(self) -> str:
        if self.sort == "loss":
            return "loss"
        query = self.sample_query
        return "confidence" if query.true is not None and query.true == query.pred else "confidence in the wrong class"

    def _other_sort(self) -> str:
        return "loss" if self.sort != "loss" else "confidence"

    def action_toggle_sort(self) -> None:
        self.sort = SORT_KEYS[(SORT_KEYS.index(self.sort) + 1) % len(SORT_KEYS)]
        self.reload(keep_cursor=False)
        self.gallery.scroll_home(animate=False, immediate=True)

    def action_back(self) -> None:
        self.dismiss()

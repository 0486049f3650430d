"""A scrolling grid of validation samples: each tile is its caption (index, classes, confidence and
loss, and its file when the data came from files) over the image. The caption comes first, so a
terminal too short for a whole tile (60x20) still shows what each image is.

Only the visible lines are drawn (Line API), and each thumbnail is built once, so a class with
thousands of errors scrolls as fast as one with three. With terminal graphics the gallery leaves the
image area of each tile blank and says where the images go (`TilesMoved`); pictures laid over it
show them (`GalleryPictures`), and tiles grow with the terminal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...engine.events import Predictions
from ...text import printable, source_path
from ..common.image_display import image_display
from .matrix import CURSOR, DIM
from .thumbnail import thumbnail_lines, thumbnail_size

CAPTION_WIDTH = 26  # cells of text under a thumbnail, at least
GAP = 2  # blank cells between tiles
CAPTION_LINES = 2
MAX_PICTURE_HEIGHT = 30  # cells of a tile's image with terminal graphics, however tall the terminal
WRONG = Style(bold=True)


class SampleGallery(ScrollView, can_focus=True):
    """Tiles laid out left to right as many as fit, then down; arrow keys move a cursor tile."""

    DEFAULT_CSS = """
    SampleGallery {
        height: 1fr;
        width: 1fr;
        scrollbar-size: 1 1;
    }
    """

    # The arrows are left out of the footer (help lists them): at 80 columns it keeps ^q and ? in sight.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(0, -1)", "Move", id="gallery.up", show=False),
        Binding("down", "move(0, 1)", "Move", id="gallery.down", show=False),
        Binding("left", "move(-1, 0)", "Move", id="gallery.left", show=False),
        Binding("right", "move(1, 0)", "Move", id="gallery.right", show=False),
        Binding("enter,f", "open", "Full size", id="gallery.open"),
    ]

    @dataclass
    class _TileMessage(Message):
        gallery: SampleGallery
        position: int
        sample: int

        @property
        def control(self) -> SampleGallery:
            return self.gallery

    class Highlighted(_TileMessage):
        """The cursor moved to the tile at `position`, which shows validation sample `sample`."""

    class Opened(_TileMessage):
        """The user asked to see validation sample `sample` (at tile `position`) full size."""

    @dataclass
    class TilesMoved(Message):
        """With terminal graphics: the images now on screen, as (sample, region in the gallery) pairs."""

        gallery: SampleGallery
        slots: list[tuple[int, Region]]

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, SampleGallery.TilesMoved) and message.gallery is self.gallery

    def __init__(self, *, graphics: bool | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.graphics = image_display().graphics if graphics is None else graphics
        self.samples: np.ndarray = np.zeros(0, dtype=np.int64)
        self.predictions: Predictions | None = None
        self.names: tuple[str, ...] = ()
        self.images: np.ndarray | None = None
        self.paths: tuple[str, ...] | None = None
        self.cursor = 0
        self.empty_text = "No samples."
        self._thumbnails: dict[int, list[Strip]] = {}
        self._thumb = (0, 0)  # cells wide, cells high
        self._columns = 1

    # ---- data ----------------------------------------------------------------------------------

    def set_samples(
        self,
        samples: np.ndarray,
        predictions: Predictions,
        names: tuple[str, ...],
        images: np.ndarray | None,
        keep_cursor: bool = True,
        paths: tuple[str, ...] | None = None,
    ) -> None:
        """Show these validation indices; the cursor stays on the same sample when it is still listed.

        With `keep_cursor=False` the cursor goes back to the first tile. `paths` (one per sample
        of the predictions) adds each image's file under its tile.
        """
        current = self.current_sample if keep_cursor else None
        if images is not self.images:
            self._thumbnails.clear()
        self.samples = np.asarray(samples, dtype=np.int64)
        self.predictions = predictions
        self.names = names
        self.images = images
        self.paths = paths
        found = np.flatnonzero(self.samples == current) if current is not None else np.zeros(0)
        if found.size:
            self.cursor = int(found[0])
        else:
            self.cursor = min(self.cursor, max(len(self.samples) - 1, 0)) if keep_cursor else 0
        self._relayout()

    @property
    def current_sample(self) -> int | None:
        """The validation index under the cursor, None when the list is empty."""
        if 0 <= self.cursor < len(self.samples):
            return int(self.samples[self.cursor])
        return None

    @property
    def tile_size(self) -> tuple[int, int]:
        thumb_w, thumb_h = self._thumb
        return max(thumb_w, CAPTION_WIDTH) + GAP, thumb_h + self.caption_lines + 1

    @property
    def caption_lines(self) -> int:
        return CAPTION_LINES + (self.paths is not None)

    def sample_path(self, sample: int) -> str | None:
        """The file validation sample `sample` was read from (`source_path`), None when the data has no files."""
        if self.paths is None or not 0 <= sample < len(self.paths):
            return None
        return source_path(self.paths[sample])

    @property
    def columns(self) -> int:
        return self._columns

    def _thumb_size(self) -> tuple[int, int]:
        """(cells wide, cells high) of a tile's image: half blocks draw the stored pixels; terminal graphics
        scale them to a box that fills the gallery's height (two rows of tiles on a tall terminal)."""
        if self.images is None:
            return 0, 0
        if not self.graphics:
            return thumbnail_size(self.images.shape[1:])
        height = self.size.height or 24
        rows = 1 if height < 30 else 2
        cells_h = max(4, min(MAX_PICTURE_HEIGHT, height // rows - self.caption_lines - 1))
        image_h, image_w = self.images.shape[1:3]
        return max(1, round(2 * cells_h * image_w / image_h)), cells_h  # a cell is about twice as high as wide

    def picture_slots(self) -> list[tuple[int, Region]]:
        """(sample, region in the gallery's content) of each tile image wholly in view."""
        if self.images is None or not len(self.samples):
            return []
        scroll_x, scroll_y = (round(v) for v in self.scroll_offset)
        tile_w, tile_h = self.tile_size
        thumb_w, thumb_h = self._thumb
        slots: list[tuple[int, Region]] = []
        first_row = scroll_y // tile_h
        for row in range(first_row, first_row + self.size.height // tile_h + 2):
            top = row * tile_h - scroll_y + self.caption_lines  # the image sits under its caption
            if top < 0 or top + thumb_h > self.size.height:
                continue
            for column in range(self._columns):
                position = row * self._columns + column
                left = column * tile_w - scroll_x
                if position < len(self.samples) and left >= 0 and left + thumb_w <= self.size.width:
                    slots.append((int(self.samples[position]), Region(left, top, thumb_w, thumb_h)))
        return slots

    def _tiles_moved(self) -> None:
        if self.graphics and self.is_mounted:
            self.post_message(self.TilesMoved(self, self.picture_slots()))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._tiles_moved()

    def watch_scroll_x(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_x(old_value, new_value)
        self._tiles_moved()

    def _relayout(self) -> None:
        self._thumb = self._thumb_size()
        tile_w, tile_h = self.tile_size
        self._columns = max(1, (self.size.width + GAP) // tile_w) if self.size.width else 1
        rows = -(-len(self.samples) // self._columns) if len(self.samples) else 1
        self.virtual_size = Size(self._columns * tile_w, rows * tile_h)
        self.refresh()
        self._tiles_moved()

    def on_resize(self) -> None:
        self._relayout()
        self._scroll_to_cursor()

    # ---- drawing -------------------------------------------------------------------------------

    def _thumbnail(self, sample: int) -> list[Strip]:
        strips = self._thumbnails.get(sample)
        if strips is None:
            assert self.images is not None
            thumb_w, _ = self._thumb
            strips = [Strip(line).adjust_cell_length(thumb_w) for line in thumbnail_lines(self.images[sample])]
            if len(self._thumbnails) > 512:  # keep memory flat while scrolling through thousands
                self._thumbnails.clear()
            self._thumbnails[sample] = strips
        return strips

    def caption(self, position: int) -> tuple[str, ...]:
        """The text lines under tile `position`: index and classes, confidence and loss, then the file
        (its end, which names the class folder and the image, when it is longer than the tile)."""
        assert self.predictions is not None
        p = self.predictions
        sample = int(self.samples[position])
        true, pred = int(p.labels[sample]), int(p.predictions[sample])

        def name(i: int) -> str:
            return self.names[i] if 0 <= i < len(self.names) else str(i)

        first = printable(f"#{sample} {name(true)}→{name(pred)}")
        second = f"conf {float(p.confidences[sample]):.3f} loss {float(p.losses[sample]):.3f}"
        path = self.sample_path(sample)
        if path is None:
            return first, second
        path = printable(path)  # drawn as segments, straight to the terminal: a name may hold ESC
        width = self.tile_size[0] - GAP
        return first, second, path if len(path) <= width else "…" + path[-(width - 1) :]

    def _tile_line(self, position: int, inner: int, tile_w: int) -> list[Segment]:
        width = tile_w - GAP
        captions = self.caption_lines
        segments: list[Segment]
        if inner < captions:
            text = self.caption(position)[inner][:width]
            style = CURSOR if position == self.cursor else (WRONG if inner == 0 else DIM)
            segments = [Segment(f"{text:<{width}}", style)]
        elif inner - captions < self._thumb[1] and self.images is not None and self.graphics:
            segments = [Segment(" " * width)]  # the picture laid over the gallery draws here
        elif inner - captions < self._thumb[1] and self.images is not None:
            segments = list(self._thumbnail(int(self.samples[position]))[inner - captions])
            segments.append(Segment(" " * (width - self._thumb[0])))
        else:
            segments = [Segment(" " * width)]
        segments.append(Segment(" " * GAP))
        return segments

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        base = self.rich_style
        if not len(self.samples) or self.predictions is None:
            text = self.empty_text if y == 0 else ""
            return Strip([Segment(text, DIM)]).apply_style(base).crop_extend(0, width, base)
        tile_w, tile_h = self.tile_size
        tile_row, inner = divmod(y + scroll_y, tile_h)
        segments: list[Segment] = []
        for column in range(self._columns):
            position = tile_row * self._columns + column
            if position >= len(self.samples):
                break
            segments.extend(self._tile_line(position, inner, tile_w))
        return Strip(segments).apply_style(base).crop_extend(scroll_x, scroll_x + width, base)

    # ---- cursor --------------------------------------------------------------------------------

    def _scroll_to_cursor(self) -> None:
        if not len(self.samples):
            return
        tile_w, tile_h = self.tile_size
        row, column = divmod(self.cursor, self._columns)
        self.scroll_to_region(Region(column * tile_w, row * tile_h, tile_w, tile_h), animate=False, immediate=True)

    def move_to(self, position: int) -> None:
        if not len(self.samples):
            return
        position = max(0, min(len(self.samples) - 1, position))
        if position == self.cursor:
            return
        self.cursor = position
        self.refresh()
        self._scroll_to_cursor()
        self.post_message(self.Highlighted(self, position, int(self.samples[position])))

    def action_move(self, columns: int, rows: int) -> None:
        self.move_to(self.cursor + columns + rows * self._columns)

    def action_open(self) -> None:
        sample = self.current_sample
        if sample is not None:
            self.post_message(self.Opened(self, self.cursor, sample))

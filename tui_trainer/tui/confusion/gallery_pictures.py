"""The images of a gallery's tiles in terminal graphics, laid over the blank boxes the gallery leaves.

A Line API widget draws text a line at a time; a Sixel or Kitty image is one picture over many
cells, so each image in view is a `Picture` placed (absolutely) over its tile. Only the tiles in
view have one, and the widgets are reused as the gallery scrolls.
"""

from __future__ import annotations

import numpy as np
from textual import events
from textual.geometry import Region
from textual.widget import Widget

from ..common.image_display import image_display
from .gallery import SampleGallery
from .picture import Picture


class TilePicture(Picture):
    """A tile's image; the mouse wheel over it scrolls the gallery underneath."""

    DEFAULT_CSS = """
    TilePicture {
        position: absolute;
    }
    """

    def __init__(self, gallery: SampleGallery) -> None:
        super().__init__(display=image_display())
        self.gallery = gallery
        self.sample: int | None = None

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self.gallery.scroll_down(animate=False)
        event.stop()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self.gallery.scroll_up(animate=False)
        event.stop()


class GalleryPictures:
    """Keeps one `TilePicture` per image in view, children of `container` (which holds the gallery at its top left)."""

    def __init__(self, container: Widget, gallery: SampleGallery) -> None:
        self.container = container
        self.gallery = gallery
        self.pictures: list[TilePicture] = []

    def show(self, slots: list[tuple[int, Region]], images: np.ndarray | None) -> None:
        """Place pictures of `images[sample]` at each slot; the pictures not needed are hidden."""
        if images is None:
            slots = []
        while len(self.pictures) < len(slots):
            picture = TilePicture(self.gallery)
            self.pictures.append(picture)
            self.container.mount(picture)
        offset = self.gallery.region.offset - self.container.content_region.offset
        for picture, (sample, region) in zip(self.pictures[: len(slots)], slots, strict=True):
            assert images is not None
            picture.styles.offset = (offset.x + region.x, offset.y + region.y)
            picture.styles.width, picture.styles.height = region.width, region.height
            if picture.sample != sample:
                picture.sample = sample
                picture.image = np.asarray(images[sample])
            picture.display = True
        for picture in self.pictures[len(slots) :]:
            picture.display = False
            picture.sample = None

    @property
    def shown(self) -> list[int]:
        """The samples whose images are on screen, in tile order."""
        return [p.sample for p in self.pictures if p.display and p.sample is not None]

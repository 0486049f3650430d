"""A widget that shows one RGB image as large as its box allows, keeping its aspect.

With terminal graphics (see `common.image_display`) the image itself is drawn through
`textual-image` (Sixel or Kitty's protocol); otherwise in half blocks, scaled to the box (up as
well as down). Any screen can show an array with it: a validation image, an overlay on one.
"""

from __future__ import annotations

import numpy as np
from PIL import Image as PILImage
from rich.console import RenderableType
from textual.app import ComposeResult
from textual.widget import Widget

from ..common.image_display import ImageDisplay, image_display
from .thumbnail import Thumbnail, fit_image


def fit_cells(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """The image (H×W, H×W×1, ×3 or ×4 uint8) resized to fill `width` cells by `height` half-block cells
    (two pixels each) at most, aspect kept, as H×W×3 uint8: what a half-block drawing of that box shows."""
    pixels = fit_image(image, max_side=max(np.shape(image)[:2]))  # RGB, same size
    rows, columns = pixels.shape[:2]
    scale = min(width / columns, 2 * height / rows)
    size = (max(1, int(columns * scale)), max(1, int(rows * scale)))
    if size == (columns, rows):
        return pixels
    resample = PILImage.Resampling.NEAREST if scale > 1 else PILImage.Resampling.BOX
    return np.asarray(PILImage.fromarray(pixels).resize(size, resample))


class Picture(Widget):
    """An RGB (or grey) uint8 array shown in the widget's box; set `image` to change it (None: nothing)."""

    DEFAULT_CSS = """
    Picture {
        width: 1fr;
        height: 1fr;
    }
    Picture > * {
        width: auto;
        height: auto;
    }
    """

    def __init__(
        self,
        image: np.ndarray | None = None,
        *,
        display: ImageDisplay | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.image_display = display if display is not None else image_display()
        self._image: np.ndarray | None = image

    @property
    def graphics(self) -> bool:
        return self.image_display.graphics

    @property
    def image(self) -> np.ndarray | None:
        return self._image

    @image.setter
    def image(self, value: np.ndarray | None) -> None:
        if value is self._image:
            return
        self._image = value
        if self.graphics and self.is_mounted:
            self._graphic().image = self._pil()
        self.refresh(layout=True)

    def _pil(self) -> PILImage.Image | None:
        if self._image is None:
            return None
        return PILImage.fromarray(fit_image(self._image, max_side=max(self._image.shape[:2])))

    def _graphic(self) -> Widget:
        return self.query_one("#picture-graphic")

    def compose(self) -> ComposeResult:
        if self.graphics:
            from textual_image.widget import SixelImage, TGPImage

            widget = SixelImage if self.image_display.protocol == "sixel" else TGPImage
            yield widget(self._pil(), id="picture-graphic")

    def render(self) -> RenderableType:
        if self.graphics or self._image is None or not self.size.area:
            return ""
        return Thumbnail(fit_cells(self._image, self.size.width, self.size.height), max_side=1 << 16)

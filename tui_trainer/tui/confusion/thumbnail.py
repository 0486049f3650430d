"""Images drawn with half blocks: one terminal cell shows two pixels, "▀" in the top pixel's colour on the bottom's.

A 32×32 image becomes 32×16 cells. Colours are true RGB; Textual downgrades them to the nearest
of 256 (or 16) colours when the terminal has fewer, so thumbnails work over a plain SSH session.
"""

from __future__ import annotations

import numpy as np
from rich.color import Color
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style

UPPER_HALF = "▀"
MAX_SIDE = 32  # pixels; larger images are shrunk by whole-pixel box averaging


def fit_image(image: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """The image as H×W×3 uint8 RGB, at most `max_side` pixels a side.

    Grey (H×W or H×W×1) is spread to three channels and an alpha channel dropped. A larger image is
    shrunk by an integer factor, averaging each factor×factor block (edges padded by repetition),
    so no pixel is invented and small images stay exact.
    """
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3:
        raise ValueError(f"an image is H×W or H×W×C, got shape {array.shape}")
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    elif array.shape[-1] == 4:
        array = array[..., :3]
    elif array.shape[-1] != 3:
        raise ValueError(f"an image has 1, 3 or 4 channels, got {array.shape[-1]}")
    height, width = array.shape[:2]
    factor = -(-max(height, width) // max_side)  # ceiling division
    if factor <= 1:
        return np.ascontiguousarray(array, dtype=np.uint8)
    pad_h, pad_w = (-height) % factor, (-width) % factor
    padded = np.pad(array.astype(np.float32), ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    blocks = padded.reshape(padded.shape[0] // factor, factor, padded.shape[1] // factor, factor, 3)
    return np.clip(np.rint(blocks.mean(axis=(1, 3))), 0, 255).astype(np.uint8)


def thumbnail_lines(image: np.ndarray, max_side: int = MAX_SIDE) -> list[list[Segment]]:
    """One list of segments per terminal row, each row ceil(H / 2) of the fitted image, W cells wide.

    Cell (row r, column c) is "▀" with foreground = pixel (2r, c) and background = pixel
    (2r + 1, c); an odd last row has no background (the terminal's own shows through).
    Neighbouring cells with the same colours share one segment.
    """
    pixels = fit_image(image, max_side)
    height, width = pixels.shape[:2]
    styles: dict[tuple[int, ...], Style] = {}

    def style_of(top: np.ndarray, bottom: np.ndarray | None) -> Style:
        key = (*top.tolist(), *(bottom.tolist() if bottom is not None else ()))
        style = styles.get(key)
        if style is None:
            style = Style(
                color=Color.from_rgb(*top.tolist()),
                bgcolor=Color.from_rgb(*bottom.tolist()) if bottom is not None else None,
            )
            styles[key] = style
        return style

    lines: list[list[Segment]] = []
    for row in range(0, height, 2):
        segments: list[Segment] = []
        run_style: Style | None = None
        run_length = 0
        for column in range(width):
            bottom = pixels[row + 1, column] if row + 1 < height else None
            style = style_of(pixels[row, column], bottom)
            if style is run_style:
                run_length += 1
                continue
            if run_style is not None:
                segments.append(Segment(UPPER_HALF * run_length, run_style))
            run_style, run_length = style, 1
        if run_style is not None:
            segments.append(Segment(UPPER_HALF * run_length, run_style))
        lines.append(segments)
    return lines


def thumbnail_size(image_shape: tuple[int, ...], max_side: int = MAX_SIDE) -> tuple[int, int]:
    """(cells wide, cells high) of the thumbnail of an image of this H×W(×C) shape."""
    height, width = image_shape[:2]
    factor = max(1, -(-max(height, width) // max_side))
    fitted_h, fitted_w = -(-height // factor), -(-width // factor)
    return fitted_w, -(-fitted_h // 2)


class Thumbnail:
    """A rich renderable of an image in half blocks, usable in any `Static` or console print."""

    def __init__(self, image: np.ndarray, max_side: int = MAX_SIDE) -> None:
        self.lines = thumbnail_lines(image, max_side)
        self.width = sum(segment.cell_length for segment in self.lines[0]) if self.lines else 0

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for segments in self.lines:
            yield from segments
            yield Segment.line()

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(self.width, self.width)

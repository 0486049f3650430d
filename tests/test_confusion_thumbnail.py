"""Half-block thumbnails: each cell is "▀" with the top pixel as foreground and the bottom pixel as background."""

from __future__ import annotations

import io

import numpy as np
import pytest
from rich.console import Console
from rich.segment import Segment

from tui_trainer.tui.confusion.thumbnail import Thumbnail, fit_image, thumbnail_lines, thumbnail_size


def cells(line: list[Segment]) -> list[tuple[str, tuple | None, tuple | None]]:
    """One (character, fg RGB, bg RGB) per terminal cell of a rendered line."""
    out = []
    for segment in line:
        style = segment.style
        fg = tuple(style.color.triplet) if style and style.color else None
        bg = tuple(style.bgcolor.triplet) if style and style.bgcolor else None
        out.extend((char, fg, bg) for char in segment.text)
    return out


def known_image(height: int, width: int) -> np.ndarray:
    """Pixel (y, x) = (y * 10, x * 10, 200): every pixel has its own colour."""
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack([ys * 10, xs * 10, np.full_like(ys, 200)], axis=-1).astype(np.uint8)


def test_four_by_four_image_gives_two_rows_of_four_cells_with_pixel_colours() -> None:
    image = known_image(4, 4)
    lines = thumbnail_lines(image)
    assert len(lines) == 2
    grid = [cells(line) for line in lines]
    assert all(len(row) == 4 for row in grid)
    assert all(char == "▀" for row in grid for char, _, _ in row)
    assert grid[0][0][1:] == ((0, 0, 200), (10, 0, 200))  # fg = pixel (0,0), bg = pixel (1,0)
    assert grid[0][3][1:] == ((0, 30, 200), (10, 30, 200))
    assert grid[1][2][1:] == ((20, 20, 200), (30, 20, 200))  # pixels (2,2) over (3,2)


def test_32_pixel_image_is_32_by_16_cells_and_exact() -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    grid = [cells(line) for line in thumbnail_lines(image)]
    assert (len(grid), len(grid[0])) == (16, 32)
    assert thumbnail_size(image.shape) == (32, 16)
    for row, column in [(0, 0), (7, 19), (15, 31)]:
        _, fg, bg = grid[row][column]
        assert fg == tuple(image[2 * row, column].tolist())
        assert bg == tuple(image[2 * row + 1, column].tolist())


def test_larger_image_is_shrunk_by_block_averaging() -> None:
    image = np.zeros((64, 64, 3), dtype=np.uint8)
    image[0, 0] = (255, 255, 255)  # one white pixel of the top-left 2×2 block
    fitted = fit_image(image)
    assert fitted.shape == (32, 32, 3)
    assert tuple(fitted[0, 0].tolist()) == (64, 64, 64)  # rint(255 / 4)
    assert thumbnail_size(image.shape) == (32, 16)
    assert len(thumbnail_lines(image)) == 16


def test_grey_and_odd_height_images() -> None:
    grey = np.array([[0, 100], [200, 50], [255, 7]], dtype=np.uint8)[..., None]  # 3×2×1
    grid = [cells(line) for line in thumbnail_lines(grey)]
    assert len(grid) == 2
    assert grid[0][0][1:] == ((0, 0, 0), (200, 200, 200))
    assert grid[1][1] == ("▀", (7, 7, 7), None)  # the odd last row has no background pixel
    with pytest.raises(ValueError):
        fit_image(np.zeros((4, 4, 2), dtype=np.uint8))


def test_thumbnail_is_a_rich_renderable() -> None:
    console = Console(width=40, color_system="truecolor", record=True, file=io.StringIO())
    console.print(Thumbnail(known_image(4, 6)))
    text = console.export_text()
    assert text.splitlines()[:2] == ["▀" * 6, "▀" * 6]

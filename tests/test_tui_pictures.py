"""Validation images in the confusion screen's gallery and full-size view, in half blocks and in terminal
graphics (forced through TUI_TRAINER_IMAGES: a Pilot test has no terminal to ask)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from textual.app import App
from textual.geometry import Offset
from textual.widgets import Static

from tests.console_kit import SIZE
from tui_trainer.engine.events import EpochFinished, Predictions
from tui_trainer.runs.report import confusion_from_predictions
from tui_trainer.runs.view import RunView
from tui_trainer.tui.common.image_display import IMAGES_ENV
from tui_trainer.tui.confusion.gallery import SampleGallery
from tui_trainer.tui.confusion.gallery_pictures import TilePicture
from tui_trainer.tui.confusion.picture import Picture, fit_cells
from tui_trainer.tui.confusion.sample_view import SampleViewScreen
from tui_trainer.tui.confusion.samples_screen import ConfusionSamplesScreen
from tui_trainer.tui.confusion.source import SampleQuery

CLASSES = ("cat", "dog", "frog")
N = 60


def _history(run_dir: Path, side: int = 32) -> RunView:
    """A run of N validation images, every third one wrong, with `side`-pixel thumbnails in its folder."""
    rng = np.random.default_rng(0)
    labels = np.arange(N) % 3
    predictions = np.where(np.arange(N) % 3 == 0, (labels + 1) % 3, labels)
    confidences, losses = rng.random(N).astype(np.float32), (rng.random(N) * 3).astype(np.float32)
    history = RunView(classes=CLASSES, run_dir=run_dir)
    p = Predictions(labels, predictions, confidences, losses, CLASSES)
    confusion = confusion_from_predictions(labels, predictions, len(CLASSES))
    history.add_epoch(EpochFinished(1, 1, {"epoch": 1, "val_acc": 0.67}, confusion, p, True))
    # 4×4 blocks of colour: each image its own, and quick to encode as Sixel (noise takes ten times longer)
    blocks = rng.integers(0, 256, (N, 4, 4, 3), dtype=np.uint8)
    np.save(run_dir / "val_images.npy", blocks.repeat(side // 4, axis=1).repeat(side // 4, axis=2))
    return history


async def _gallery(pilot, history: RunView) -> ConfusionSamplesScreen:
    """The 20 cats (all wrong) in the gallery, cursor on the first tile."""
    screen = ConfusionSamplesScreen(history, SampleQuery(true=0, pred=None))
    await pilot.app.push_screen(screen)
    await pilot.pause()
    return screen


async def _back_to_the_gallery(pilot) -> None:
    await pilot.press("escape")
    await pilot.pause()
    assert isinstance(pilot.app.screen, ConfusionSamplesScreen)


def _run(test) -> None:
    asyncio.run(test())


@pytest.mark.parametrize("side", [32, 64, 128])
def test_half_blocks_gallery_and_full_view_at_80x24(tmp_path: Path, monkeypatch, side: int) -> None:
    """Old run folders (32 or 64 px thumbnails) and new ones (128 px) draw the same 32×16-cell tiles;
    `f` opens the image scaled up to the screen, escape comes back."""
    monkeypatch.setenv(IMAGES_ENV, "halfblocks")
    history = _history(tmp_path, side)

    async def test() -> None:
        async with App().run_test(size=SIZE) as pilot:
            screen = await _gallery(pilot, history)
            gallery = screen.query_one(SampleGallery)
            assert gallery.tile_size == (34, 19) and not screen.query(TilePicture)
            assert "▀" in "".join(s.text for s in gallery.render_line(2))  # under the two caption lines
            await pilot.press("right", "f")
            await pilot.pause()
            view = pilot.app.screen
            assert isinstance(view, SampleViewScreen)
            sample = gallery.current_sample
            caption = str(view.query_one("#sample-caption", Static).content)
            assert caption.startswith(f"#{sample} ") and "conf " in caption and "loss " in caption
            picture = view.query_one(Picture)
            lines = view.app.console.render_lines(
                picture.render(), view.app.console.options.update_dimensions(*picture.size)
            )
            drawn_rows = [line for line in lines if any(s.text.strip() for s in line)]
            assert len(drawn_rows) >= 18  # the whole height between caption and footer, not 16 rows of a tile
            assert np.array_equal(picture.image, np.load(tmp_path / "val_images.npy")[sample])
            await _back_to_the_gallery(pilot)

    _run(test)


def test_graphics_gallery_lays_the_images_over_the_tiles_in_view(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("textual_image")
    monkeypatch.setenv(IMAGES_ENV, "graphics")
    history = _history(tmp_path, 128)
    images = np.load(tmp_path / "val_images.npy")

    async def test() -> None:
        async with App().run_test(size=SIZE) as pilot:
            screen = await _gallery(pilot, history)
            gallery = screen.query_one(SampleGallery)
            tile_w, tile_h = gallery.tile_size
            assert gallery.graphics and tile_h <= gallery.size.height  # a whole tile fits at 80×24
            await pilot.pause()
            pictures = [p for p in screen.query(TilePicture) if p.display]
            assert [p.sample for p in pictures] == [int(s) for s in gallery.samples[: gallery.columns]]
            for column, picture in enumerate(pictures):
                assert np.array_equal(picture.image, images[picture.sample])
                assert picture.region.offset == gallery.region.offset + Offset(column * tile_w, 2)  # under its caption
                assert picture.region.height == tile_h - 2 - 1  # below the two caption lines, above the gap
            assert "▀" not in "".join(s.text for s in gallery.render_line(2))  # no half blocks under the picture

            await pilot.press("down")  # the next row of tiles scrolls in: the pictures follow
            await pilot.pause()
            shown = [p.sample for p in screen.query(TilePicture) if p.display]
            assert gallery.current_sample in shown

            await pilot.press("enter")
            await pilot.pause()
            view = pilot.app.screen
            assert isinstance(view, SampleViewScreen)
            from textual_image.widget import SixelImage

            graphic = view.query_one(SixelImage)  # not a tty: graphics forced means Sixel
            assert np.array_equal(np.asarray(graphic.image), images[gallery.current_sample])
            await _back_to_the_gallery(pilot)

    _run(test)


def test_graphics_tiles_grow_with_the_terminal(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("textual_image")
    monkeypatch.setenv(IMAGES_ENV, "graphics")
    history = _history(tmp_path, 64)  # a run folder written before thumbnails grew

    async def sizes(size: tuple[int, int]) -> tuple[int, int]:
        async with App().run_test(size=size) as pilot:
            screen = await _gallery(pilot, history)
            return screen.query_one(SampleGallery).tile_size

    small, large = asyncio.run(sizes(SIZE)), asyncio.run(sizes((200, 60)))
    assert large[0] > small[0] and large[1] > small[1]


def test_half_blocks_scale_an_image_up_to_its_box_keeping_its_aspect() -> None:
    image = np.zeros((16, 32, 3), dtype=np.uint8)
    image[:, 16:] = 255
    big = fit_cells(image, 80, 20)  # 80 cells × 40 half-block pixels: the width limits
    assert big.shape == (40, 80, 3)
    assert (big[:, :40] == 0).all() and (big[:, 40:] == 255).all()
    assert fit_cells(image, 8, 20).shape == (4, 8, 3)

"""The gallery's `g`: where the model looked in the image under the cursor, computed in a worker
while the console keeps answering keys (Pilot at 80×24)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from textual.app import App
from textual.widgets import Static

from tests.console_kit import SIZE, run, wait_for
from tests.helpers import tiny_preset
from tui_trainer.runs import explain as run_explain
from tui_trainer.runs.launch import run_training
from tui_trainer.runs.view import RunView
from tui_trainer.tui.common.confirm_screen import ConfirmScreen
from tui_trainer.tui.common.image_display import IMAGES_ENV
from tui_trainer.tui.confusion.explain_screen import ExplainScreen
from tui_trainer.tui.confusion.gallery import SampleGallery
from tui_trainer.tui.confusion.picture import Picture
from tui_trainer.tui.confusion.samples_screen import ConfusionSamplesScreen
from tui_trainer.tui.confusion.source import SampleQuery

pytest.importorskip("pytorch_grad_cam", reason="the cam extra (grad-cam) is not installed")


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One epoch of the tiny synthetic preset (about a second): best.pt, predictions and thumbnails."""
    tmp = tmp_path_factory.mktemp("explain-console")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TUI_TRAINER_CACHE", str(tmp / "cache"))
        outcome = run_training(tiny_preset("train.epochs=1", "scheduler.t_max=1"), runs_dir=tmp / "runs")
    assert outcome.run_dir is not None
    return Path(outcome.run_dir)


async def press_g_in_gallery(pilot, run_dir: Path) -> ConfusionSamplesScreen:
    """Open the drill-down of the cell of sample 0 (so it lists at least one image), then press `g`."""
    view = RunView.from_predictions(run_dir)
    assert view.predictions is not None
    true, pred = int(view.predictions.labels[0]), int(view.predictions.predictions[0])
    screen = ConfusionSamplesScreen(view, SampleQuery(true, pred))
    await pilot.app.push_screen(screen)
    await pilot.pause()
    await pilot.press("g")
    return screen


def text(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).content)


@pytest.mark.parametrize("images", ["halfblocks", "graphics"])
def test_g_shows_the_image_and_both_maps_with_their_classes(
    trained_run: Path, monkeypatch: pytest.MonkeyPatch, images: str
) -> None:
    """The three panels are `Picture`s: the pixels where the terminal shows them, half blocks elsewhere."""
    if images == "graphics":
        pytest.importorskip("textual_image")
    monkeypatch.setenv(IMAGES_ENV, images)

    async def scenario() -> None:
        app = App()
        async with app.run_test(size=SIZE) as pilot:
            screen = await press_g_in_gallery(pilot, trained_run)
            sample = screen.gallery.current_sample
            await wait_for(pilot, lambda: isinstance(app.screen, ExplainScreen) and app.screen.explanation is not None)
            await pilot.pause()
            view = app.screen
            explanation = view.explanation
            assert explanation.sample == sample
            names = explanation.classes
            assert text(view, "#explain-caption-0") == f"#{sample} as the model sees it"
            assert text(view, "#explain-caption-1").startswith(f"predicted {names[explanation.predicted_class]} ")
            assert text(view, "#explain-caption-2").startswith(f"true {names[explanation.true_class]} ")
            assert text(view, "#explain-status").startswith("stored 16 px copy: the data has no image files\n")
            assert "hirescam of best.pt at layer features" in text(view, "#explain-status")
            shown = (explanation.image, *explanation.overlays)
            for i in range(3):  # each image drawn side by side, within 80 columns
                picture = view.query_one(f"#explain-image-{i}", Picture)
                assert picture.region.height >= 4 and picture.region.right <= SIZE[0]
                assert picture.graphics == (images == "graphics")
                assert np.array_equal(picture.image, shown[i])
                if picture.graphics:  # not a tty: graphics forced means Sixel
                    from textual_image.widget import SixelImage

                    assert np.array_equal(np.asarray(picture.query_one(SixelImage).image), shown[i])
                else:
                    lines = app.console.render_lines(
                        picture.render(), app.console.options.update_dimensions(*picture.size)
                    )
                    assert any("▀" in s.text for line in lines for s in line)
            await pilot.press("escape")
            assert app.screen is screen

    run(scenario())


def test_the_console_answers_keys_while_the_maps_are_computed(
    trained_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, release = threading.Event(), threading.Event()
    real = run_explain.explain_sample

    def slow(*args, **kwargs):
        started.set()
        release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(run_explain, "explain_sample", slow)

    async def scenario() -> None:
        app = App()
        async with app.run_test(size=SIZE) as pilot:
            screen = await press_g_in_gallery(pilot, trained_run)
            await wait_for(pilot, started.is_set)
            assert "Computing" in text(app.screen, "#explain-status")
            await pilot.press("escape", "right")  # back to the gallery and on to the next image, mid-computation
            assert app.screen is screen and not release.is_set()
            assert screen.query_one(SampleGallery).cursor == min(1, len(screen.gallery.samples) - 1)
            release.set()

    run(scenario())


def test_a_run_without_weights_says_so_on_the_screen(trained_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(trained_run, copy)
    (copy / "best.pt").unlink()
    (copy / "last.pt").unlink()

    async def scenario() -> None:
        app = App()
        async with app.run_test(size=SIZE) as pilot:
            await press_g_in_gallery(pilot, copy)
            await wait_for(pilot, lambda: app.screen.query("#explain-status.-error"))
            assert "no best.pt or last.pt" in text(app.screen, "#explain-status")

    run(scenario())


def test_a_run_with_model_code_asks_before_importing_it(trained_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(trained_run, copy)
    preset = copy / "preset.toml"
    preset.write_text(preset.read_text().replace('target = ""', 'target = "somebody.models:net"', 1))

    async def scenario() -> None:
        app = App()
        async with app.run_test(size=SIZE) as pilot:
            screen = await press_g_in_gallery(pilot, copy)
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("n")
            await pilot.pause()
            assert app.screen is screen

    run(scenario())

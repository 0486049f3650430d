"""The confusion screen at 80×24: navigation, drill-down, thumbnails from val_images.npy, run folders, live epochs."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable, Coroutine
from pathlib import Path

import numpy as np
import pytest
from textual.app import App
from textual.signal import Signal
from textual.widgets import OptionList, Static

from tests.console_kit import SIZE
from tui_trainer.engine.events import EpochFinished, Predictions
from tui_trainer.runs.report import class_errors, confusion_from_predictions
from tui_trainer.runs.view import RunView
from tui_trainer.tui.confusion.gallery import SampleGallery
from tui_trainer.tui.confusion.matrix import ConfusionMatrix
from tui_trainer.tui.confusion.samples_screen import ConfusionSamplesScreen
from tui_trainer.tui.confusion.screen import ConfusionScreen

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def add_predictions(history: RunView, predictions: Predictions, changed: Signal | None = None) -> None:
    """One more finished epoch of the console's run, as the engine reports it; `changed` fired as the session does."""
    confusion = confusion_from_predictions(predictions.labels, predictions.predictions, len(CLASSES))
    per_class = (np.diag(confusion) / np.maximum(confusion.sum(axis=1), 1)).tolist()
    val_acc = float(np.trace(confusion) / confusion.sum())
    epoch = len(history.epochs) + 1
    metrics = {"epoch": epoch, "val_acc": val_acc, "per_class_acc": per_class}
    history.add_epoch(EpochFinished(epoch, 5, metrics, confusion, predictions, True))
    if changed is not None:
        changed.publish(history)


def make_predictions(seed: int, n: int = 400, right: float = 0.7) -> Predictions:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(CLASSES), n)
    predictions = np.where(rng.random(n) < right, labels, rng.integers(0, len(CLASSES), n))
    confidences = rng.random(n).astype(np.float32)
    losses = (rng.random(n) * 3).astype(np.float32)
    return Predictions(labels.astype(np.int64), predictions.astype(np.int64), confidences, losses, CLASSES)


def make_images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


def synchronous(test: Callable[..., Coroutine]) -> Callable[..., None]:
    """Run an async Pilot test with asyncio.run (no pytest async plugin is installed); fixtures still resolve."""

    @functools.wraps(test)
    def wrapper(*args, **kwargs) -> None:
        asyncio.run(test(*args, **kwargs))

    return wrapper


class Host(App):
    """An empty app: tests push the screen under test on top of its default screen."""

    def __init__(self) -> None:
        super().__init__()
        self.changed: Signal = Signal(self, "run-changed")  # as the run session's


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).content)


async def open_screen(pilot, screen: ConfusionScreen) -> ConfusionScreen:
    await pilot.app.push_screen(screen)
    await pilot.pause()
    return screen


@pytest.fixture
def history(tmp_path: Path) -> RunView:
    history = RunView(classes=CLASSES, run_dir=tmp_path)
    add_predictions(history, make_predictions(0))
    np.save(tmp_path / "val_images.npy", make_images(400))
    return history


@synchronous
async def test_arrow_keys_move_the_cursor_enter_lists_the_cell_and_escape_returns(history: RunView) -> None:
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot, ConfusionScreen(history, changed=app.changed))
        matrix = screen.query_one(ConfusionMatrix)
        assert matrix.has_focus and matrix.cursor == (0, 0)
        await pilot.press("right", "right", "down")
        assert matrix.cursor == (1, 2)
        assert "automobile → bird" in text_of(screen, "#confusion-cursor")

        await pilot.press("enter")
        await pilot.pause()
        samples = app.screen
        assert isinstance(samples, ConfusionSamplesScreen)
        gallery = samples.query_one(SampleGallery)
        p = history.predictions
        expected = np.flatnonzero((p.labels == 1) & (p.predictions == 2))
        assert len(gallery.samples) == history.confusion[1, 2] == len(expected)
        assert set(gallery.samples.tolist()) == set(expected.tolist())
        confidences = p.confidences[gallery.samples]
        assert (np.diff(confidences) <= 0).all()  # most confident first
        assert f"{len(expected)} images" in text_of(samples, "#samples-title")

        await pilot.press("s")  # sort by loss
        assert (np.diff(p.losses[gallery.samples]) <= 0).all()
        assert "sorted by loss" in text_of(samples, "#samples-title")

        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen and matrix.cursor == (1, 2)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ConfusionScreen)


@synchronous
async def test_matrix_counts_and_accuracy_match_the_validation_set(history: RunView) -> None:
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot, ConfusionScreen(history, changed=app.changed))
        matrix = screen.query_one(ConfusionMatrix)
        assert matrix.confusion.sum() == len(history.predictions.labels)
        val_acc = history.epochs[-1]["val_acc"]
        assert matrix.report.accuracy == pytest.approx(val_acc)
        assert f"val accuracy {val_acc * 100:.2f}%" in text_of(screen, "#confusion-summary")
        # ten classes fit an 80-column terminal without scrolling sideways
        assert matrix.virtual_size.width <= matrix.scrollable_content_region.width
        # the most confused pair is listed first
        pairs = screen.query_one("#confusion-pairs", OptionList)
        off = history.confusion.copy()
        np.fill_diagonal(off, 0)
        true, pred = np.unravel_index(np.argmax(off), off.shape)
        assert pairs.get_option_at_index(0).id == f"{true},{pred}"
        # counts ↔ percentages
        row_text = "".join(segment.text for segment in matrix.render_line(1))
        assert str(int(history.confusion[0, 0])) in row_text
        await pilot.press("p")
        assert matrix.show_percent
        share = round(history.confusion[0, 0] / history.confusion[0].sum() * 100)
        assert str(share) in "".join(segment.text for segment in matrix.render_line(1))
        assert "% row" in "".join(segment.text for segment in matrix.render_line(0))


@synchronous
async def test_headers_open_all_errors_of_a_class(history: RunView) -> None:
    p = history.predictions
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot, ConfusionScreen(history, changed=app.changed))
        matrix = screen.query_one(ConfusionMatrix)
        await pilot.press("down", "left")  # row header of class 1
        assert matrix.cursor == (1, -1)
        await pilot.press("enter")
        await pilot.pause()
        gallery = app.screen.query_one(SampleGallery)
        expected = class_errors(p.labels, p.predictions, p.confidences, p.losses, true=1)
        assert gallery.samples.tolist() == expected.tolist()
        assert all(p.labels[i] == 1 and p.predictions[i] != 1 for i in gallery.samples)
        await pilot.press("escape")
        await pilot.pause()

        await pilot.press("right", "right", "right", "up", "up")  # column header of class 2
        assert matrix.cursor == (-1, 2)
        await pilot.press("enter")
        await pilot.pause()
        gallery = app.screen.query_one(SampleGallery)
        assert all(p.predictions[i] == 2 and p.labels[i] != 2 for i in gallery.samples)
        assert len(gallery.samples) == history.confusion[:, 2].sum() - history.confusion[2, 2]


@synchronous
async def test_thumbnail_is_the_validation_image_from_the_run_folder(history: RunView, tmp_path: Path) -> None:
    images = np.load(tmp_path / "val_images.npy")
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, ConfusionScreen(history, changed=app.changed))
        await pilot.press("right", "enter")
        await pilot.pause()
        gallery = app.screen.query_one(SampleGallery)
        first = int(gallery.samples[0])
        assert gallery.tile_size == (34, 19)  # 32×16 image + 2 caption lines, gaps
        assert gallery.columns == 2  # two tiles side by side at 80 columns
        caption = "".join(segment.text for segment in gallery.render_line(0))  # the caption first
        assert caption.startswith(f"#{first} airplane→automobile")
        line = gallery.render_line(2)  # top cells of the first tile(s), under its two caption lines
        cells = [(segment.text, segment.style) for segment in line for _ in segment.text]
        for column in (0, 13, 31):
            char, style = cells[column]
            assert char == "▀"
            assert tuple(style.color.triplet) == tuple(images[first, 0, column].tolist())
            assert tuple(style.bgcolor.triplet) == tuple(images[first, 1, column].tolist())
        assert app.screen.query_one("#samples-problem").has_class("-hidden")


@synchronous
async def test_drill_down_says_why_there_are_no_thumbnails(history: RunView, tmp_path: Path) -> None:
    np.save(tmp_path / "val_images.npy", make_images(10))  # not the validation set of these predictions
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, ConfusionScreen(history, changed=app.changed))
        await pilot.press("enter")
        await pilot.pause()
        assert "holds 10 images" in text_of(app.screen, "#samples-problem")
        assert app.screen.query_one(SampleGallery).images is None


@synchronous
async def test_screen_follows_a_new_epoch(history: RunView) -> None:
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot, ConfusionScreen(history, changed=app.changed))
        matrix = screen.query_one(ConfusionMatrix)
        assert "epoch 1" in text_of(screen, "#confusion-summary")
        add_predictions(history, make_predictions(1, right=0.95), app.changed)
        await pilot.pause()
        np.testing.assert_array_equal(matrix.confusion, history.confusion)
        summary = text_of(screen, "#confusion-summary")
        assert "epoch 2" in summary
        assert f"val accuracy {history.epochs[-1]['val_acc'] * 100:.2f}%" in summary


@synchronous
async def test_empty_history_waits_for_the_first_epoch(tmp_path: Path) -> None:
    history = RunView(classes=CLASSES, run_dir=tmp_path)
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot, ConfusionScreen(history, changed=app.changed))
        assert "No finished epoch yet" in text_of(screen, "#confusion-summary")
        await pilot.press("enter", "p", "down")  # nothing to do, nothing breaks
        add_predictions(history, make_predictions(2), app.changed)
        await pilot.pause()
        matrix = screen.query_one(ConfusionMatrix)
        assert matrix.confusion.sum() == 400
        assert matrix.has_focus


def write_run_folder(run_dir: Path, predictions: Predictions, best_epoch: int) -> dict:
    """The files tui_trainer.runs writes, by hand: two metrics lines and a torn third one."""
    confusion = confusion_from_predictions(predictions.labels, predictions.predictions, len(CLASSES))
    val_acc = float(np.trace(confusion) / confusion.sum())
    per_class = (np.diag(confusion) / confusion.sum(axis=1)).tolist()
    for which in ("last", "best"):
        np.savez(
            run_dir / f"predictions-{which}.npz",
            labels=predictions.labels,
            predictions=predictions.predictions,
            confidences=predictions.confidences,
            losses=predictions.losses,
            confusion=confusion,
            classes=np.array(CLASSES, dtype=str),
            epoch=np.array(best_epoch if which == "best" else 2),
        )
    records = [
        {"epoch": 1, "val_acc": 0.3, "per_class_acc": [0.3] * len(CLASSES)},
        {"epoch": 2, "val_acc": val_acc, "per_class_acc": per_class},
    ]
    text = "".join(json.dumps(r) + "\n" for r in records) + '{"epoch": 3, "val_a'
    (run_dir / "metrics.jsonl").write_text(text, encoding="utf-8")
    np.save(run_dir / "val_images.npy", make_images(len(predictions.labels), seed=5))
    return records[-1]


@synchronous
async def test_open_from_a_run_folder(tmp_path: Path) -> None:
    predictions = make_predictions(3, n=300)
    record = write_run_folder(tmp_path, predictions, best_epoch=2)
    screen = ConfusionScreen.from_run_dir(tmp_path, which="best")
    assert len(screen.history.epochs) == 2  # the torn last line is ignored
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, screen)
        matrix = screen.query_one(ConfusionMatrix)
        assert matrix.confusion.sum() == 300
        assert matrix.report.accuracy == pytest.approx(record["val_acc"])
        assert "epoch 2 (best)" in text_of(screen, "#confusion-summary")
        await pilot.press("down", "right", "right", "enter")
        await pilot.pause()
        gallery = app.screen.query_one(SampleGallery)
        expected = np.flatnonzero((predictions.labels == 1) & (predictions.predictions == 2))
        assert sorted(gallery.samples.tolist()) == expected.tolist()
        assert gallery.images is not None and gallery.images.shape == (300, 32, 32, 3)


def test_run_folder_without_predictions_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no finished epoch"):
        ConfusionScreen.from_run_dir(tmp_path)
    with pytest.raises(ValueError):
        ConfusionScreen.from_run_dir(tmp_path, which="first")  # type: ignore[arg-type]


@synchronous
async def test_follows_the_console_run_history(tmp_path: Path) -> None:
    """The console's RunView, folded from the engine's events, drives the screen."""
    history = RunView(classes=CLASSES, run_dir=tmp_path)
    predictions = make_predictions(4)
    confusion = confusion_from_predictions(predictions.labels, predictions.predictions, len(CLASSES))
    event = EpochFinished(1, 5, {"val_acc": float(np.trace(confusion) / 400)}, confusion, predictions, True)
    history.add_epoch(event)
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot, ConfusionScreen(history, changed=app.changed))
        assert screen.query_one(ConfusionMatrix).confusion.sum() == 400
        history.add_epoch(EpochFinished(2, 5, {"val_acc": 0.5}, confusion, predictions, False))
        app.changed.publish(history)
        await pilot.pause()
        assert "epoch 2" in text_of(screen, "#confusion-summary")
        assert "vs ep 1" in str(screen.query_one("#confusion-legend", Static).content)  # two epochs: vs the first


@synchronous
async def test_console_history_of_a_finished_run_falls_back_to_its_predictions_file(tmp_path: Path) -> None:
    """`tui-trainer RUN_DIR` builds its history from metrics only; the screen reads predictions-last.npz."""
    predictions = make_predictions(6, n=200)
    write_run_folder(tmp_path, predictions, best_epoch=1)
    history = RunView.from_run_dir(tmp_path)
    assert history.predictions is None
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot, ConfusionScreen(history, changed=app.changed))
        assert screen.query_one(ConfusionMatrix).confusion.sum() == 200
        assert "epoch 2 (last)" in text_of(screen, "#confusion-summary")
        await pilot.press("enter")
        await pilot.pause()
        gallery = app.screen.query_one(SampleGallery)
        assert len(gallery.samples) == int(np.sum((predictions.labels == 0) & (predictions.predictions == 0)))


@synchronous
async def test_clicking_a_cell_moves_the_cursor_and_a_second_click_opens_it(history: RunView) -> None:
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot, ConfusionScreen(history, changed=app.changed))
        matrix = screen.query_one(ConfusionMatrix)
        layout = matrix._layout
        # widget offset = padding (1) + row header + column 3, line 1 + row 2
        offset = (1 + layout.row_header + 3 * layout.cell + 1, 1 + 2)
        await pilot.click(ConfusionMatrix, offset=offset)
        assert matrix.cursor == (2, 3)
        await pilot.click(ConfusionMatrix, offset=offset)
        await pilot.pause()
        assert isinstance(app.screen, ConfusionSamplesScreen)
        assert len(app.screen.query_one(SampleGallery).samples) == history.confusion[2, 3]


@synchronous
async def test_drill_down_follows_a_new_epoch(history: RunView) -> None:
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, ConfusionScreen(history, changed=app.changed))
        await pilot.press("right", "enter")
        await pilot.pause()
        gallery = app.screen.query_one(SampleGallery)
        add_predictions(history, make_predictions(9), app.changed)
        await pilot.pause()
        assert "epoch 2" in text_of(app.screen, "#samples-title")
        assert len(gallery.samples) == history.confusion[0, 1]


@synchronous
async def test_a_wide_terminal_shows_whole_class_names_and_80_columns_the_compact_matrix(
    history: RunView,
) -> None:
    app = Host()
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_screen(pilot, ConfusionScreen(history, changed=app.changed))
        matrix = screen.query_one(ConfusionMatrix)
        assert "automobile" in matrix._row_labels and "airplane" in matrix._column_labels
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot, ConfusionScreen(history, changed=app.changed))
        matrix = screen.query_one(ConfusionMatrix)
        assert matrix._layout.width <= SIZE[0] - 2  # every column and the stats on screen
        assert text_of(screen, "#confusion-summary").startswith("Confusion")


@synchronous
async def test_tab_moves_from_the_matrix_to_the_pairs_where_arrows_work(history: RunView) -> None:
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_screen(pilot, ConfusionScreen(history, changed=app.changed))
        assert app.focused is screen.query_one(ConfusionMatrix)
        await pilot.press("tab")
        pairs = screen.query_one("#confusion-pairs", OptionList)
        assert app.focused is pairs
        before = pairs.highlighted
        await pilot.press("down")
        assert pairs.highlighted != before
        await pilot.press("pagedown")  # the legend and chart below the fold, whatever has focus
        await pilot.pause()
        assert screen.query_one("#confusion-body").scroll_y > 0

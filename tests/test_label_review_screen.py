"""The review list at 80×24: `l` on the confusion matrix lists the likely label errors, keys decide, the
file on disk holds each decision, and the next listing of the data honours it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from textual.app import App
from textual.widgets import DataTable, Static

from tests.console_kit import NARROW, SIZE, run, screen_text
from tui_trainer.config.schema import DataConfig
from tui_trainer.data.listers import list_files
from tui_trainer.data.review_file import read_review
from tui_trainer.engine.events import EpochFinished, Predictions
from tui_trainer.runs import review_session
from tui_trainer.runs.report import confusion_from_predictions
from tui_trainer.runs.review_session import ReviewSession
from tui_trainer.runs.thumbnails import thumbnails_file
from tui_trainer.runs.view import RunView
from tui_trainer.tui.common.image_display import IMAGES_ENV
from tui_trainer.tui.confusion.explain_screen import ExplainScreen
from tui_trainer.tui.confusion.picture import Picture
from tui_trainer.tui.confusion.review_screen import ClassChooser, LabelReviewScreen
from tui_trainer.tui.confusion.sample_view import SampleViewScreen
from tui_trainer.tui.confusion.screen import ConfusionScreen

CLASSES = ("cat", "dog", "fox")
PER_CLASS = 8
WRONG = {3: 1, 12: 2}  # validation sample -> the class the model is sure of (its label is another)


def make_data(root: Path) -> DataConfig:
    for c, name in enumerate(CLASSES):
        for split in ("train", "val"):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(PER_CLASS):
                Image.new("RGB", (8, 8), (80 * c, 10 * i, 30)).save(folder / f"{i}.png")
    return DataConfig(dataset="imagefolder", root=str(root), image_size=8)


def history_of(cfg: DataConfig, run_dir: Path) -> RunView:
    """A run's last epoch over the validation files: right and sure, except the samples of WRONG."""
    listing = list_files(cfg)
    assert listing is not None
    val = listing.splits["val"]
    labels = np.array(val.labels, dtype=np.int64)
    probabilities = np.full((len(labels), len(CLASSES)), 0.05, dtype=np.float32)
    probabilities[np.arange(len(labels)), labels] = 0.9
    for sample, sure in WRONG.items():
        probabilities[sample] = 0.05
        probabilities[sample, sure] = 0.9
    predicted = probabilities.argmax(axis=1)
    predictions = Predictions(
        labels, predicted, probabilities.max(axis=1), np.ones(len(labels), np.float32), CLASSES, probabilities
    )
    history = RunView(classes=CLASSES, run_dir=run_dir, paths=tuple(str(p) for p in val.paths))
    confusion = confusion_from_predictions(labels, predicted, len(CLASSES))
    history.add_epoch(EpochFinished(1, 1, {"epoch": 1, "val_acc": 0.9}, confusion, predictions, True))
    return history


class Host(App):
    def __init__(self, history: RunView, session: ReviewSession) -> None:
        super().__init__()
        self.history, self.session = history, session

    def on_mount(self) -> None:
        self.push_screen(ConfusionScreen(self.history))


def test_keys_relabel_exclude_and_keep_candidates_and_the_next_listing_honours_them(tmp_path: Path) -> None:
    cfg = make_data(tmp_path / "data")
    history = history_of(cfg, tmp_path / "run")
    session = ReviewSession.for_data(cfg, tmp_path / "run" / "review.toml")
    file = tmp_path / "data" / "review.toml"
    assert session.file == file  # beside the data

    async def scenario() -> None:
        app = Host(history, session)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, ConfusionScreen)
            screen.app.push_screen(LabelReviewScreen(screen.source, session))  # `l` with the session to test
            await pilot.pause()
            review = app.screen
            assert isinstance(review, LabelReviewScreen)
            table = review.query_one(DataTable)
            assert table.row_count == 2 and review.issues is not None
            assert review.issues.indices.tolist() == sorted(WRONG)
            assert "cat → dog" in str(table.get_row_at(0)[2])  # sample 3 is a cat the model calls a dog

            await pilot.press("r")  # relabel as the suspected class, then on to the next
            assert read_review(file)["val/cat/3.png"].label == "dog"
            assert table.cursor_row == 1
            await pilot.press("c")
            assert isinstance(app.screen, ClassChooser)
            await pilot.press("up", "enter")  # suspected fox is offered; one up is dog
            await pilot.pause()
            assert read_review(file)["val/dog/4.png"].label == "dog"
            counts = str(review.query_one("#review-counts", Static).content)
            assert "2 relabelled" in counts and "0 excluded" in counts

            await pilot.press("x")  # the last row: no next, stays
            assert read_review(file)["val/dog/4.png"].decision == "exclude"
            await pilot.press("up", "f", "up")
            assert read_review(file)["val/cat/3.png"].decision == "fine"
            await pilot.press("u")
            assert "val/cat/3.png" not in read_review(file)
            await pilot.press("r")
            assert "1 relabelled · 1 excluded · 0 fine" in str(review.query_one("#review-counts", Static).content)

    run(scenario())
    listing = list_files(DataConfig(**{**cfg.model_dump(), "review": str(file)}))
    assert listing is not None
    val = listing.splits["val"]
    assert len(val.paths) == len(CLASSES) * PER_CLASS - 1  # dog/4.png left out
    relabelled = val.paths.index(tmp_path / "data" / "val" / "cat" / "3.png")
    assert val.labels[relabelled] == 1
    assert listing.notes[0] == "review.toml: 1 relabelled, 1 excluded"


@pytest.mark.parametrize("images", ["halfblocks", "graphics"])
def test_the_list_shows_the_selected_image_and_enter_opens_it_full_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, images: str
) -> None:
    if images == "graphics":
        pytest.importorskip("textual_image")
    monkeypatch.setenv(IMAGES_ENV, images)
    cfg = make_data(tmp_path / "data")
    history = history_of(cfg, tmp_path / "run")
    (tmp_path / "run").mkdir()
    thumbnails = np.random.default_rng(0).integers(0, 256, (len(CLASSES) * PER_CLASS, 16, 16, 3), dtype=np.uint8)
    np.save(thumbnails_file(tmp_path / "run"), thumbnails)

    async def scenario() -> None:
        app = Host(history, ReviewSession(None, None, problem="x"))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("l")
            await pilot.pause()
            review = app.screen
            assert isinstance(review, LabelReviewScreen)
            picture = review.query_one("#review-picture", Picture)
            assert np.array_equal(picture.image, thumbnails[3]) and picture.graphics == (images == "graphics")
            assert picture.region.width >= 20 and picture.region.height >= 8  # beside the list, at 80×24
            table = review.query_one(DataTable)
            assert not picture.region.overlaps(table.region) and picture.region.right <= SIZE[0]
            caption = str(review.query_one("#review-caption", Static).content)
            assert caption.startswith("#3 labelled cat, likely dog\np 0.90 · conf 0.900 loss 1.000")

            await pilot.press("down")  # the next candidate's image follows the cursor
            assert np.array_equal(picture.image, thumbnails[12])
            await pilot.press("enter")
            await pilot.pause()
            view = app.screen
            assert isinstance(view, SampleViewScreen)
            assert np.array_equal(view.query_one(Picture).image, thumbnails[12])
            caption = str(view.query_one("#sample-caption", Static).content)
            assert caption.startswith("#12 labelled dog, likely fox") and caption.endswith("val/dog/4.png")
            await pilot.press("escape")
            assert app.screen is review and table.cursor_row == 1
            await pilot.press("g")  # where it looked, in the same image
            await pilot.pause()
            assert isinstance(app.screen, ExplainScreen) and app.screen.sample == 12

    run(scenario())


def test_l_opens_the_review_list_and_old_predictions_say_why_there_is_none(tmp_path: Path) -> None:
    cfg = make_data(tmp_path / "data")
    history = history_of(cfg, tmp_path / "run")
    old = history.predictions
    assert old is not None
    history.predictions = Predictions(old.labels, old.predictions, old.confidences, old.losses, old.classes)

    async def scenario() -> None:
        app = Host(history, ReviewSession(None, None, problem="x"))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("l")
            await pilot.pause()
            assert isinstance(app.screen, LabelReviewScreen)
            assert "predate probabilities" in str(app.screen.query_one("#review-title", Static).content)
            await pilot.press("r", "escape")
            assert isinstance(app.screen, ConfusionScreen)

    run(scenario())


def test_a_data_folder_that_cannot_be_written_sends_decisions_to_the_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = make_data(tmp_path / "data")
    monkeypatch.setattr(review_session, "folder_writable", lambda folder: False)
    session = ReviewSession.for_data(cfg, tmp_path / "run" / "review.toml")
    assert session.file == tmp_path / "run" / "review.toml"
    assert "is not writable" in session.note and 'set data.review = "' in session.note
    (tmp_path / "run").mkdir()
    session.decide(str(tmp_path / "data" / "val" / "fox" / "1.png"), "exclude", given="fox")
    assert read_review(session.file)["val/fox/1.png"].decision == "exclude"
    with pytest.raises(OSError, match="not inside the data folder"):
        session.decide(str(tmp_path / "elsewhere.png"), "fine")


def test_an_unreadable_review_file_is_never_overwritten(tmp_path: Path) -> None:
    cfg = make_data(tmp_path / "data")
    file = tmp_path / "data" / "review.toml"
    file.write_text("not = [toml", encoding="utf-8")
    session = ReviewSession.for_data(cfg, tmp_path / "run" / "review.toml")
    assert session.file is None and "is not a TOML file" in session.problem
    with pytest.raises(OSError):
        session.decide(str(tmp_path / "data" / "val" / "fox" / "1.png"), "exclude")
    assert file.read_text(encoding="utf-8") == "not = [toml"


def test_a_run_folder_without_a_readable_preset_lists_but_cannot_save(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    session = ReviewSession.for_run(tmp_path / "run")
    assert session.file is None and "cannot read the run's preset" in session.problem


def test_the_list_names_images_and_the_review_file_relative_to_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "x").mkdir()
    monkeypatch.chdir(tmp_path)
    cfg = make_data(tmp_path / "x" / ".." / "data")  # as `--set data.root=x/../data` names it
    history = history_of(cfg, tmp_path / "run")
    session = ReviewSession.for_data(cfg, tmp_path / "run" / "review.toml")

    async def scenario() -> None:
        app = Host(history, session)
        async with app.run_test(size=NARROW) as pilot:
            await pilot.pause()
            app.push_screen(LabelReviewScreen(history, session))  # `l` with the session to test
            await pilot.pause()
            review = app.screen
            assert isinstance(review, LabelReviewScreen)
            assert str(review.query_one("#review-path", Static).content) == "data/val/cat/3.png"
            assert str(review.query_one("#review-counts", Static).content).endswith("file: data/review.toml")
            assert "data/val/cat/3.png" in screen_text(app)  # whole at 60 columns

    run(scenario())


@pytest.mark.parametrize("size", [SIZE, NARROW])
def test_images_without_files_say_so_under_the_heading_and_offer_no_decision_keys(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    cfg = make_data(tmp_path / "data")
    history = history_of(cfg, tmp_path / "run")
    history.paths = None  # synthetic data (the built-in smoke): samples with no image file
    session = ReviewSession.for_data(DataConfig(dataset="synthetic"), tmp_path / "run" / "review.toml")

    async def scenario() -> None:
        app = Host(history, session)
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            app.push_screen(LabelReviewScreen(history, session))
            await pilot.pause()
            review = app.screen
            assert isinstance(review, LabelReviewScreen) and review.query_one(DataTable).row_count == 2
            shown = screen_text(app)
            assert "no image files" in shown and "cannot be saved" in shown
            footer = shown.splitlines()[-1]
            assert "Back" in footer
            assert not any(word in footer for word in ("Relabel", "As…", "Exclude", "Fine"))
            await pilot.press("r", "c", "x", "f", "u")
            assert app.screen is review and not app._notifications  # no toast to read, no chooser
            assert "u undo" not in str(review.query_one("#review-caption", Static).content)

    run(scenario())

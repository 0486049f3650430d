"""The review list over a run still training (Pilot, 80x24): the title names the epoch it ranks; when a newer
epoch's predictions file replaces it, the list stays put and offers it (`n`), which ranks it with the cursor
on the same image and every decision kept."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image
from textual.widgets import DataTable, Static

from tests.console_kit import SIZE, run, wait_for
from tests.helpers import tiny_preset
from tui_trainer.config import resolved_toml
from tui_trainer.data.review_file import read_review
from tui_trainer.runs.folder import RunFolder
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.confusion.review_screen import LabelReviewScreen

CLASSES = ("cat", "dog", "fox")
PER_CLASS = 4


def running_run(tmp_path: Path) -> tuple[RunFolder, np.ndarray]:
    """A run folder of an image folder, going (this process's pid), with no epoch yet; returns it and the labels."""
    root = tmp_path / "data"
    paths, labels = [], []
    for c, name in enumerate(CLASSES):
        for i in range(PER_CLASS):
            path = root / "val" / name / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (8, 8), (80 * c, 10 * i, 30)).save(path)
            paths.append(str(path))
            labels.append(c)
    folder = RunFolder(tmp_path / "runs" / "going")
    folder.path.mkdir(parents=True)
    folder.write_preset(resolved_toml(tiny_preset("data.dataset=imagefolder", f"data.root={root}")))
    folder.write_val_paths(paths)
    status = {"format": 1, "state": "running", "pid": os.getpid(), "host": os.uname().nodename}
    status.update(preset_name="going", epochs_planned=9, classes=list(CLASSES), device="cpu", precision="fp32")
    folder.status_file.write_text(json.dumps(status))
    return folder, np.array(labels)


def finish_epoch(folder: RunFolder, epoch: int, labels: np.ndarray, wrong: dict[int, tuple[int, float]]) -> None:
    """Epoch `epoch` as the run writes it: its predictions file replaced, then its metrics line. `wrong`: sample ->
    (the class the model is sure of, how sure)."""
    probabilities = np.full((len(labels), len(CLASSES)), 0.05, dtype=np.float32)
    probabilities[np.arange(len(labels)), labels] = 0.9
    for sample, (sure, p) in wrong.items():
        probabilities[sample] = (1 - p) / 2
        probabilities[sample, sure] = p
    predicted = probabilities.argmax(axis=1)
    confusion = np.zeros((len(CLASSES), len(CLASSES)), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    arrays = {
        "labels": labels,
        "predictions": predicted,
        "confidences": probabilities.max(axis=1),
        "losses": -np.log(probabilities[np.arange(len(labels)), labels]),
        "confusion": confusion,
        "probabilities": probabilities.astype(np.float16),
    }
    folder.write_predictions("last", epoch, arrays, CLASSES)
    with folder.metrics_file.open("a") as metrics:
        metrics.write(json.dumps({"epoch": epoch, "val_acc": float(np.trace(confusion) / len(labels))}) + "\n")


async def open_review(app: TrainerApp, pilot, folder: RunFolder) -> None:
    """The console opens the run, its confusion screen, then `l`: the review list."""
    app.open_run(folder.path)
    await wait_for(pilot, lambda: app.history is not None and app.history.predictions is not None)
    app.action_open_confusion()
    await pilot.pause()
    await pilot.press("l")  # the list opens once a worker has read the review file: wait for it to be drawn
    await wait_for(pilot, lambda: _list_drawn(app))


def _list_drawn(app: TrainerApp) -> bool:
    """The review list is up and ranked: its mount has written the title."""
    titles = app.screen.query("#review-title") if isinstance(app.screen, LabelReviewScreen) else None
    return bool(titles) and bool(str(titles.first(Static).content))


def test_a_newer_epoch_is_offered_and_ranked_on_n_keeping_the_place_and_the_decisions(tmp_path: Path) -> None:
    folder, labels = running_run(tmp_path)
    finish_epoch(folder, 1, labels, {1: (1, 0.9), 5: (2, 0.8)})  # cat/1 looks like a dog, dog/1 like a fox
    review_file = tmp_path / "data" / "review.toml"

    async def scenario() -> None:
        app = TrainerApp(None, [], tmp_path / "runs")
        async with app.run_test(size=SIZE) as pilot:
            await open_review(app, pilot, folder)
            review = app.screen
            assert isinstance(review, LabelReviewScreen)
            table = review.query_one(DataTable)
            title = review.query_one("#review-title", Static)
            assert "2 candidates of 12 val images · epoch 1" in str(title.content)
            await pilot.press("x")  # cat/1 excluded, written at once; the cursor moves on to dog/1
            assert read_review(review_file)["val/cat/1.png"].decision == "exclude"
            assert review.issues is not None and int(review.issues.indices[table.cursor_row]) == 5

            # Epoch 2: fox/2 joins as the least likely label of all, above dog/1, whose suspected class changes.
            finish_epoch(folder, 2, labels, {1: (1, 0.9), 5: (0, 0.6), 10: (0, 0.99)})
            await wait_for(pilot, lambda: "epoch 2 has finished: n ranks it" in str(title.content))
            assert review.issues.indices.tolist() == [1, 5] and table.row_count == 2  # nothing moved under the cursor
            assert "dog → fox" in str(table.get_row_at(1)[2])
            caption = str(review.query_one("#review-caption", Static).content)
            assert caption.startswith("#5 labelled dog, likely fox\np 0.80")  # the ranked epoch's figures

            await pilot.press("n")
            assert "3 candidates of 12 val images · epoch 2" in str(title.content)
            assert "has finished" not in str(title.content)
            assert review.issues.indices.tolist() == [10, 1, 5]
            assert int(review.issues.indices[table.cursor_row]) == 5  # still on dog/1, now third
            assert "dog → cat" in str(table.get_row_at(2)[2])
            assert "exclude" in str(table.get_row_at(1)[4])  # cat/1's decision shows on its new row
            assert read_review(review_file)["val/cat/1.png"].decision == "exclude"
            assert "1 excluded" in str(review.query_one("#review-counts", Static).content)

    run(scenario())


def test_the_review_list_reads_its_data_listing_off_the_consoles_thread(tmp_path: Path, monkeypatch) -> None:
    """A shard set's listing reads every tar header: `l` does it in a worker, and the console keeps drawing."""
    import threading

    from tui_trainer.runs.review_session import ReviewSession

    folder, labels = running_run(tmp_path)
    finish_epoch(folder, 1, labels, {1: (1, 0.9)})
    listed_on: list[threading.Thread] = []
    prepare = ReviewSession.prepare

    def recording_prepare(session: ReviewSession) -> ReviewSession:
        listed_on.append(threading.current_thread())
        return prepare(session)

    monkeypatch.setattr(ReviewSession, "prepare", recording_prepare)

    async def scenario() -> None:
        app = TrainerApp(None, [], tmp_path / "runs")
        async with app.run_test(size=SIZE) as pilot:
            await open_review(app, pilot, folder)
            assert listed_on and listed_on[0] is not threading.main_thread()

    run(scenario())

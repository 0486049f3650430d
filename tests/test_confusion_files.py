"""The confusion gallery names each image's file, and `e` exports the misclassified images as a CSV."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from textual.widgets import Static

from tests.helpers import tiny_preset
from tui_trainer.runs.folder import RunFolder
from tui_trainer.runs.launch import run_training
from tui_trainer.runs.view import RunView
from tui_trainer.tui.confusion.gallery import SampleGallery
from tui_trainer.tui.confusion.samples_screen import ConfusionSamplesScreen
from tui_trainer.tui.confusion.screen import ConfusionScreen
from tui_trainer.tui.confusion.source import SampleQuery, sample_paths

from .test_confusion_screen import CLASSES, SIZE, Host, make_predictions, open_screen, synchronous, write_run_folder


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUI_TRAINER_CACHE", str(tmp_path / "cache"))


def make_image_folder(root: Path) -> Path:
    for c, cls in enumerate(("cat", "dog")):
        for split, count in (("train", 8), ("val", 3)):
            for i in range(count):
                path = root / split / cls / f"{split}{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (16, 16), (40 + 150 * c, 20 * i, 90)).save(path)
    return root


@pytest.mark.slow
def test_an_image_folder_run_records_each_validation_images_file(tmp_path: Path) -> None:
    root = make_image_folder(tmp_path / "ds")
    preset = tiny_preset("data.dataset=imagefolder", f"data.root={root}", "train.epochs=1", "scheduler.t_max=1")
    outcome = run_training(preset, runs_dir=tmp_path / "runs")
    assert outcome.state == "finished"
    paths = RunFolder(outcome.run_dir).read_val_paths()
    predictions = RunFolder(outcome.run_dir).read_predictions("last")
    assert paths is not None and len(paths) == len(predictions["labels"]) == 6
    # Each file sits in the folder of the class the predictions file says it is.
    assert [Path(p).parent.name for p in paths] == [predictions["classes"][i] for i in predictions["labels"]]
    assert sorted(paths) == sorted(str(p) for p in (root / "val").rglob("*.png"))


def test_a_synthetic_run_has_no_file_names(tmp_path: Path) -> None:
    outcome = run_training(tiny_preset("train.epochs=1", "scheduler.t_max=1"), runs_dir=tmp_path / "runs")
    assert RunFolder(outcome.run_dir).read_val_paths() is None


def fake_paths(n: int) -> list[str]:
    return [f"/data/pets/val/{CLASSES[i % len(CLASSES)]}/image_{i:05d}.jpg" for i in range(n)]


@synchronous
async def test_gallery_shows_each_images_file_and_the_full_path_of_the_cursor(tmp_path: Path) -> None:
    predictions = make_predictions(3, n=300)
    write_run_folder(tmp_path, predictions, best_epoch=2)
    paths = fake_paths(300)
    RunFolder(tmp_path).write_val_paths(paths)
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        screen = ConfusionSamplesScreen(RunView.from_predictions(tmp_path), SampleQuery(true=1, pred=None))
        await app.push_screen(screen)
        await pilot.pause()
        gallery = screen.query_one(SampleGallery)
        first = int(gallery.samples[0])
        caption = gallery.caption(0)
        assert caption[2].endswith(f"image_{first:05d}.jpg") and len(caption[2]) <= gallery.tile_size[0] - 2
        assert str(screen.query_one("#samples-path", Static).content) == paths[first]
        await pilot.press("right")
        await pilot.pause()
        assert str(screen.query_one("#samples-path", Static).content) == paths[int(gallery.samples[1])]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@synchronous
async def test_e_exports_every_misclassified_image_as_csv_into_the_run_folder(tmp_path: Path) -> None:
    predictions = make_predictions(4, n=300)
    write_run_folder(tmp_path, predictions, best_epoch=2)
    paths = fake_paths(300)
    RunFolder(tmp_path).write_val_paths(paths)
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, ConfusionScreen.from_run_dir(tmp_path))
        await pilot.press("e")
        await pilot.pause()
    exported = list(tmp_path.glob("misclassified-*.csv"))
    assert [p.name for p in exported] == ["misclassified-last-epoch2.csv"]
    rows = read_csv(exported[0])
    wrong = np.flatnonzero(predictions.labels != predictions.predictions)
    assert len(rows) == len(wrong) > 0
    assert sorted(int(r["index"]) for r in rows) == wrong.tolist()
    losses = [float(r["loss"]) for r in rows]
    assert losses == sorted(losses, reverse=True)  # worst first
    for row in rows:
        i = int(row["index"])
        assert row["path"] == paths[i]
        assert row["true"] == CLASSES[predictions.labels[i]] != row["predicted"] == CLASSES[predictions.predictions[i]]
        assert float(row["confidence"]) == pytest.approx(float(predictions.confidences[i]), abs=1e-4)


@synchronous
async def test_export_without_file_names_leaves_the_path_empty_and_says_why(tmp_path: Path) -> None:
    predictions = make_predictions(5, n=120)
    write_run_folder(tmp_path, predictions, best_epoch=2)
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        await open_screen(pilot, ConfusionScreen.from_run_dir(tmp_path))
        await pilot.press("enter")  # a diagonal cell's drill-down exports too
        await pilot.pause()
        assert isinstance(app.screen, ConfusionSamplesScreen)
        assert app.screen.query_one("#samples-path").has_class("-hidden")
        await pilot.press("e")
        await pilot.pause()
        messages = [n.message for n in app._notifications]
    rows = read_csv(tmp_path / "misclassified-last-epoch2.csv")
    assert rows and all(row["path"] == "" for row in rows)
    assert any("no file names" in m for m in messages)


def test_an_evaluation_folder_names_its_images_from_its_predictions(tmp_path: Path) -> None:
    predictions = make_predictions(6, n=50)
    folder = tmp_path / "evals" / "20260101-000000-test"
    folder.mkdir(parents=True)
    (folder / "report.json").write_text('{"format": 1, "checkpoint": "best", "data_name": "test"}\n')
    np.savez(
        folder / "predictions.npz",
        labels=predictions.labels,
        predictions=predictions.predictions,
        confidences=predictions.confidences,
        losses=predictions.losses,
        classes=np.array(CLASSES, dtype=str),
        epoch=np.array(3),
        paths=np.array(fake_paths(50), dtype=str),
    )
    snapshot = RunView.from_eval_dir(folder)
    assert sample_paths(snapshot, 50) == tuple(fake_paths(50))
    assert sample_paths(snapshot, 49) is None  # never pair an image with another's name

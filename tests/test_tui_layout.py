"""The console at 60x20 (resized while in use): every tab reachable, each image's caption, the best
epoch and whole-or-ellipsised run names in sight. Asserted on what the terminal shows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.console_kit import NARROW, SIZE, FakeTrainer, editor_app, make_run, run, screen_text, training_app, wait_for
from tests.helpers import TINY
from tests.test_confusion_screen import CLASSES, Host, add_predictions, make_images, make_predictions
from tui_trainer.runs.folder import RunFolder
from tui_trainer.runs.view import RunView
from tui_trainer.tui.confusion.samples_screen import ConfusionSamplesScreen
from tui_trainer.tui.confusion.source import SampleQuery
from tui_trainer.tui.run.training_screen import TrainingScreen
from tui_trainer.tui.runs.screen import RunsScreen


def test_the_editor_keeps_every_tab_in_sight_at_60_columns(preset_file: Path, tmp_path: Path) -> None:
    async def scenario() -> None:
        app = editor_app(preset_file, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert " general " in screen_text(app).splitlines()[2]  # whole names where they fit
            await pilot.resize_terminal(*NARROW)
            await pilot.pause()
            tab_row = screen_text(app).splitlines()[2]
            for label in ("gen", "data", "aug", "model", "loss", "optim", "sched", "train", "TOML"):
                assert f" {label} " in f"{tab_row} "

    run(scenario())


def test_the_gallery_shows_each_images_caption_and_a_short_path_at_60x20(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    predictions = make_predictions(1, n=60)
    history = RunView(classes=CLASSES, run_dir=tmp_path)
    add_predictions(history, predictions)
    np.save(tmp_path / "val_images.npy", make_images(60))
    RunFolder(tmp_path).write_val_paths(
        [f"{tmp_path}/x/../data/{CLASSES[c]}/{i}.png" for i, c in enumerate(predictions.labels)]
    )

    async def scenario() -> None:
        app = Host()
        async with app.run_test(size=NARROW) as pilot:
            screen = ConfusionSamplesScreen(history, SampleQuery(true=int(predictions.labels[0]), pred=None))
            await app.push_screen(screen)
            await pilot.pause()
            first = int(screen.gallery.samples[0])
            true, pred = CLASSES[predictions.labels[first]], CLASSES[predictions.predictions[first]]
            shown = screen_text(app)
            assert f"#{first} {true}→{pred}" in shown
            assert f"conf {predictions.confidences[first]:.3f} loss {predictions.losses[first]:.3f}" in shown
            assert f"data/{true}/{first}.png" in shown and ".." not in shown

    run(scenario())


def test_the_training_state_line_keeps_the_best_epoch_at_60_columns(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = training_app(tmp_path, FakeTrainer(), (*TINY, 'name="digits-resnet18-finetune"'))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen))
            await wait_for(pilot, lambda: app.history is not None and app.history.state == "finished")
            await pilot.pause()
            state = screen_text(app).splitlines()[1]
            assert "epoch 2/2 · best 50.0% (ep 2)" in state  # all of it where it fits
            await pilot.resize_terminal(*NARROW)
            await wait_for(pilot, lambda: "best 50.0% (ep 2)" in screen_text(app).splitlines()[1])
            state = screen_text(app).splitlines()[1]
            assert "digits-resnet18" in state and " finished " in state and "epoch 2/2" not in state  # it went first

    run(scenario())


def test_the_training_charts_keep_their_names_and_legend_at_60_columns(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = training_app(tmp_path, FakeTrainer())
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen))
            await wait_for(pilot, lambda: app.history is not None and app.history.state == "finished")
            await pilot.resize_terminal(*NARROW)
            await wait_for(pilot, lambda: "acc %:" in screen_text(app))
            titles = next(line for line in screen_text(app).splitlines() if "orange" in line)
            assert "loss: cyan tr, orange val" in titles and "acc %: cyan tr, orange val" in titles

    run(scenario())


def test_the_runs_list_cuts_long_names_with_an_ellipsis_and_no_stray_scrollbar(tmp_path: Path) -> None:
    long_name = "a-rather-long-run-name-for-the-runs-list"
    make_run(tmp_path / "runs", "20261128-010000-smoke")
    make_run(tmp_path / "runs", f"20261128-020000-{long_name}", "finished", f'name="{long_name}"')

    async def scenario() -> None:
        app = Host()
        async with app.run_test(size=SIZE) as pilot:
            await app.push_screen(RunsScreen(tmp_path / "runs"))
            await pilot.pause()
            assert long_name in screen_text(app)  # whole where it fits
            await pilot.resize_terminal(*NARROW)
            await wait_for(pilot, lambda: "…" in screen_text(app))
            shown = screen_text(app)
            row = next(line for line in shown.splitlines() if "finished" in line and "a-r" in line)
            assert row.rstrip().endswith("…") and len(row.rstrip()) <= NARROW[0]
            assert not set("▏▎▍▌▋▊▉") & set("".join(shown.splitlines()[1:-1]))  # no scrollbar's edge in the list

    run(scenario())

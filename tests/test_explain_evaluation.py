"""Where it looked in an evaluation's images: `tui-trainer explain RUN_DIR/evals/NAME --sample N` and `g` in the
gallery of an evaluation take the model from the run's checkpoint and the image from the evaluation's data."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from textual.app import App

from tests.console_kit import SIZE, run, wait_for
from tests.helpers import tiny_preset
from tui_trainer.cli import main
from tui_trainer.runs.eval_folder import EvalFolder
from tui_trainer.runs.evaluate import evaluate_run
from tui_trainer.runs.launch import run_training
from tui_trainer.runs.predictions_file import read_saved_predictions
from tui_trainer.runs.view import RunView
from tui_trainer.tui.confusion.explain_screen import ExplainScreen
from tui_trainer.tui.confusion.samples_screen import ConfusionSamplesScreen
from tui_trainer.tui.confusion.source import SampleQuery

pytest.importorskip("pytorch_grad_cam", reason="the cam extra (grad-cam) is not installed")

COLOURS = {"blue": (40, 40, 200), "green": (40, 200, 40), "red": (200, 40, 40)}
SIDE = 16  # the tiny preset's image size: a file is the model's input as it is


def write_images(folder: Path, count: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for name, colour in COLOURS.items():
        for i in range(count):
            pixels = np.clip(np.array(colour) + rng.integers(-60, 60, (SIDE, SIDE, 3)), 0, 255).astype(np.uint8)
            path = folder / name / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(path)


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-epoch run on three colours (four validation images each) and its evaluation on a held-out folder
    of two images each (about two seconds)."""
    tmp = tmp_path_factory.mktemp("explain-eval")
    write_images(tmp / "ds" / "train", 8, seed=0)
    write_images(tmp / "ds" / "val", 4, seed=1)
    write_images(tmp / "held-out", 2, seed=2)
    preset = tiny_preset("data.dataset=imagefolder", f"data.root={tmp / 'ds'}", "data.cache=false", "data.batch_size=8")
    outcome = run_training(preset, runs_dir=tmp / "runs")
    assert outcome.exit_code == 0 and outcome.run_dir is not None, outcome.error
    return evaluate_run(Path(outcome.run_dir), data=tmp / "held-out").folder.path


def evaluated_file(eval_dir: Path, sample: int) -> str:
    paths = read_saved_predictions(EvalFolder(eval_dir).predictions_file).paths
    assert paths is not None and len(paths) == 6
    return paths[sample]


def test_explain_of_an_evaluation_shows_its_own_image_to_the_runs_model(
    evaluation: Path, tmp_path: Path, capsys
) -> None:
    code = main(["explain", str(evaluation), "--sample", "5", "--out", str(tmp_path / "cam.png")])
    said = capsys.readouterr()
    assert code == 0, said.err
    held_out = evaluated_file(evaluation, 5)
    assert "held-out" in held_out and f"sample 5 ({held_out}): true " in said.out
    assert "of best.pt" in said.out
    with Image.open(tmp_path / "cam.png") as png:
        sheet = np.asarray(png.convert("RGB"))
    scale = sheet.shape[1] // (3 * SIDE)
    with Image.open(held_out) as image:
        assert np.array_equal(sheet[: SIDE * scale : scale, : SIDE * scale : scale], np.asarray(image.convert("RGB")))


def test_explain_names_the_evaluations_images_and_refuses_one_outside_its_run(
    evaluation: Path, tmp_path: Path, capsys
) -> None:
    assert main(["explain", str(evaluation), "--sample", "6"]) == 2
    assert capsys.readouterr().err.strip() == "error: sample 6 is not one of the evaluation's 6 images (0 to 5)"
    alone = tmp_path / "sent" / evaluation.name  # an evaluation folder without its run: no model to read
    shutil.copytree(evaluation, alone)
    assert main(["explain", str(alone), "--sample", "0", "--out", str(tmp_path / "x.png")]) == 2
    assert "is not inside a run folder's evals/" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_g_in_an_evaluations_gallery_explains_the_evaluated_image(evaluation: Path) -> None:
    view = RunView.from_eval_dir(evaluation)
    assert view.predictions is not None
    true, pred = int(view.predictions.labels[0]), int(view.predictions.predictions[0])

    async def scenario() -> None:
        app = App()
        async with app.run_test(size=SIZE) as pilot:
            await app.push_screen(ConfusionSamplesScreen(view, SampleQuery(true, pred)))
            await pilot.pause()
            await pilot.press("g")
            await wait_for(pilot, lambda: isinstance(app.screen, ExplainScreen) and app.screen.explanation is not None)
            screen = app.screen
            assert isinstance(screen, ExplainScreen)
            assert "evaluation image #" in str(screen.query_one("#explain-title").render())
            assert screen.explanation is not None
            assert screen.explanation.source == evaluated_file(evaluation, screen.sample)

    run(scenario())

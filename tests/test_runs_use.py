"""A trained run put to use: --eval, --predict, --export, and opening an evaluation in the console."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers import REPO, tiny_preset
from tui_trainer.cli import main
from tui_trainer.data import DataError, check_data_layout
from tui_trainer.engine.device import numerics_for
from tui_trainer.engine.loops import validate
from tui_trainer.runs import evaluate as evaluate_module
from tui_trainer.runs import export as export_module
from tui_trainer.runs.eval_folder import EvalFolder, list_evals
from tui_trainer.runs.evaluate import evaluate_run
from tui_trainer.runs.folder import RunFolder
from tui_trainer.runs.launch import run_training
from tui_trainer.runs.trained_model import load_run_model

CLASSES = ("blue", "green", "red")


def _write_image(path: Path, colour: tuple[int, int, int], seed: int, size: int = 16) -> None:
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(colour) + rng.integers(-60, 60, (size, size, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)


def make_dataset(root: Path, train: int = 12, val: int = 4) -> Path:
    colours = {"blue": (40, 40, 200), "green": (40, 200, 40), "red": (200, 40, 40)}
    for c, cls in enumerate(CLASSES):
        for i in range(train):
            _write_image(root / "train" / cls / f"{i:03d}.png", colours[cls], 100 * c + i)
        for i in range(val):
            _write_image(root / "val" / cls / f"v{i}.png", colours[cls], 1000 + 100 * c + i, size=24)
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(run folder, dataset root): a tiny run on a three-colour image folder."""
    tmp = tmp_path_factory.mktemp("use")
    root = make_dataset(tmp / "ds")
    preset = tiny_preset('data.dataset="imagefolder"', f'data.root="{root}"', "data.cache=false", "data.batch_size=8")
    outcome = run_training(preset, runs_dir=tmp / "runs")
    assert outcome.exit_code == 0, outcome.error
    return outcome.run_dir, root


def _best_record(run_dir: Path) -> dict:
    folder = RunFolder(run_dir)
    best = folder.read_status()["best_epoch"]
    return next(r for r in folder.read_metrics() if r["epoch"] == best)


# ------------------------------------------------------------------------------------------ evaluate


def test_eval_of_the_validation_folder_gives_the_runs_own_validation_figures(trained) -> None:
    run_dir, root = trained
    evaluation = evaluate_run(run_dir, data=root / "val")
    report, record = evaluation.report, _best_record(run_dir)
    assert report["accuracy"] == pytest.approx(record["val_acc"])
    assert report["loss"] == pytest.approx(record["val_loss"], rel=1e-5)
    best = RunFolder(run_dir).read_predictions("best")
    assert np.array_equal(evaluation.result.predictions.numpy(), best["predictions"])
    assert np.array_equal(evaluation.result.labels.numpy(), best["labels"])

    confusion = np.array(report["confusion"])
    assert confusion.sum() == report["images"] == 12 == sum(row["support"] for row in report["per_class"])
    assert report["classes"] == list(CLASSES) and report["checkpoint"] == "best" and report["tta"] is False
    on_disk = EvalFolder(evaluation.folder.path).read_report()
    assert on_disk["accuracy"] == report["accuracy"] and on_disk["data"] == str(root / "val")
    assert evaluation.folder.path.parent == run_dir / "evals" and evaluation.folder.path.name.endswith("-val")
    assert np.load(evaluation.folder.images_file).shape == (12, 16, 16, 3)


def test_eval_uses_the_datasets_test_split_when_it_has_one(trained) -> None:
    run_dir, root = trained
    assert evaluate_run(run_dir).report["data"] == "imagefolder validation split"
    shutil.copytree(root / "val", root / "test")
    try:
        assert check_data_layout(tiny_preset('data.dataset="imagefolder"', f'data.root="{root}"').data) == []
        report = evaluate_run(run_dir).report
        assert report["data"] == str(root / "test") and report["images"] == 12
        assert evaluate_run(run_dir, data=root).report["data"] == str(root / "test")  # a dataset root
    finally:
        shutil.rmtree(root / "test")


def test_eval_streams_a_cached_test_folder_and_decodes_it_once(tmp_path: Path, monkeypatch) -> None:
    """A test set of any size: decoded into the data cache once, scored by streaming its rows from
    the cache file (not loaded whole), with the figures training's own streamed validation gave."""
    root = make_dataset(tmp_path / "ds", train=8, val=4)
    preset = tiny_preset(
        'data.dataset="imagefolder"', f'data.root="{root}"', 'data.storage="stream"', "data.batch_size=5"
    )
    outcome = run_training(preset, runs_dir=tmp_path / "runs")
    assert outcome.exit_code == 0, outcome.error
    shutil.copytree(root / "val", tmp_path / "held-out")

    scored = []
    real_val_batches = evaluate_module.val_batches

    def spy(data, *args, **kwargs):
        scored.append((data.disk is not None, kwargs.get("stream")))
        return real_val_batches(data, *args, **kwargs)

    monkeypatch.setattr(evaluate_module, "val_batches", spy)
    stages: list[str] = []
    first = evaluate_run(outcome.run_dir, data=tmp_path / "held-out", progress=lambda s, d, t: stages.append(s))
    assert "decode held-out" in stages
    assert scored == [(True, True)]  # rows read from the cache file per batch, not the set in memory
    record = _best_record(outcome.run_dir)
    assert first.report["accuracy"] == pytest.approx(record["val_acc"])
    assert first.report["loss"] == pytest.approx(record["val_loss"], rel=1e-5)
    assert np.array_equal(
        first.result.predictions.numpy(), RunFolder(outcome.run_dir).read_predictions("best")["predictions"]
    )

    stages.clear()
    again = evaluate_run(outcome.run_dir, data=tmp_path / "held-out", progress=lambda s, d, t: stages.append(s))
    assert stages == ["cache held-out"]  # the second evaluation maps the cache: nothing decoded
    assert np.array_equal(again.result.predictions.numpy(), first.result.predictions.numpy())
    assert np.array_equal(np.load(again.folder.images_file), np.load(first.folder.images_file))


def test_check_reports_a_test_split_with_other_classes(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "ds", train=1, val=1)
    _write_image(root / "test" / "fox" / "a.png", (1, 2, 3), 0)
    problems = check_data_layout(tiny_preset('data.dataset="imagefolder"', f'data.root="{root}"').data)
    assert len(problems) == 1 and "test/" in problems[0] and "fox" in problems[0]


def test_eval_cli_prints_the_report_and_the_console_opens_it(trained, capsys) -> None:
    run_dir, root = trained
    assert main(["--eval", str(run_dir), "--data", str(root / "val"), "--tta"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"accuracy \d+\.\d\d%", out) and "precision" in out and "flip TTA" in out
    for cls in CLASSES:
        assert re.search(rf"^{cls}\s", out, re.MULTILINE)
    newest = list_evals(run_dir)[-1]
    assert str(newest.path) in out and newest.read_report()["tta"] is True

    from tui_trainer.tui.app import TrainerApp
    from tui_trainer.tui.confusion.samples_screen import ConfusionSamplesScreen
    from tui_trainer.tui.confusion.screen import ConfusionScreen

    async def scenario() -> None:
        app = TrainerApp(newest.path, [], run_dir.parent)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, ConfusionScreen)
            assert screen.source.confusion.sum() == 12 and screen.source.classes == CLASSES
            summary = str(screen.query_one("#confusion-summary").render())
            assert "val accuracy" in summary and "best.pt" in summary
            await pilot.press("enter")  # the first cell: blue predicted as blue
            await pilot.pause()
            assert isinstance(app.screen, ConfusionSamplesScreen)
            assert app.screen.images.problem == ""  # thumbnails found beside the evaluation

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: _write_image(d / "fox" / "a.png", (1, 2, 3), 0), "does not know: fox"),
        (lambda d: shutil.rmtree(d / "green"), "no images for the run's classes: green"),
    ],
    ids=["unknown-class", "missing-class"],
)
def test_eval_on_a_folder_with_other_classes_fails_naming_them(trained, tmp_path: Path, capsys, setup, message) -> None:
    run_dir, root = trained
    folder = tmp_path / "mine"
    shutil.copytree(root / "val", folder)
    setup(folder)
    before = list_evals(run_dir)
    assert main(["--eval", str(run_dir), "--data", str(folder)]) == 2
    err = capsys.readouterr().err
    assert message in err and str(folder) in err
    assert list_evals(run_dir) == before


def test_eval_of_a_dataset_root_without_test_split_says_what_to_give(trained, capsys) -> None:
    run_dir, root = trained
    assert main(["--eval", str(run_dir), "--data", str(root)]) == 2
    assert "without a test/ folder" in capsys.readouterr().err
    with pytest.raises(DataError, match="not a folder"):
        evaluate_run(run_dir, data=root / "nothing")


def test_eval_names_its_data_without_dotdot_relative_to_the_current_folder(trained, capsys, monkeypatch) -> None:
    run_dir, root = trained
    (root / "x").mkdir(exist_ok=True)
    monkeypatch.chdir(root.parent)
    assert main(["--eval", str(run_dir), "--data", f"{root}/x/../val"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].endswith(" on ds/val") and ".." not in out
    assert main(["--eval", str(run_dir), "--data", f"{root}/x/../nothing"]) == 2
    err = capsys.readouterr().err
    assert "error: ds/nothing is not a folder" in err and ".." not in err


def test_tta_averages_the_logits_of_the_image_and_its_mirror() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.LazyLinear(5))
    images, labels = torch.randn(6, 3, 8, 8), torch.tensor([0, 1, 2, 3, 4, 0])
    model(images)  # materialise the lazy layer
    numerics = numerics_for(torch.device("cpu"), "fp32", False)
    criterion = torch.nn.CrossEntropyLoss(reduction="none")
    result = validate(model, [(images, labels)], criterion, numerics, 5, tta=True)
    with torch.no_grad():
        logits = (model(images) + model(images.flip(3))) / 2
    assert torch.allclose(result.confidences, logits.softmax(1).max(1).values, atol=1e-6)
    assert torch.allclose(result.losses, criterion(logits, labels), atol=1e-6)
    plain = validate(model, [(images, labels)], criterion, numerics, 5)
    assert not torch.allclose(plain.losses, result.losses)


# ------------------------------------------------------------------------------------------- predict


def test_predict_writes_the_class_of_every_image_as_csv(trained, capsys) -> None:
    run_dir, root = trained
    assert main(["--predict", str(run_dir), str(root / "val"), "--top-k", "2"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["path", "prediction", "confidence", "class_1", "probability_1", "class_2", "probability_2"]
    best = RunFolder(run_dir).read_predictions("best")  # the run's own validation, same files, same order
    expected = sorted(str(p) for p in (root / "val").rglob("*.png"))
    assert [row[0] for row in rows[1:]] == expected
    order = [CLASSES.index(Path(row[0]).parent.name) * 4 + int(Path(row[0]).stem[1:]) for row in rows[1:]]
    assert [row[1] for row in rows[1:]] == [CLASSES[best["predictions"][i]] for i in order]
    for row in rows[1:]:
        assert row[1] == row[3] and float(row[2]) == float(row[4]) >= float(row[6])
    assert np.allclose([float(row[2]) for row in rows[1:]], best["confidences"][order], atol=1e-5)


def test_predict_skips_what_is_not_an_image_and_exits_1(trained, tmp_path: Path, capsys) -> None:
    run_dir, root = trained
    shutil.copy(root / "val" / "red" / "v0.png", tmp_path / "good.png")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg either")
    assert main(["--predict", str(run_dir), str(tmp_path), str(tmp_path / "gone.png")]) == 1
    captured = capsys.readouterr()
    rows = list(csv.reader(io.StringIO(captured.out)))
    assert [row[0] for row in rows[1:]] == [str(tmp_path / "good.png")]
    for name in ("notes.txt", "broken.jpg", "gone.png"):
        assert name in captured.err
    assert "3 failed" in captured.err


# -------------------------------------------------------------------------------------------- export


@pytest.mark.parametrize("fmt", export_module.FORMATS)
def test_export_round_trip_gives_the_models_logits(trained, tmp_path: Path, fmt: str) -> None:
    run_dir, _ = trained
    out = tmp_path / f"model.{fmt}"
    assert main(["--export", str(run_dir), "--format", fmt, "--out", str(out)]) == 0
    meta = json.loads((tmp_path / f"model.{fmt}.json").read_text())
    assert meta["classes"] == list(CLASSES) and meta["input"]["shape"][1:] == [3, 16, 16]
    assert meta["input"]["layout"] == "NCHW" and meta["input"]["channel_order"] == "RGB"
    assert "ImageOps.exif_transpose" in meta["input"]["orientation"]  # as training read its photos
    assert meta["parity"]["images"] == 12 and meta["parity"]["max_abs_error"] <= export_module.ATOL
    assert "[model]" in meta["preset"]

    run = load_run_model(run_dir, "best", device="cpu", fp32=True)
    images = torch.randn(5, 3, 16, 16)  # another batch size than the check's: the batch is dynamic
    with torch.no_grad():
        expected = run.model(images).numpy()
    got = export_module.EXPORTERS[fmt].load(out, run)(images.numpy())
    assert np.allclose(got, expected, rtol=export_module.RTOL, atol=export_module.ATOL)


def test_a_broken_export_is_detected_and_deleted(trained, tmp_path: Path, monkeypatch, capsys) -> None:
    run_dir, _ = trained
    real = export_module.EXPORTERS["torchscript"]

    def write_wrong_weights(run, example, path) -> None:
        with torch.no_grad():
            saved = {k: v.clone() for k, v in run.model.state_dict().items()}
            for parameter in run.model.parameters():
                parameter.add_(0.05)
            real.write(run, example, path)
            run.model.load_state_dict(saved)

    monkeypatch.setitem(
        export_module.EXPORTERS, "torchscript", real.__class__(real.suffix, write_wrong_weights, real.load)
    )
    out = tmp_path / "model.pt"
    assert main(["--export", str(run_dir), "--format", "torchscript", "--out", str(out)]) == 1
    assert "differs from the PyTorch model" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # neither the file, nor its sidecar, nor a temporary


def test_onnx_export_without_the_extra_names_the_pip_command(trained, tmp_path: Path, monkeypatch, capsys) -> None:
    run_dir, _ = trained
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    assert main(["--export", str(run_dir), "--out", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert 'pip install "tui-trainer[export]"' in err and "onnxruntime" in err
    assert not (tmp_path / "m.onnx").exists()


def test_the_readme_script_classifies_with_the_sidecar_alone(trained, tmp_path: Path, capsys) -> None:
    run_dir, root = trained
    readme = (REPO / "README.md").read_text()
    section = readme.split("## From a run to a model you use", 1)[1]
    script = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    assert len(script.strip().splitlines()) <= 11
    (tmp_path / "classify.py").write_text(script)
    model = tmp_path / "export" / "m.onnx"
    assert main(["--export", str(run_dir), "--out", str(model)]) == 0
    capsys.readouterr()
    wide = tmp_path / "wide.png"  # red ends around a green centre: only the centre square is kept
    pixels = np.full((24, 48, 3), (200, 40, 40), np.uint8)
    pixels[:, 12:36] = np.asarray(Image.open(root / "val" / "green" / "v1.png"))
    Image.fromarray(pixels).save(wide)
    turned = tmp_path / "turned.png"  # a phone photo: the pixels on their side, an EXIF tag to turn them back
    exif = Image.Exif()
    exif[0x0112] = 6  # turn 90 degrees clockwise to show
    Image.fromarray(np.rot90(pixels, 1).copy()).save(turned, exif=exif)
    names, rows = [], []
    for image in (root / "val" / "green" / "v1.png", wide, turned):  # 24 px, 48 x 24: resized as the tool does
        assert main(["--predict", str(run_dir), str(image)]) == 0
        row = list(csv.reader(io.StringIO(capsys.readouterr().out)))[1]
        names.append(row[1])
        rows.append(row[1:])
        result = subprocess.run(
            [sys.executable, str(tmp_path / "classify.py"), str(model) + ".json", str(image)],
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp_path,
        )
        name, probability = result.stdout.split()
        assert name == row[1] and float(probability) == pytest.approx(float(row[2]), abs=1e-3), image
    assert names[0] == names[1]  # the red ends were cut, as in training: the wide one is its centre
    assert rows[2] == rows[1]  # the turned photo is seen upright: every probability as the wide one's


async def _wait_for(pilot, condition, timeout: float = 60.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await pilot.pause(0.05)


def test_the_run_screen_evaluates_and_exports_the_open_run(trained) -> None:
    from tui_trainer.tui.app import TrainerApp
    from tui_trainer.tui.commands import COMMANDS
    from tui_trainer.tui.confusion.screen import ConfusionScreen
    from tui_trainer.tui.run.training_screen import TrainingScreen

    run_dir, _ = trained
    offered = {action for _title, _help, action in COMMANDS}
    for action in ("evaluate", "open_evaluation", "export"):  # offered in the palette, and the App does it
        assert action in offered and callable(getattr(TrainerApp, f"action_{action}", None)), action
    before = len(list_evals(run_dir))
    export = run_dir / "export" / "best.onnx"
    export.unlink(missing_ok=True)

    async def scenario() -> None:
        app = TrainerApp(run_dir, [], run_dir.parent)
        async with app.run_test(size=(100, 30)) as pilot:
            await _wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen) and app.use_run_available())
            await pilot.press("v")
            await _wait_for(pilot, lambda: isinstance(app.screen, ConfusionScreen))
            assert len(list_evals(run_dir)) == before + 1
            assert app.screen.source.confusion.sum() == 12
            await pilot.press("escape")
            await _wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen))
            await pilot.press("o")
            await _wait_for(pilot, lambda: (export.with_name("best.onnx.json")).is_file())

    asyncio.run(scenario())
    assert export.is_file()

"""The calibration view of the confusion screen (`k`): reliability diagram with ECE, ROC and
precision-recall curves per class, on a run folder, an evaluation, and an older predictions file."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np
import pytest
from textual.app import App
from textual.widgets import Static

from tests.console_kit import wait_for
from tui_trainer.engine.calibration import reliability, separation
from tui_trainer.runs.eval_folder import write_eval_folder
from tui_trainer.runs.folder import RunFolder
from tui_trainer.runs.report import confusion_from_predictions
from tui_trainer.tui.confusion import calibration_screen
from tui_trainer.tui.confusion.calibration_charts import CurveChart, ReliabilityChart
from tui_trainer.tui.confusion.calibration_screen import CalibrationScreen
from tui_trainer.tui.confusion.screen import ConfusionScreen

CLASSES = ("cat", "dog", "ship", "truck")


def arrays(with_probabilities: bool, n: int = 200, seed: int = 0) -> dict[str, np.ndarray]:
    """Predictions of a model that is right about 70% of the time and says 90%: overconfident."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(CLASSES), n)
    logits = rng.normal(size=(n, len(CLASSES))) + 1.5 * np.eye(len(CLASSES))[labels]
    probabilities = np.exp(3 * logits) / np.exp(3 * logits).sum(axis=1, keepdims=True)
    predicted = probabilities.argmax(axis=1)
    out = {
        "labels": labels.astype(np.int64),
        "predictions": predicted.astype(np.int64),
        "confidences": probabilities.max(axis=1).astype(np.float32),
        "losses": -np.log(probabilities[np.arange(n), labels]).astype(np.float32),
        "confusion": confusion_from_predictions(labels, predicted, len(CLASSES)),
    }
    if with_probabilities:
        out["probabilities"] = probabilities.astype(np.float16)
    return out


def make_run(path: Path, with_probabilities: bool = True) -> tuple[Path, dict[str, np.ndarray]]:
    path.mkdir(parents=True)
    folder = RunFolder(path)
    saved = arrays(with_probabilities)
    folder.append_metrics({"epoch": 1, "val_acc": 0.7})
    for which in ("last", "best"):
        folder.write_predictions(which, 1, saved, CLASSES)
    return path, saved


class Host(App):
    pass


async def open_calibration(pilot, confusion: ConfusionScreen) -> CalibrationScreen:
    await pilot.app.push_screen(confusion)
    await pilot.pause()
    await pilot.press("k")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, CalibrationScreen)
    await wait_for(pilot, lambda: screen.figures() is not None)  # computed in a worker
    await pilot.pause()
    return screen


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).content)


def test_k_opens_the_reliability_diagram_and_curves_of_a_run_folder(tmp_path: Path) -> None:
    run_dir, saved = make_run(tmp_path / "run")
    expected = reliability(saved["confidences"], saved["labels"] == saved["predictions"])
    ranked = separation(saved["probabilities"], saved["labels"])

    async def scenario() -> None:
        async with Host().run_test(size=(80, 24)) as pilot:
            screen = await open_calibration(pilot, ConfusionScreen.from_run_dir(run_dir, "best"))
            title = text_of(screen, "#calibration-title")
            assert f"ECE {expected.ece * 100:.1f}%" in title and f"macro AUC {ranked.macro_auc:.3f}" in title
            bars = screen.query_one(ReliabilityChart).points
            assert len(bars) == sum(1 for b in expected.bins if b.count)
            roc = screen.query_one("#calibration-roc", CurveChart)
            assert roc.chart_title == f"ROC · all · AUC {ranked.macro_auc:.3f}"  # "all" first: the macro curve
            assert roc.region.width >= 30 and roc.region.height >= 8  # readable at 80×24
            await pilot.press("right")
            assert roc.chart_title == f"ROC · cat · AUC {ranked.auc[0]:.3f}"
            pr = screen.query_one("#calibration-pr", CurveChart)
            assert pr.chart_title == f"PR · cat · AP {ranked.ap[0]:.3f}" and len(pr.points) <= 101
            await pilot.press("left", "left")  # back past "all" to the last class
            assert roc.chart_title.startswith("ROC · truck ·")
            await pilot.press("escape")
            assert isinstance(pilot.app.screen, ConfusionScreen)

    asyncio.run(scenario())


@pytest.mark.parametrize("size", [(80, 24), (60, 20)])
def test_older_predictions_keep_the_reliability_diagram_and_say_how_to_get_curves(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    run_dir, _ = make_run(tmp_path / "old-run", with_probabilities=False)

    async def scenario() -> None:
        async with Host().run_test(size=size) as pilot:
            screen = await open_calibration(pilot, ConfusionScreen.from_run_dir(run_dir, "last"))
            problem = text_of(screen, "#calibration-problem")
            assert "predate probabilities: evaluate again (`tui-trainer eval " in problem
            assert str(run_dir) in problem
            assert screen.query_one(ReliabilityChart).points  # the confidences alone give the diagram
            assert screen.has_class("-no-curves")  # the curves give way to the diagram
            await pilot.press("right")  # nothing to step through: no error
            assert pilot.app.screen is screen

    asyncio.run(scenario())


def test_an_evaluation_folder_opens_in_the_calibration_view_too(tmp_path: Path) -> None:
    saved = arrays(True, seed=3)
    report = {"checkpoint": "best", "tta": False, "data_name": "test"}
    folder = write_eval_folder(tmp_path, "test", report, saved, CLASSES, 4, None)
    ranked = separation(saved["probabilities"], saved["labels"])

    async def scenario() -> None:
        async with Host().run_test(size=(60, 20)) as pilot:
            screen = await open_calibration(pilot, ConfusionScreen.from_eval_dir(folder.path))
            title = text_of(screen, "#calibration-title")
            assert "test" in title and f"macro AUC {ranked.macro_auc:.3f}" in title

    asyncio.run(scenario())


def test_a_class_without_validation_samples_has_no_curve_and_says_so(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    saved = arrays(True)
    keep = saved["labels"] != 2  # no "ship" among the samples
    saved = {k: (v[keep] if k != "confusion" else v) for k, v in saved.items()}
    saved["confusion"] = confusion_from_predictions(saved["labels"], saved["predictions"], len(CLASSES))
    RunFolder(run_dir).write_predictions("last", 1, saved, CLASSES)

    async def scenario() -> None:
        async with Host().run_test(size=(80, 24)) as pilot:
            screen = await open_calibration(pilot, ConfusionScreen.from_run_dir(run_dir, "last"))
            roc = screen.query_one("#calibration-roc", CurveChart)
            assert "not ship" in roc.chart_title
            await pilot.press("right", "right", "right")
            assert roc.chart_title == "ROC · ship: no samples of this class" and roc.points == []

    asyncio.run(scenario())


def test_the_screen_answers_keys_while_its_figures_are_computed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ranking ImageNet-sized predictions takes a second: a worker does it, the title says so meanwhile."""
    run_dir, saved = make_run(tmp_path / "run")
    started, release = threading.Event(), threading.Event()
    real = calibration_screen.honesty

    def held(*args, **kwargs):
        started.set()
        release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(calibration_screen, "honesty", held)

    async def scenario() -> None:
        async with Host().run_test(size=(80, 24)) as pilot:
            confusion = ConfusionScreen.from_run_dir(run_dir, "best")
            await pilot.app.push_screen(confusion)
            await pilot.pause()
            await pilot.press("k")
            await wait_for(pilot, started.is_set)
            screen = pilot.app.screen
            assert isinstance(screen, CalibrationScreen)
            assert "computing the figures of 200 images" in text_of(screen, "#calibration-title")
            await pilot.press("right")  # no figures to step through yet: nothing happens, no error
            await pilot.press("escape")  # and the screen answers while the worker is held
            assert pilot.app.screen is confusion and not release.is_set()
            release.set()
            await pilot.press("k")
            screen = pilot.app.screen
            await wait_for(pilot, lambda: screen.figures() is not None)
            await pilot.pause()
            expected = reliability(saved["confidences"], saved["labels"] == saved["predictions"])
            assert f"ECE {expected.ece * 100:.1f}%" in text_of(screen, "#calibration-title")

    asyncio.run(scenario())


def y_ticks(chart_text: str) -> list[tuple[float, float]]:
    """(label, value of its row) of each y tick of a chart as the terminal shows it: the plot's rows run
    from 1 at the top frame's next row down to 0 at the row above the x axis."""
    lines = chart_text.splitlines()
    top = next(i for i, line in enumerate(lines) if "┌" in line) + 1
    bottom = next(i for i, line in enumerate(lines) if "└" in line) - 1
    ticks = []
    for i in range(top, bottom + 1):
        label = lines[i].split("┤")[0].strip() if "┤" in lines[i] else ""
        if label:
            ticks.append((float(label), (bottom - i) / (bottom - top)))
    return ticks


@pytest.mark.parametrize("size", [(80, 24), (60, 20)])
def test_the_charts_have_even_true_y_ticks_and_both_axes_named(tmp_path: Path, size: tuple[int, int]) -> None:
    run_dir, _ = make_run(tmp_path / "run")

    async def scenario() -> None:
        app = Host()
        async with app.run_test(size=size) as pilot:
            screen = await open_calibration(pilot, ConfusionScreen.from_run_dir(run_dir))
            for selector, y_labels, x_label in (
                ("#calibration-reliability", {"accuracy"}, "confidence"),
                ("#calibration-roc", {"true positive rate", "TPR"}, "false positive rate"),  # TPR: in 30 columns
                ("#calibration-pr", {"precision"}, "recall"),
            ):
                chart = screen.query_one(selector)
                lines = app.console.render_lines(chart.render(), app.console.options.update_dimensions(*chart.size))
                shown = "\n".join("".join(segment.text for segment in line) for line in lines)
                ticks = y_ticks(shown)
                assert {label for label, _ in ticks} >= {0.0, 1.0}, (selector, shown)
                for label, row in ticks:
                    assert label in (0.0, 0.25, 0.5, 0.75, 1.0), (selector, label)
                    assert abs(label - row) < 0.05, f"{selector}: {label} labels the row of {row:.2f}"
                names = shown.splitlines()[-1]  # the axis labels' line, under the x ticks
                assert x_label in names and any(name in names for name in y_labels), (selector, names)

    asyncio.run(scenario())

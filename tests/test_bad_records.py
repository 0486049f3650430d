"""Records a diverged, damaged or hostile run writes never take the console down.

A diverged run logs losses of inf or 1e308; a predictions file replaced half-way has arrays of
different lengths; a TOML file with arrays nested 500 deep makes tomllib recurse past Python's
limit. Each becomes a skipped point, an epoch without drill-down, or a one-line error.
"""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import SMOKE, tiny_preset
from tui_trainer.cli import main
from tui_trainer.runs.follow import read_events
from tui_trainer.runs.launch import run_training
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.common.user_config import config_path
from tui_trainer.tui.preset.list_screen import PresetListScreen
from tui_trainer.tui.run.charts import MetricChart
from tui_trainer.tui.runs.compare_screen import CompareChart, CompareScreen

DEEP = "[" * 500 + "]" * 500


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outcome = run_training(tiny_preset("train.epochs=3", "scheduler.t_max=3"), runs_dir=tmp_path_factory.mktemp("runs"))
    assert outcome.exit_code == 0, outcome.error
    return outcome.run_dir


def diverged_copy(run_dir: Path, tmp_path: Path, value: float) -> Path:
    """The run with epoch 2's losses and epoch 3's accuracy replaced by `value`."""
    import shutil

    copy = tmp_path / f"diverged-{value}"
    shutil.copytree(run_dir, copy)
    records = [json.loads(line) for line in (copy / "metrics.jsonl").read_text().splitlines()]
    records[1].update(train_loss=value, val_loss=-value)
    records[2].update(val_acc=value, train_acc=value)
    (copy / "metrics.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in records)
    )  # Infinity, NaN as json writes them
    return copy


def test_plottable_skips_what_cannot_be_drawn_and_clips_the_rest() -> None:
    from tui_trainer.tui.common.readable_plot import PLOT_LIMIT, plottable

    xs, ys = plottable([1, 2, 3, 4, 5, 6], [0.5, 1e308, -1e308, math.inf, math.nan, 0.0])
    assert xs == [1, 2, 3, 6] and ys == [0.5, PLOT_LIMIT, -PLOT_LIMIT, 0.0]
    assert plottable([1, 2, 3], [0.5, -1.0, 0.0], log=True) == ([1], [0.5])


@pytest.mark.parametrize("value", [1e308, math.inf, math.nan])
def test_a_diverged_runs_records_are_charted_without_crashing_the_console(finished_run, tmp_path, value) -> None:
    run_dir = diverged_copy(finished_run, tmp_path, value)

    async def run() -> None:
        app = TrainerApp(path=run_dir)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            await pilot.press("l")  # the loss chart on a log scale
            await pilot.pause()
            app.screen.query_one("#loss-chart", MetricChart).render()  # plotext builds the chart here
            compare = CompareScreen([finished_run, run_dir])
            await app.push_screen(compare)
            await pilot.pause()
            for chart in compare.query(CompareChart):
                chart.render()
            app.screen.refresh()
            await pilot.pause()
            assert app.is_running

    asyncio.run(run())


def test_predictions_of_different_lengths_are_an_epoch_without_drill_down(finished_run, tmp_path) -> None:
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    path = run_dir / "predictions-last.npz"
    with np.load(path) as data:
        arrays = {key: data[key] for key in data.files}
    arrays["losses"] = arrays["losses"][:-5]  # a file replaced half-way, or made by hand
    np.savez(path, **arrays)

    finished = [e for e in read_events(run_dir) if type(e).__name__ == "EpochFinished"]
    assert len(finished) == 3
    for event in finished:
        p = event.predictions
        assert len(p.labels) == len(p.predictions) == len(p.confidences) == len(p.losses)  # the drill-down indexes all


def test_arrays_nested_500_deep_are_one_line_errors_in_a_preset_a_set_and_the_preset_list(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    deep = tmp_path / "deep.toml"
    deep.write_text(SMOKE.read_text() + f"\n[extra]\nx = {DEEP}\n")
    assert main(["--check", str(deep)]) == 2
    _, err = capsys.readouterr()
    assert "nested too deeply" in err and f"{deep}:" in err and "Traceback" not in err
    assert main(["--check", str(SMOKE), "--set", f"model.width={DEEP}"]) == 2
    _, err = capsys.readouterr()
    assert "nested too deeply" in err and "--set model.width=" in err

    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "deep.toml").write_text(deep.read_text())
    monkeypatch.chdir(tmp_path)
    assert main(["--list-presets"]) == 0
    assert "deep  (cannot read)" in capsys.readouterr().out


@pytest.mark.parametrize("where", ["settings", "presets folder", pytest.param("opened preset", marks=pytest.mark.slow)])
def test_the_console_starts_with_a_deeply_nested_file(tmp_path: Path, monkeypatch, where: str) -> None:
    deep_text = SMOKE.read_text() + f"\n[extra]\nx = {DEEP}\n"
    opened = None
    if where == "settings":
        config_path().parent.mkdir(parents=True, exist_ok=True)
        config_path().write_text(f'theme = "textual-dark"\nx = {DEEP}\n')
    elif where == "presets folder":
        (tmp_path / "presets").mkdir()
        (tmp_path / "presets" / "deep.toml").write_text(deep_text)
        monkeypatch.chdir(tmp_path)
    else:
        opened = tmp_path / "deep.toml"
        opened.write_text(deep_text)

    async def run() -> list[str]:
        app = TrainerApp(path=opened, runs_dir=tmp_path / "runs")
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            if opened is None:
                assert isinstance(app.screen, PresetListScreen)
            return [n.message for n in app._notifications] + [str(p) for p in getattr(app.document, "problems", [])]

    said = asyncio.run(run())
    if where != "presets folder":  # the list shows the file as "(TOML syntax error)"
        assert any("nested too deeply" in text for text in said), said

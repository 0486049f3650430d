"""A run's lineage in the console at 80x24: extend a finished run, a fork's curve joined to its parent's,
and the pinned baseline in every compare and in the training screen's charts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import DataTable, Input, Static

from tests.console_kit import SIZE, make_run, run, wait_for
from tui_trainer.tui.common.baseline import pin_baseline, read_baseline
from tui_trainer.tui.common.user_config import config_path, load_user_config
from tui_trainer.tui.messages import ExtendRun
from tui_trainer.tui.runs.compare_screen import CompareChart, CompareScreen
from tui_trainer.tui.runs.extend_prompt import ExtendPrompt
from tui_trainer.tui.runs.screen import RunsScreen


class Host(App[None]):
    """The runs screen in an App that records the extensions it is asked for."""

    def __init__(self, runs: Path) -> None:
        super().__init__()
        self.runs = runs
        self.extended: list[ExtendRun] = []

    def on_mount(self) -> None:
        self.push_screen(RunsScreen(self.runs, in_console=True))

    def on_extend_run(self, request: ExtendRun) -> None:
        self.extended.append(request)


def message(screen: RunsScreen) -> str:
    return str(screen.query_one("#runs-message", Static).render())


def marks(screen: RunsScreen) -> list[str]:
    table = screen.query_one("#runs-table", DataTable)
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


def test_e_asks_for_the_new_total_and_extends_a_finished_run(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    make_run(runs, "20261128-010000-smoke", "interrupted")
    finished = make_run(runs, "20261128-020000-smoke", "finished")

    async def scenario() -> None:
        app = Host(runs)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = app.screen
            await pilot.press("e")  # the newest first: the finished run
            await pilot.pause()
            assert isinstance(app.screen, ExtendPrompt)
            prompt = app.screen.query_one(Input)
            prompt.value = "2"
            await pilot.press("enter")
            assert "done 3 epochs" in str(app.screen.query_one("#extend-message", Static).render())
            prompt.value = "8 restart"
            await pilot.press("enter")
            await pilot.pause()
            assert app.screen is screen
            assert [(r.path, r.epochs, r.schedule) for r in app.extended] == [(finished, 8, "restart")]
            await pilot.press("down", "e")  # an interrupted run is resumed, not extended
            await pilot.pause()
            assert app.screen is screen and "only a finished run" in message(screen)

    run(scenario())


def test_b_pins_a_baseline_that_every_compare_includes_and_b_again_unpins(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    baseline = make_run(runs, "20261128-010000-smoke")
    other = make_run(runs, "20261128-020000-smoke", "finished", "optimizer.lr=0.01")

    async def scenario() -> None:
        app = Host(runs)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = app.screen
            await pilot.press("down", "b")
            await pilot.pause()
            assert read_baseline().path == baseline.absolute()  # in the user's settings, not a run folder
            assert marks(screen) == [" ", "b"] and "pinned" in message(screen)
            await pilot.press("up", "c")  # the run under the cursor against the baseline
            await pilot.pause()
            compare = app.screen
            assert isinstance(compare, CompareScreen) and compare.run_dirs == [other, baseline]
            assert "baseline" in str(compare.query_one("#compare-runs", Static).render())
            await pilot.press("escape", "down", "b")
            await pilot.pause()
            assert read_baseline().path is None and marks(screen) == [" ", " "]
            assert load_user_config(config_path())[0].baseline == ""

    run(scenario())


def test_a_deleted_baseline_is_dropped_with_one_notice(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    gone = make_run(runs, "20261128-010000-smoke")
    make_run(runs, "20261128-020000-smoke")
    pin_baseline(gone)
    shutil.rmtree(gone)

    async def scenario() -> None:
        app = Host(runs)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            notices = [n.message for n in app._notifications]
            assert notices == [f"baseline {gone.name} is gone: unpinned"]
            await pilot.press("c")
            await pilot.pause()
            assert len(app._notifications) == 1  # said once: the setting is gone too
            assert load_user_config(config_path())[0].baseline == ""

    run(scenario())


def test_compare_joins_a_forks_curve_to_its_parents_at_the_fork(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    parent = make_run(runs, "20261128-010000-smoke")
    child = make_run(runs, "20261128-020000-smoke", "finished", "optimizer.lr=0.001")
    records = [json.loads(line) for line in (child / "metrics.jsonl").read_text().splitlines()]
    (child / "metrics.jsonl").write_text("".join(json.dumps({**r, "epoch": r["epoch"] + 2}) + "\n" for r in records))
    status = json.loads((child / "status.json").read_text())
    (child / "status.json").write_text(json.dumps({**status, "parent": {"run": parent.name, "epoch": 2}}))

    async def scenario() -> None:
        app = App()
        async with app.run_test(size=SIZE) as pilot:
            app.push_screen(CompareScreen([parent, child]))
            await pilot.pause()
            series = app.screen.query_one("#compare-acc", CompareChart).series
            assert [epoch for epoch, _ in series["A smoke"]] == [1, 2, 3]
            assert [epoch for epoch, _ in series["B smoke"]] == [1, 2, 3, 4, 5]  # the parent's 1-2, then its own
            assert series["B smoke"][:2] == series["A smoke"][:2]  # the same line up to the fork
            assert f"fork of {parent.name}@2" in str(app.screen.query_one("#compare-runs", Static).render())

    run(scenario())


def test_the_training_charts_draw_the_baseline_dimmed_and_labelled(tmp_path: Path) -> None:
    from tui_trainer.tui.app import TrainerApp
    from tui_trainer.tui.run.charts import MetricChart
    from tui_trainer.tui.run.training_screen import TrainingScreen

    runs = tmp_path / "runs"
    baseline = make_run(runs, "20261128-010000-smoke")
    current = make_run(runs, "20261128-020000-smoke", "finished", "optimizer.lr=0.01")
    pin_baseline(baseline)

    async def scenario() -> None:
        app = TrainerApp(current, [], runs)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen) and app.history.epochs)
            await pilot.pause()
            chart = app.screen.query_one("#acc-chart", MetricChart)
            assert chart.baseline_label == f"baseline {baseline.name}"
            assert chart.points["baseline"] == [
                (1, pytest.approx(10.0)),
                (2, pytest.approx(20.0)),
                (3, pytest.approx(30.0)),
            ]
            assert chart.points["val"] != chart.points["baseline"]  # the current run's own curve beside it
            folder_line = str(app.screen.query_one("#run-dir", Static).render())
            assert f"gray: baseline {baseline.name}" in folder_line

    run(scenario())

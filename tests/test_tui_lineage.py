"""A run's lineage in the console at 80x24: extend a finished run, a fork's curve joined to its parent's
(in compare and on the fork's own training screen), and the pinned baseline in every compare and in the
training screen's charts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import DataTable, Input, Static

from tests.console_kit import NARROW, SIZE, make_fork, make_run, run, screen_text, wait_for
from tui_trainer.runs.folder import RunFolder
from tui_trainer.tui.app import TrainerApp
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


CLASSES = ["cat", "dog"]
OTHER = ["zero", "one", "two"]


def with_classes(run_dir: Path, classes: list[str], epochs: int | None = None) -> Path:
    """`run_dir` as a run of `classes` records it (status.json), with `epochs` epochs of metrics if given."""
    folder = RunFolder(run_dir)
    status = json.loads(folder.status_file.read_text())
    if epochs is not None:
        records = [
            {"epoch": e, "train_loss": 2.0 / e, "val_loss": 2.2 / e, "val_acc": 0.1 * e} for e in range(1, epochs + 1)
        ]
        folder.metrics_file.write_text("".join(json.dumps(r) + "\n" for r in records))
        status.update(epochs_planned=epochs, epochs_done=epochs)
    folder.status_file.write_text(json.dumps({**status, "classes": classes}))
    return run_dir


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
    baseline = with_classes(make_run(runs, "20261128-010000-smoke"), CLASSES)
    other = with_classes(make_run(runs, "20261128-020000-smoke", "finished", "optimizer.lr=0.01"), CLASSES)

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
    child = make_fork(runs, "20261128-020000-smoke", parent, 2, "optimizer.lr=0.001")

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
    baseline = with_classes(make_run(runs, "20261128-010000-smoke"), CLASSES)
    current = with_classes(make_run(runs, "20261128-020000-smoke", "finished", "optimizer.lr=0.01"), CLASSES)
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


def baseline_beside(tmp_path: Path, baseline_classes: list[str], baseline_epochs: int):
    """The training screen's charts and run folder line for a finished 3-epoch run of CLASSES with a
    baseline of `baseline_classes` and `baseline_epochs` epochs pinned."""
    from tui_trainer.tui.run.charts import MetricChart

    runs = tmp_path / "runs"
    baseline = with_classes(make_run(runs, "20261128-010000-smoke"), baseline_classes, baseline_epochs)
    current = with_classes(make_run(runs, "20261128-020000-smoke", "finished", "optimizer.lr=0.01"), CLASSES)
    pin_baseline(baseline)
    seen: dict[str, object] = {}

    async def scenario() -> None:
        app = TrainerApp(current, [], runs)
        async with app.run_test(size=SIZE) as pilot:
            screen = await training_screen_of(pilot, app)
            seen["charts"] = {chart.id: dict(chart.points) for chart in screen.query(MetricChart)}
            seen["folder"] = str(screen.query_one("#run-dir", Static).render())
            seen["shown"] = screen_text(app)

    run(scenario())
    return seen


def test_a_baseline_of_other_classes_is_not_drawn_and_the_training_screen_says_why(tmp_path: Path) -> None:
    seen = baseline_beside(tmp_path, OTHER, 6)
    for points in seen["charts"].values():
        assert points["baseline"] == []
        assert max(x for series in points.values() for x, _ in series) == 3  # the run's own 3 epochs set the axis
    assert "baseline not drawn: other classes" in seen["folder"] and "gray:" not in seen["folder"]
    assert "baseline not drawn: other classes" in seen["shown"]


def test_a_longer_baseline_is_drawn_to_the_runs_planned_epochs(tmp_path: Path) -> None:
    seen = baseline_beside(tmp_path, CLASSES, 6)
    for points in seen["charts"].values():
        assert epochs_of(points["baseline"]) == [1, 2, 3]  # not stretched to the baseline's 6
    assert "gray: baseline" in seen["folder"] and "not drawn" not in seen["folder"]


def test_compare_leaves_out_a_baseline_of_other_classes_and_says_why(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    baseline = with_classes(make_run(runs, "20261128-010000-smoke"), OTHER)
    first = with_classes(make_run(runs, "20261128-020000-smoke", "finished", "optimizer.lr=0.01"), CLASSES)
    second = with_classes(make_run(runs, "20261128-030000-smoke", "finished", "optimizer.lr=0.02"), CLASSES)
    pin_baseline(baseline)

    async def scenario() -> None:
        app = Host(runs)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = app.screen
            await pilot.press("c")  # the run under the cursor against a baseline of other classes: nothing to compare
            await pilot.pause()
            assert app.screen is screen
            assert message(screen).startswith("baseline not drawn: other classes; select two or more runs")
            await pilot.press("space", "space", "c")
            await pilot.pause()
            compare = app.screen
            assert isinstance(compare, CompareScreen) and compare.run_dirs == [second, first]
            assert "baseline not drawn: other classes" in str(compare.query_one("#compare-runs", Static).render())

    run(scenario())


def test_a_selected_baseline_shows_both_marks(tmp_path: Path) -> None:
    for name in ("20261128-010000-smoke", "20261128-020000-smoke"):
        make_run(tmp_path / "runs", name)

    async def scenario() -> None:
        app = Host(tmp_path / "runs")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("down", "b", "space")  # pinned, then selected (the cursor stays on the last row)
            await pilot.pause()
            assert marks(app.screen) == [" ", "●b"]
            assert "●b" in screen_text(app)

    run(scenario())


async def training_screen_of(pilot, app):
    """The training screen once the run folder's history has been replayed to its end."""
    from tui_trainer.tui.run.training_screen import TrainingScreen

    await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen) and app.history.state == "finished")
    await pilot.pause()
    return app.screen


def epochs_of(points: list[tuple[float, float]]) -> list[int]:
    return [int(x) for x, _ in points]


def test_a_forks_training_screen_draws_its_parents_epochs_dotted_before_its_own(tmp_path: Path) -> None:
    from tui_trainer.tui.app import TrainerApp
    from tui_trainer.tui.run.charts import MetricChart

    runs = tmp_path / "runs"
    parent = make_run(runs, "20261128-010000-smoke")
    child = make_fork(runs, "20261128-020000-smoke", parent, 2, "optimizer.lr=0.001")
    written = {f.name: f.read_bytes() for f in parent.iterdir()}

    async def scenario() -> None:
        app = TrainerApp(child, [], runs)
        async with app.run_test(size=SIZE) as pilot:
            screen = await training_screen_of(pilot, app)
            acc = screen.query_one("#acc-chart", MetricChart).points
            assert epochs_of(acc.get("parent val", [])) == [1, 2]  # the parent's epochs up to the fork, marked as its
            assert acc["parent val"] == [(1, pytest.approx(10.0)), (2, pytest.approx(20.0))]
            assert epochs_of(acc["val"]) == [3, 4, 5]  # then the fork's own, in the parent's numbering
            loss = screen.query_one("#loss-chart", MetricChart).points
            assert epochs_of(loss["parent train"]) == [1, 2] and epochs_of(loss["train"]) == [3, 4, 5]
            folder_line = str(screen.query_one("#run-dir", Static).render())
            assert f"dotted to ep 2: parent {parent.name}" in folder_line
            assert "epoch 5/5" in str(screen.query_one("#run-state", Static).render())
        assert {f.name: f.read_bytes() for f in parent.iterdir()} == written  # read, never written

    run(scenario())


def test_a_fork_whose_parent_is_gone_shows_its_own_epochs_and_says_so(tmp_path: Path) -> None:
    from tui_trainer.tui.app import TrainerApp
    from tui_trainer.tui.run.charts import MetricChart

    runs = tmp_path / "runs"
    parent = make_run(runs, "20261128-010000-smoke")
    child = make_fork(runs, "20261128-020000-smoke", parent, 2)
    shutil.rmtree(parent)

    async def scenario() -> None:
        app = TrainerApp(child, [], runs)
        async with app.run_test(size=SIZE) as pilot:
            screen = await training_screen_of(pilot, app)
            acc = screen.query_one("#acc-chart", MetricChart).points
            assert epochs_of(acc["val"]) == [3, 4, 5] and acc.get("parent val", []) == []
            folder_line = str(screen.query_one("#run-dir", Static).render())
            assert "parent is gone: epochs to 2 not drawn" in folder_line

    run(scenario())


def test_an_extended_run_shows_one_continuous_curve(tmp_path: Path) -> None:
    from tui_trainer.tui.app import TrainerApp
    from tui_trainer.tui.run.charts import MetricChart

    runs = tmp_path / "runs"
    extended = make_run(runs, "20261128-010000-smoke")  # 3 epochs, then 2 more in the same folder
    with (extended / "metrics.jsonl").open("a") as metrics:
        metrics.writelines(json.dumps({"epoch": e, "val_acc": 0.1 * e}) + "\n" for e in (4, 5))
    status = json.loads((extended / "status.json").read_text())
    extension = {"from_epochs": 3, "to_epochs": 5, "schedule": "constant", "at": "2026-11-28T02:00:00+00:00"}
    more = {"epochs_planned": 5, "epochs_done": 5, "extensions": [extension]}
    (extended / "status.json").write_text(json.dumps({**status, **more}))

    async def scenario() -> None:
        app = TrainerApp(extended, [], runs)
        async with app.run_test(size=SIZE) as pilot:
            screen = await training_screen_of(pilot, app)
            acc = screen.query_one("#acc-chart", MetricChart).points
            assert epochs_of(acc["val"]) == [1, 2, 3, 4, 5] and acc.get("parent val", []) == []
            assert "parent" not in str(screen.query_one("#run-dir", Static).render())

    run(scenario())


@pytest.mark.parametrize("size", [SIZE, NARROW])
def test_the_extend_prompt_shows_how_to_choose_the_schedule_above_its_filled_in_input(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    runs = tmp_path / "runs"
    make_run(runs, "20261128-020000-smoke", "finished")

    class Styled(Host):
        CSS_PATH = TrainerApp.CSS_PATH  # the console's dialog: its width and border

    async def scenario() -> None:
        app = Styled(runs)
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await pilot.press("e")
            await pilot.pause()
            assert isinstance(app.screen, ExtendPrompt) and app.screen.query_one(Input).value == "6"
            lines = screen_text(app).splitlines()
            assert any("type: EPOCHS [constant|restart|continue], e.g. 6 restart" in line for line in lines)

    run(scenario())

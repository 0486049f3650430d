"""The runs screen, the compare screen and the preset diff (Pilot, 80x24)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from textual.app import App
from textual.widgets import DataTable, Input, Static

from tests.console_kit import SIZE, make_run, run, wait_for
from tests.helpers import SMOKE, TINY, tiny_preset
from tui_trainer.runs.detach import DetachedRun
from tui_trainer.runs.folder import RunFolder
from tui_trainer.runs.preset_diff import MISSING, differing_keys, flatten, format_value, preset_diff
from tui_trainer.tui.messages import OpenRun, ResumeRun
from tui_trainer.tui.runs import screen as runs_screen
from tui_trainer.tui.runs.compare_screen import CompareChart, CompareScreen
from tui_trainer.tui.runs.screen import RunsScreen
from tui_trainer.tui.runs.summary_screen import RunSummaryScreen

pytestmark = pytest.mark.usefixtures("one_thread")


class Host(App[None]):
    """An App with the runs screen, recording the requests it posts as the console would handle them."""

    def __init__(self, runs: Path, hooks: bool = True) -> None:
        super().__init__()
        self.runs = runs
        self.in_console = hooks
        self.opened: list[tuple[Path, int | None]] = []
        self.resumed: list[Path] = []

    def on_mount(self) -> None:
        self.push_screen(RunsScreen(self.runs, in_console=self.in_console))

    def on_open_run(self, request: OpenRun) -> None:
        self.opened.append((request.path, request.expect_pid))

    def on_resume_run(self, request: ResumeRun) -> None:
        self.resumed.append(request.path)


def table_rows(screen: RunsScreen) -> list[list[str]]:
    table = screen.query_one("#runs-table", DataTable)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def test_the_list_shows_every_run_and_filters(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    make_run(runs, "20261128-010000-smoke")
    make_run(runs, "20261128-020000-smoke", "failed")
    broken = runs / "20261128-030000-future"
    broken.mkdir()
    (broken / "status.json").write_text('{"format": 9, "state": "running"}')

    async def scenario() -> None:
        app = Host(runs)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, RunsScreen)
            rows = table_rows(screen)
            assert [row[1] for row in rows] == ["broken", "failed", "finished"]
            assert "newer tui-trainer" in rows[0][6]  # the reason, in the list itself
            assert rows[2][3:5] == ["3/3", "30.0%"]
            await pilot.press("enter")  # a broken run does not open; the screen says why
            assert app.opened == [] and "newer" in str(screen.query_one("#runs-message", Static).render())
            await pilot.press("slash", *"fail")
            await pilot.pause()
            assert screen.query_one("#runs-filter", Input).value == "fail"
            assert [row[1] for row in table_rows(screen)] == ["failed"]
            await pilot.press("enter")  # from the filter back to the list
            await pilot.press("enter")
            assert app.opened == [(runs / "20261128-020000-smoke", None)]
            await pilot.press("r")
            assert app.resumed == [runs / "20261128-020000-smoke"]
            await pilot.press("escape")
            assert app.screen is not screen

    run(scenario())


def test_without_console_hooks_a_run_opens_read_only(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    make_run(runs, "20261128-010000-smoke")

    async def scenario() -> None:
        app = Host(runs, hooks=False)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, RunSummaryScreen)

    run(scenario())


def test_resume_detached_starts_a_child_and_attaches_to_it(tmp_path: Path, monkeypatch) -> None:
    runs = tmp_path / "runs"
    path = make_run(runs, "20261128-010000-smoke", "interrupted")
    make_run(runs, "20261128-020000-smoke", "finished")
    calls = []

    def fake_resume(run_dir: Path, trust_code: bool = False) -> DetachedRun:
        calls.append(run_dir)
        return DetachedRun(4242, run_dir, run_dir / "log.txt")

    monkeypatch.setattr(runs_screen, "resume_detached", fake_resume)

    async def scenario() -> None:
        app = Host(runs)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("d")  # the newest run finished: nothing to resume
            assert calls == [] and "finished" in str(app.screen.query_one("#runs-message", Static).render())
            await pilot.press("down", "d")
            assert calls == [path] and app.opened == [(path, 4242)]

    run(scenario())


@pytest.mark.slow
def test_x_sends_sigint_to_a_running_run(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    # A stand-in for a detached run: holds the folder's lock, "tui_trainer" on its command line, dies of SIGINT.
    folder = make_run(runs, "20261128-010000-smoke", "running")
    hold = f"from tui_trainer.runs import lock; lock.acquire({str(folder)!r}); print('held', flush=True)"
    child = subprocess.Popen(
        [sys.executable, "-c", f"{hold}; import time; time.sleep(60)", "tui_trainer"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "held"
        RunFolder(folder).write_status(pid=child.pid)

        async def scenario() -> None:
            app = Host(runs)
            async with app.run_test(size=SIZE) as pilot:
                await pilot.pause()
                assert table_rows(app.screen)[0][1] == "running"
                await pilot.press("x")
                assert f"pid {child.pid}" in str(app.screen.query_one("#runs-message", Static).render())

        run(scenario())
        assert child.wait(timeout=10) != 0  # KeyboardInterrupt
    finally:
        child.kill()
        child.wait()


def test_compare_overlays_the_curves_and_lists_the_preset_keys_that_differ(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    a = make_run(runs, "20261128-010000-smoke")
    b = make_run(runs, "20261128-020000-smoke", "finished", "optimizer.lr=0.01", "model.width=8")

    async def scenario() -> None:
        app = Host(runs)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("c")
            assert "select two" in str(app.screen.query_one("#runs-message", Static).render())
            await pilot.press("space", "space", "c")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, CompareScreen) and screen.run_dirs == [b, a]
            acc = screen.query_one("#compare-acc", CompareChart).series
            assert acc["A smoke"] == [(1, pytest.approx(12.0)), (2, pytest.approx(22.0)), (3, pytest.approx(32.0))]
            assert acc["B smoke"] == [(1, pytest.approx(10.0)), (2, pytest.approx(20.0)), (3, pytest.approx(30.0))]
            loss = screen.query_one("#compare-loss", CompareChart).series
            assert loss["B smoke"] == [(1, 2.2), (2, 1.1), (3, 2.2 / 3)]
            assert [key for key, _ in screen.diff_rows] == ["model.width", "optimizer.lr"]
            assert dict(screen.diff_rows)["optimizer.lr"] == ["0.01", "0.003"]
            table = screen.query_one("#compare-diff", DataTable)
            assert table.row_count == 2 and len(table.columns) == 3
            await pilot.press("escape")
            assert isinstance(app.screen, RunsScreen)

    run(scenario())


def test_preset_diff_by_key() -> None:
    assert flatten({"a": 1, "b": {"c": 2, "d": {"e": 3}}}) == {"a": 1, "b.c": 2, "b.d.e": 3}
    presets = [{"a": 1, "b.c": [1, 2], "n": "x"}, {"a": 1, "b.c": [1, 3], "n": "x", "new": True}]
    assert differing_keys(presets) == ["b.c", "new"]
    assert [format_value(v) for v in (MISSING, True, 0.001, "", [0.5, 1.0])] == ["—", "true", "0.001", "''", "[0.5, 1]"]


def test_preset_diff_reports_an_unreadable_preset(tmp_path: Path) -> None:
    good = make_run(tmp_path, "20261128-010000-smoke")
    bad = make_run(tmp_path, "20261128-020000-smoke")
    (bad / "preset.toml").write_text("[optimizer]\nlr = 'fast'\n")
    rows, problems = preset_diff([good, bad])
    assert rows == [] and len(problems) == 1 and "optimizer.lr" in problems[0]


def test_the_list_rescans_on_its_own(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    make_run(runs, "20261128-010000-smoke")

    async def scenario() -> None:
        app = Host(runs)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert len(table_rows(app.screen)) == 1
            make_run(runs, "20261128-020000-smoke", "running")
            deadline = time.monotonic() + 10
            while len(table_rows(app.screen)) < 2:
                assert time.monotonic() < deadline
                await pilot.pause(0.1)
            assert table_rows(app.screen)[0][1] == "running"

    run(scenario())


# In the console --------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_console_attaches_to_a_headless_run_and_stops_it(tmp_path: Path) -> None:
    """`tui-trainer RUN_DIR` of a run going in another process: points appear while it runs; x stops it."""
    from tui_trainer.runs.detach import find_run_by_pid
    from tui_trainer.tui.app import TrainerApp
    from tui_trainer.tui.run.training_screen import TrainingScreen

    runs = tmp_path / "runs"
    args = [sys.executable, "-m", "tui_trainer", "--headless", str(SMOKE), "--runs-dir", str(runs)]
    args += [a for s in (*TINY, "train.epochs=300", "scheduler.t_max=300") for a in ("--set", s)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while (run_dir := find_run_by_pid(runs, proc.pid)) is None:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)

        async def scenario() -> None:
            app = TrainerApp(run_dir, [], runs)
            async with app.run_test(size=SIZE) as pilot:
                await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen))
                await wait_for(pilot, lambda: app.history is not None and len(app.history.epochs) >= 2)
                assert app.history.state == "running" and app.history.run_dir == run_dir
                chart = app.screen.query_one("#acc-chart")
                await wait_for(pilot, lambda: len(chart.points["val"]) >= 2)
                await wait_for(pilot, lambda: app.history.confusion is not None and app.history.confusion.sum() == 64)
                await pilot.press("x", "y")  # x asks first
                await wait_for(pilot, lambda: app.history.state == "interrupted")
                assert app.history.epochs and RunFolder(run_dir).last_checkpoint.exists()

        run(scenario())
        assert proc.wait(timeout=30) == 130
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.slow
def test_the_console_starts_a_detached_run_in_a_session_of_its_own(tmp_path: Path) -> None:
    from tui_trainer.tui.app import TrainerApp
    from tui_trainer.tui.run.training_screen import TrainingScreen

    runs = tmp_path / "runs"

    async def scenario() -> int:
        app = TrainerApp(SMOKE, list(TINY), runs)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("ctrl+g")
            await wait_for(pilot, lambda: app.attachment is not None and isinstance(app.screen, TrainingScreen))
            pid = app.attachment.follower.expect_pid
            assert pid is not None and os.getsid(pid) == pid != os.getsid(0)
            await wait_for(pilot, lambda: app.history.state == "finished")
            assert [x for x, _ in app.screen.query_one("#loss-chart").points["val"]] == [1, 2]
            return pid

    run(scenario())
    [run_dir] = runs.iterdir()
    assert RunFolder(run_dir).read_status()["state"] == "finished"
    assert "finished after 2 epochs" in RunFolder(run_dir).log_file.read_text()


def test_the_runs_screen_resumes_an_interrupted_run_in_the_console(tmp_path: Path) -> None:
    from tui_trainer.engine.events import EpochFinished, RunControl
    from tui_trainer.runs.launch import run_training
    from tui_trainer.tui.app import TrainerApp
    from tui_trainer.tui.run.training_screen import TrainingScreen

    control = RunControl()
    outcome = run_training(
        tiny_preset("train.epochs=3", "scheduler.t_max=3"),
        runs_dir=tmp_path / "runs",
        listeners=[lambda e: control.stop() if isinstance(e, EpochFinished) else None],
        control=control,
    )
    assert outcome.state == "interrupted"

    async def scenario() -> None:
        app = TrainerApp(None, [], tmp_path / "runs")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("ctrl+l")
            await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
            assert table_rows(app.screen)[0][1] == "interrupted"
            await pilot.press("r")
            await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen))
            await wait_for(pilot, lambda: app.history.state == "finished")
            assert [r["epoch"] for r in app.history.epochs] == [1, 2, 3]
            assert app.history.run_dir == outcome.run_dir

    run(scenario())
    assert RunFolder(outcome.run_dir).read_status()["state"] == "finished"


def test_damaged_folders_are_listed_as_damaged_and_the_console_stays_up(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    as_list = make_run(runs, "20261128-010000-aslist", "interrupted")
    with open(as_list / "metrics.jsonl", "a") as handle:
        handle.write("[1, 2, 3]\n")
    text_epochs = make_run(runs, "20261128-020000-textepochs", "interrupted")
    status = json.loads((text_epochs / "status.json").read_text())
    (text_epochs / "status.json").write_text(json.dumps({**status, "epochs_planned": "three"}))
    huge = make_run(runs, "20261128-030000-huge", "interrupted")
    (huge / "status.json").write_text(json.dumps({**status, "epochs_done": 10**400}))
    evil = make_run(runs, "20261128-040000-evil\x1b[2J", "finished")
    assert evil.exists()

    async def scenario() -> None:
        app = Host(runs)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = app.screen
            what = [row[6] for row in table_rows(screen)]
            assert any("metrics.jsonl line 4: damaged: expected a JSON object, got list" in cell for cell in what)
            assert any("epochs_planned: expected a whole number" in row[6] for row in table_rows(screen))
            assert any("epochs_done: expected a whole number" in row[6] for row in table_rows(screen))
            assert all("\x1b" not in cell for row in table_rows(screen) for cell in row)
            for _ in range(4):  # walk every row, try to resume each: messages, no crash
                await pilot.press("r")
                await pilot.press("down")
            await pilot.pause()
            assert app.resumed == [] and app.is_running

    run(scenario())


@pytest.mark.slow
def test_a_console_following_an_interrupted_run_picks_up_its_resume(tmp_path: Path) -> None:
    """Another process resumes the run: "starting" until it reports, then running, epochs not doubled."""
    from tui_trainer.tui.app import TrainerApp
    from tui_trainer.tui.run.training_screen import TrainingScreen

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run_dir = make_run(tmp_path / "runs", "smoke", "running", pid=dead.pid)  # its process died
    folder = RunFolder(run_dir)
    folder.write_progress({"epoch": 4, "batch": 3, "batches": 5, "loss": 0.5, "accuracy": 0.6, "seconds": 1.0})
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])

    async def scenario() -> None:
        app = TrainerApp(run_dir, [], tmp_path / "runs")
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, TrainingScreen))
            await wait_for(pilot, lambda: app.history.state == "interrupted")
            assert len(app.history.epochs) == 3
            folder.write_status(state="running", pid=child.pid, classes=None, resumed_at="2026-11-28T11:00:00+00:00")
            await wait_for(pilot, lambda: app.history.state == "starting")
            assert str(child.pid) in app.history.setup_stage and app.history.progress is None
            folder.clear_progress()
            folder.write_status(classes=["a", "b"])  # the resumed process reports
            await wait_for(pilot, lambda: app.history.state == "running" and len(app.history.epochs) == 3)
            await pilot.pause(0.6)
            assert [r["epoch"] for r in app.history.epochs] == [1, 2, 3]

    try:
        run(scenario())
    finally:
        child.kill()
        child.wait()


def test_a_run_folder_given_on_the_command_line_lists_its_neighbours(tmp_path: Path, monkeypatch) -> None:
    """`tui-trainer elsewhere/runs/RUN` then ctrl+l: the runs beside RUN, not ./runs of the current folder."""
    from tui_trainer.tui.app import TrainerApp

    here = tmp_path / "here"
    make_run(here / "runs", "local-run", "finished", 'name="local"')
    elsewhere = tmp_path / "elsewhere" / "runs"
    run_dir = make_run(elsewhere, "far-run")
    make_run(elsewhere, "far-neighbour", "finished", 'name="neighbour"')
    monkeypatch.chdir(here)

    async def scenario() -> None:
        app = TrainerApp(run_dir, [], Path("runs"))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("ctrl+l")
            await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen))
            await pilot.pause(0.3)
            listed = " ".join(" ".join(row) for row in table_rows(app.screen))
            assert "neighbour" in listed and "local" not in listed, listed

    run(scenario())


def test_compare_fits_long_values_of_every_run_side_by_side_at_80_columns(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    long_a = "/data/" + "a" * 70
    long_b = "/data/" + "b" * 70
    make_run(runs, "20261128-010000-smoke", "finished", f'data.root="{long_a}"')
    make_run(runs, "20261128-020000-smoke", "finished", f'data.root="{long_b}"')

    async def scenario() -> None:
        app = Host(runs)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("space", "space", "c")
            await pilot.pause(0.3)
            screen = app.screen
            assert isinstance(screen, CompareScreen)
            table = screen.query_one("#compare-diff", DataTable)
            widths = sum(column.get_render_width(table) for column in table.columns.values())
            assert widths <= SIZE[0] - 2  # key, A and B all on screen
            row = [str(cell) for cell in table.get_row_at(0)]
            assert row[1].startswith("/data/bbb") and row[2].startswith("/data/aaa") and row[1].endswith("…")

    run(scenario())


def test_a_run_whose_process_is_stopped_reads_paused_in_the_list(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    stand_in = subprocess.Popen(["sleep", "60"])  # the run's process; ctrl+z in its terminal stops it
    try:
        make_run(runs, "20261128-010000-smoke", "running", pid=stand_in.pid)
        stand_in.send_signal(signal.SIGSTOP)
        for _ in range(500):  # delivered asynchronously
            if psutil.Process(stand_in.pid).status() == psutil.STATUS_STOPPED:
                break
            time.sleep(0.01)

        async def scenario() -> None:
            app = Host(runs)
            async with app.run_test(size=SIZE) as pilot:
                await pilot.pause()
                assert table_rows(app.screen)[0][1] == "paused"
                assert "paused (process stopped)" in str(app.screen.query_one("#runs-detail", Static).render())
                stand_in.send_signal(signal.SIGCONT)  # fg: the list says running at its next scan
                app.screen.rescan()
                await wait_for(pilot, lambda: table_rows(app.screen)[0][1] == "running")

        run(scenario())
    finally:
        stand_in.kill()
        stand_in.wait()

"""The sweep screen at 80×24: a study's trials sorted by any column, the best marked, Enter opens a run."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import DataTable, Static

from tui_trainer.runs.sweep_study import SweepFolder, open_storage
from tui_trainer.tui.common.confirm_screen import ConfirmScreen
from tui_trainer.tui.messages import OpenRun
from tui_trainer.tui.sweep.screen import SweepScreen

optuna = pytest.importorskip("optuna")


def make_study(folder: SweepFolder) -> None:
    """Four trials told by hand: values and params known, one pruned, one still running."""
    folder.path.mkdir(parents=True)
    study = optuna.create_study(storage=open_storage(folder), study_name="s", direction="maximize")
    study.set_user_attr(
        "spec", {"space": {"optimizer.lr": {}, "loss.smoothing": []}, "objective": {"metric": "val_acc"}}
    )
    for lr, smoothing, value, state in (
        (0.01, 0.1, 0.5, "COMPLETE"),
        (0.001, 0.0, 0.2, "PRUNED"),
        (0.003, 0.2, 0.7, "COMPLETE"),
    ):
        study.enqueue_trial({"optimizer.lr": lr, "loss.smoothing": smoothing})
        trial = study.ask()
        trial.suggest_float("optimizer.lr", 1e-4, 1e-1, log=True)
        trial.suggest_categorical("loss.smoothing", [0.0, 0.1, 0.2])
        trial.report(value, 1)
        if state == "PRUNED":
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, value)
    running = study.ask()
    running.set_user_attr("run_dir", str(folder.path / "trials" / "r3"))
    (folder.path / "trials" / "r3").mkdir(parents=True)


class Host(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.opened: list[Path] = []

    def on_open_run(self, request: OpenRun) -> None:
        self.opened.append(request.path)


def first_column(screen: SweepScreen) -> list[str]:
    table = screen.query_one("#sweep-table", DataTable)
    return [str(table.get_row_at(i)[0]).strip(" ●★") for i in range(table.row_count)]


def test_trials_sort_by_any_column_and_the_best_is_starred(tmp_path: Path) -> None:
    folder = SweepFolder(tmp_path / "s")
    make_study(folder)

    async def scenario() -> None:
        app = Host()
        async with app.run_test(size=(80, 24)) as pilot:
            screen = SweepScreen(folder.path)
            await app.push_screen(screen)
            for _ in range(50):
                await pilot.pause(0.05)
                if screen.rows:
                    break
            assert first_column(screen) == ["2", "0", "1", "3"]  # best objective first, no value last
            table = screen.query_one("#sweep-table", DataTable)
            assert str(table.get_row_at(0)[0]).startswith(" ★")
            screen.sort_by("param:optimizer.lr", descending=False)
            assert first_column(screen) == ["1", "2", "0", "3"]
            await pilot.press("r")
            assert first_column(screen) == ["0", "2", "1", "3"]
            screen.sort_by("state", descending=False)
            assert [screen.shown[i].state for i in range(4)] == ["finished", "finished", "pruned", "running"]
            await pilot.press("slash", *"pruned", "enter")
            assert first_column(screen) == ["1"]
            screen.query_one("#sweep-filter").value = ""
            await pilot.pause()
            screen.sort_by("trial", descending=True)
            table.move_cursor(row=0)  # trial 3, the only one with a run folder
            await pilot.press("enter")
            assert app.opened == [folder.path / "trials" / "r3"]

    asyncio.run(scenario())


@pytest.mark.parametrize("answer", ["n", "y"])
def test_a_sweep_folder_naming_a_database_is_read_only_after_the_user_says_yes(tmp_path: Path, answer: str) -> None:
    """A received sweep folder's sweep.toml may name any server: opening it asks first (No is the default),
    and without a yes nothing connects to it."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    connections: list[object] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            connections.append(conn)
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    folder = tmp_path / "sweeps" / "received"
    folder.mkdir(parents=True)
    url = f"postgresql://someone:s3cret@127.0.0.1:{port}/studies"
    (folder / "sweep.toml").write_text(f'preset = "smoke"\nstorage = "{url}"\n[space]\n"optimizer.lr" = [0.1]\n')

    async def scenario() -> None:
        app = Host()
        async with app.run_test(size=(80, 24)) as pilot:
            screen = SweepScreen(folder)
            await app.push_screen(screen)
            await pilot.pause(0.3)
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press(answer)
            for _ in range(40):
                await pilot.pause(0.1)
                if connections:
                    break
            message = str(screen.query_one("#sweep-message", Static).render())
            assert "s3cret" not in message + screen.sub_title

    try:
        asyncio.run(scenario())
    finally:
        done.set()
        thread.join()
        listener.close()
    assert bool(connections) == (answer == "y")

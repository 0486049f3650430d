"""A detached run records the command that runs it again, and that command works after the console is gone."""

from __future__ import annotations

import asyncio
import shlex
import subprocess
import time
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import Static

from tests.console_kit import make_run
from tests.helpers import tiny_preset
from tui_trainer.config import resolved_toml
from tui_trainer.runs.detach import headless_command, start_detached
from tui_trainer.runs.folder import RunFolder
from tui_trainer.tui.runs.screen import RunsScreen


def wait_until_ended(run_dir: Path, timeout: float = 240.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        state = RunFolder(run_dir).read_status().get("state")
        if state != "running":
            return str(state)
        assert time.monotonic() < deadline, f"{run_dir.name} still running"
        time.sleep(0.2)


@pytest.mark.slow
def test_an_unsaved_preset_run_detached_records_a_command_that_runs_it_again(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the children inherit it: a tiny run on one thread is quickest
    runs = tmp_path / "runs"
    unsaved = resolved_toml(tiny_preset("train.epochs=1", "scheduler.t_max=1", "train.seed=7"))
    first = start_detached(None, runs, preset_text=unsaved)
    folder = RunFolder(first.run_dir)
    assert first.command == tuple(headless_command(folder.preset_file, runs_dir=runs))
    assert folder.read_command() == shlex.join(first.command)
    assert [p.name for p in runs.iterdir() if p.name.startswith(".")] == []  # the temporary preset is gone
    assert wait_until_ended(first.run_dir) == "finished"

    again = subprocess.run(shlex.split(folder.read_command() or ""), capture_output=True, text=True, timeout=240)
    assert again.returncode == 0, again.stdout + again.stderr
    [second] = [p for p in runs.iterdir() if p.is_dir() and p != first.run_dir]
    assert RunFolder(second).read_status()["state"] == "finished"
    assert RunFolder(second).read_metrics()[0]["val_acc"] == folder.read_metrics()[0]["val_acc"]  # the same run


def test_a_saved_preset_run_detached_records_its_own_command_line(tmp_path: Path, monkeypatch) -> None:
    """Without a temporary file the command is the one the child was given: the preset and its overrides."""
    import tui_trainer.runs.detach as detach

    runs = tmp_path / "runs"
    run_dir = make_run(runs, "20261128-010000-smoke", "running", pid=4242)
    preset = tmp_path / "mine.toml"
    preset.write_text(resolved_toml(tiny_preset()))

    class Child:
        pid = 4242

        def poll(self) -> None:
            return None

    monkeypatch.setattr(detach, "spawn", lambda args, log: Child())
    started = start_detached(preset, runs, ["train.epochs=5"])
    assert started.run_dir == run_dir
    assert started.command == tuple(headless_command(preset, runs_dir=runs, overrides=["train.epochs=5"]))
    assert RunFolder(run_dir).read_command() == shlex.join(started.command)


def test_the_runs_screen_shows_the_recorded_command(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    run_dir = make_run(tmp_path / "runs", "20261128-010000-smoke")
    RunFolder(run_dir).write_command(["tui-trainer", "--headless", str(run_dir / "preset.toml")])

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(RunsScreen(Path("runs")))

    async def scenario() -> None:
        app = Host()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            detail = str(app.screen.query_one("#runs-detail", Static).render())
            assert detail.startswith("runs/20261128-010000-smoke\n")  # below the working folder: relative
            assert "command: tui-trainer --headless " in detail

    asyncio.run(scenario())

"""The command palette: every command has an action, is offered only when it can run, and does something."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import threading
from pathlib import Path

import pytest

from tests.console_kit import SIZE, FakeTrainer, wait_for
from tests.helpers import SMOKE, TINY
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.commands import COMMANDS, ConsoleCommands

ACTIONS = [action for _, _, action in COMMANDS]

# The state each command needs to be offered: idle (a preset open), running (a slow run going),
# finished (a run with epochs and a folder).
NEEDS = {
    "stop_training": "running",
    "pause_training": "running",
    "open_confusion": "finished",
    "evaluate": "finished",
    "open_evaluation": "finished",
    "export": "finished",
}


def copy_of_smoke(tmp_path: Path) -> Path:
    """The smoke preset where "Save preset" may write it."""
    path = tmp_path / "smoke.toml"
    shutil.copyfile(SMOKE, path)
    return path


def offered(app: TrainerApp) -> dict[str, object]:
    """Title -> callback of every command the palette lists now."""
    provider = ConsoleCommands(app.screen)
    return {title: callback for title, _, callback in provider._commands()}


def observable(app: TrainerApp) -> tuple[object, ...]:
    """What a user can see change: screens, notifications, the run's state, the preset being edited."""
    history = app.history
    return (
        tuple(id(screen) for screen in app.screen_stack),
        len(app._notifications),
        history.state if history is not None else None,
        id(app.document),
        len(app.workers),
    )


@pytest.mark.parametrize("action", ACTIONS)
def test_every_palette_command_has_an_action_that_does_something(action: str, tmp_path: Path) -> None:
    assert callable(getattr(TrainerApp, f"action_{action}", None)), f"no action_{action}"
    title = next(t for t, _, a in COMMANDS if a == action)
    state = NEEDS.get(action, "idle")

    async def scenario() -> None:
        # A run that is "running" stays so until the test ends: a loaded machine cannot finish it first.
        trainer = FakeTrainer(hold=threading.Event() if state == "running" else None)
        app = TrainerApp(copy_of_smoke(tmp_path), list(TINY), tmp_path / "runs", trainer=trainer)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            if state != "idle":
                app.action_start_training()
                done = "running" if state == "running" else "finished"
                await wait_for(pilot, lambda: app.history is not None and app.history.state == done)
                if state == "running":
                    await wait_for(pilot, lambda: app.history.progress is not None)
                app.action_show_presets()
                await pilot.pause()
            commands = offered(app)
            assert title in commands, f"{title!r} is not offered when the console is {state}"
            before = observable(app)
            app.call_later(commands[title])  # as the palette runs a chosen command
            with contextlib.suppress(AssertionError):  # a loaded machine shows it a few frames later
                await wait_for(pilot, lambda: observable(app) != before, timeout=10)
            assert observable(app) != before, f"{title!r} did nothing visible"
            if app.control is not None:
                app.stop_training(wait=True, timeout=10)

    asyncio.run(scenario())


def test_commands_that_cannot_run_now_are_not_offered(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = TrainerApp(copy_of_smoke(tmp_path), list(TINY), tmp_path / "runs", trainer=FakeTrainer())
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            titles = set(offered(app))
            hidden = {t for t, _, a in COMMANDS if a in NEEDS}
            assert not titles & hidden, f"offered with no run: {sorted(titles & hidden)}"
            assert "run: Start training" in titles and "preset: New preset" in titles

    asyncio.run(scenario())

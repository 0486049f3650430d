"""The console with a settings file: the theme chosen is kept, keymaps apply, a broken file still opens."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from textual.pilot import Pilot

from tests.console_kit import SIZE
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.common.help_screen import HelpScreen
from tui_trainer.tui.common.user_config import config_path
from tui_trainer.tui.preset.list_screen import PresetListScreen


def write_settings(text: str) -> None:
    config_path().parent.mkdir(parents=True, exist_ok=True)
    config_path().write_text(text)


def in_console(tmp_path: Path, check: Callable[[TrainerApp, Pilot], Awaitable[None]]) -> None:
    """Open the console (on its first screen), run `check`, close it."""

    async def run() -> None:
        app = TrainerApp(runs_dir=tmp_path / "runs")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, PresetListScreen)
            await check(app, pilot)

    asyncio.run(run())


async def opens_help(app: TrainerApp, pilot: Pilot, key: str) -> bool:
    await pilot.press(key)
    await pilot.pause()
    return isinstance(app.screen, HelpScreen)


def test_a_theme_chosen_is_saved_and_applied_at_the_next_start(tmp_path: Path) -> None:
    async def choose(app: TrainerApp, pilot: Pilot) -> None:
        assert app.theme == "textual-dark"
        app.theme = "solarized-light"  # what the palette's "Theme" does
        await pilot.pause()

    async def reopen(app: TrainerApp, pilot: Pilot) -> None:
        assert app.theme == "solarized-light"
        assert not app.current_theme.dark
        assert not app._notifications  # nothing wrong with the file

    in_console(tmp_path, choose)
    assert 'theme = "solarized-light"' in config_path().read_text()
    in_console(tmp_path, reopen)


def test_a_keymap_moves_a_binding_to_another_key(tmp_path: Path) -> None:
    write_settings('[keymap]\n"app.help" = "f9"\n')

    async def check(app: TrainerApp, pilot: Pilot) -> None:
        assert not await opens_help(app, pilot, "f1")  # its default key no longer opens help
        assert await opens_help(app, pilot, "f9")

    in_console(tmp_path, check)


def test_a_remap_onto_a_key_in_use_says_which_binding_lost_it(tmp_path: Path) -> None:
    write_settings('[keymap]\n"presets.new" = "o"\n')  # "o" was "Open path" on the same screen

    async def check(app: TrainerApp, pilot: Pilot) -> None:
        (note,) = app._notifications
        assert note.message == "presets.open_path (o) has no key now: a remapped binding took it"
        await pilot.press("o")
        await pilot.pause()
        assert app.document is not None  # a new preset opened, not the "Open path" prompt


def test_a_broken_settings_file_opens_the_console_with_one_notification(tmp_path: Path) -> None:
    write_settings('theme = "no-such-theme"\n\n[keymap]\n"app.nope" = "f9"\n"app.help" = "ctrl+nope"\n')

    async def check(app: TrainerApp, pilot: Pilot) -> None:
        assert app.theme == "textual-dark"
        (note,) = app._notifications
        assert str(config_path()) in note.title
        assert "line 1: theme: unknown theme 'no-such-theme'" in note.message
        assert "nord" in note.message  # what is allowed
        assert 'line 4: keymap."app.nope": unknown binding id' in note.message
        assert "line 5: keymap.\"app.help\": unknown key 'nope'" in note.message
        assert await opens_help(app, pilot, "f1")  # the bad remap is left out: help keeps its key

    in_console(tmp_path, check)


def test_a_settings_file_that_is_not_toml_opens_the_console_with_its_line(tmp_path: Path) -> None:
    write_settings('theme = "nord"\n[keymap\n')

    async def check(app: TrainerApp, pilot: Pilot) -> None:
        (note,) = app._notifications
        assert note.message.startswith("line 2: TOML syntax error")
        app.theme = "nord"  # a broken file is not overwritten by a theme change
        await pilot.pause()

    in_console(tmp_path, check)
    assert config_path().read_text() == 'theme = "nord"\n[keymap\n'

"""The console with a settings file: the theme chosen is kept, keymaps apply, a broken file still opens."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.help_screen import HelpScreen
from tui_trainer.tui.preset_list import PresetListScreen
from tui_trainer.tui.user_config import config_path

SIZE = (80, 24)


def test_a_theme_chosen_is_saved_and_applied_at_the_next_start(tmp_path: Path) -> None:
    async def run() -> None:
        app = TrainerApp(runs_dir=tmp_path / "runs")
        async with app.run_test(size=SIZE) as pilot:
            assert app.theme == "textual-dark"
            app.theme = "solarized-light"  # what the palette's "Change theme" does
            await pilot.pause()
        assert 'theme = "solarized-light"' in config_path().read_text()

        again = TrainerApp(runs_dir=tmp_path / "runs")
        async with again.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert again.theme == "solarized-light"
            assert not again.current_theme.dark
            assert not again._notifications  # nothing wrong with the file

    asyncio.run(run())


def test_a_keymap_moves_a_binding_to_another_key(tmp_path: Path) -> None:
    config_path().parent.mkdir(parents=True, exist_ok=True)
    config_path().write_text('[keymap]\n"app.help" = "f9"\n')

    async def run() -> None:
        app = TrainerApp(runs_dir=tmp_path / "runs")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("f1")  # its default key no longer opens help
            await pilot.pause()
            assert isinstance(app.screen, PresetListScreen)
            await pilot.press("f9")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)

    asyncio.run(run())


def test_a_broken_settings_file_opens_the_console_with_one_notification(tmp_path: Path) -> None:
    config_path().parent.mkdir(parents=True, exist_ok=True)
    config_path().write_text('theme = "no-such-theme"\n\n[keymap]\n"app.nope" = "f9"\n"app.help" = "ctrl+nope"\n')

    async def run() -> None:
        app = TrainerApp(runs_dir=tmp_path / "runs")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, PresetListScreen)
            assert app.theme == "textual-dark"
            notes = list(app._notifications)
            assert len(notes) == 1
            note = notes[0]
            assert str(config_path()) in note.title
            assert "line 1: theme: unknown theme 'no-such-theme'" in note.message
            assert "nord" in note.message  # what is allowed
            assert 'line 4: keymap."app.nope": unknown binding id' in note.message
            assert "line 5: keymap.\"app.help\": unknown key 'nope'" in note.message
            await pilot.press("f1")  # the bad remap is left out: help keeps its key
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)

    asyncio.run(run())


def test_a_settings_file_that_is_not_toml_opens_the_console_with_its_line(tmp_path: Path) -> None:
    config_path().parent.mkdir(parents=True, exist_ok=True)
    config_path().write_text('theme = "nord"\n[keymap\n')

    async def run() -> None:
        app = TrainerApp(runs_dir=tmp_path / "runs")
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, PresetListScreen)
            (note,) = app._notifications
            assert note.message.startswith("line 2: TOML syntax error")
            app.theme = "nord"  # a broken file is not overwritten by a theme change
            await pilot.pause()
        assert config_path().read_text() == 'theme = "nord"\n[keymap\n'

    asyncio.run(run())

"""The LR finder from the preset editor: f5 runs it, enter writes the suggestion and saves with the
comments kept, f6 undoes, escape leaves the preset alone (Pilot, with a fake finder)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from types import SimpleNamespace

from tests.console_kit import SIZE
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.preset.editor import PresetEditorScreen
from tui_trainer.tui.preset.lr_finder_screen import LRFinderScreen


def _fake_finder(calls: list, release: threading.Event | None = None):
    def finder(preset, *, steps, on_step, should_stop):
        calls.append(preset.optimizer.lr)
        on_step(1, steps, 1e-4, 2.3)
        if release is not None:
            release.wait(5)
        return SimpleNamespace(
            lrs=(1e-4, 1e-3, 1e-2, 1e-1),
            losses=(2.3, 2.1, 1.7, 3.0),
            smoothed=(2.3, 2.0, 1.8, 2.6),
            suggestion=0.0123456,
            rule="steepest descent of the smoothed loss",
        )

    return finder


async def _until(pilot, condition, tries: int = 50) -> None:
    for _ in range(tries):
        await pilot.pause(0.05)
        if condition():
            return
    raise AssertionError("condition not reached")


def _app(path: Path, tmp_path: Path, finder) -> TrainerApp:
    return TrainerApp(path, [], tmp_path / "runs", trainer=None, lr_finder=finder)


def test_f5_writes_the_suggestion_keeping_comments_and_f6_undoes(preset_file: Path, tmp_path: Path) -> None:
    original = preset_file.read_text()
    calls: list = []

    async def scenario() -> None:
        app = _app(preset_file, tmp_path, _fake_finder(calls))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, PresetEditorScreen)
            await pilot.press("f5")
            await _until(pilot, lambda: isinstance(app.screen, LRFinderScreen) and app.screen.result is not None)
            await pilot.press("enter")
            await _until(pilot, lambda: isinstance(app.screen, PresetEditorScreen))
            assert app.document is not None and app.document.preset.optimizer.lr == 0.0123
            assert not app.document.dirty  # saved
            assert preset_file.read_text() == original.replace("lr = 0.003", "lr = 0.0123")
            await pilot.press("f6")
            await pilot.pause()
            assert app.document.preset.optimizer.lr == 0.003

    asyncio.run(scenario())
    assert calls == [0.003]
    assert preset_file.read_text() == original


def test_escape_cancels_and_leaves_the_preset_alone(preset_file: Path, tmp_path: Path) -> None:
    original = preset_file.read_text()
    release = threading.Event()

    async def scenario() -> None:
        app = _app(preset_file, tmp_path, _fake_finder([], release))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("f5")
            await _until(pilot, lambda: isinstance(app.screen, LRFinderScreen))
            await pilot.press("enter")  # not finished yet: nothing to take
            assert isinstance(app.screen, LRFinderScreen)
            await pilot.press("escape")
            release.set()
            await _until(pilot, lambda: isinstance(app.screen, PresetEditorScreen))
            assert app.document is not None and not app.document.dirty

    asyncio.run(scenario())
    assert preset_file.read_text() == original

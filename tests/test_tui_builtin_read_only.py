"""A built-in preset is never rewritten: the editor opens it read-only and ctrl+s or the LR finder's
enter ask where to save a copy, proposing ./presets/<name>.toml (Pilot, 80x24, with a fake finder)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.console_kit import SIZE, editor_app, run, type_into, wait_for
from tui_trainer.config.builtin import builtin_preset_dir, resolve_preset_arg
from tui_trainer.config.preset_document import PresetDocument
from tui_trainer.config.saving import save_preset
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.common.path_prompt import PathPrompt
from tui_trainer.tui.preset.editor import PresetEditorScreen
from tui_trainer.tui.preset.lr_finder_screen import LRFinderScreen

BUILTIN = builtin_preset_dir() / "smoke.toml"


def _finder(preset, *, steps, on_step, should_stop):
    on_step(1, steps, 1e-4, 2.3)
    return SimpleNamespace(
        lrs=(1e-4, 1e-3, 1e-2), losses=(2.3, 1.9, 3.0), smoothed=(2.3, 2.0, 2.6), suggestion=0.0123, rule="steepest"
    )


async def _save_at_the_proposed_path(pilot, app: TrainerApp) -> None:
    await wait_for(pilot, lambda: isinstance(app.screen, PathPrompt))
    assert app.screen.query_one("#path-input").value == "presets/smoke.toml"
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, PresetEditorScreen))


def test_ctrl_s_on_a_builtin_saves_a_copy_in_presets_and_edits_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    before = BUILTIN.read_bytes()

    async def scenario() -> None:
        app = editor_app(resolve_preset_arg("smoke"), tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert app.document is not None and app.document.read_only
            assert "read-only" in app.screen.sub_title
            await type_into(pilot, app, "data.batch_size", "32")
            await pilot.press("ctrl+s")
            await _save_at_the_proposed_path(pilot, app)
            assert app.document.path == Path("presets/smoke.toml") and not app.document.read_only
            assert "read-only" not in app.screen.sub_title

    run(scenario())
    assert BUILTIN.read_bytes() == before
    assert "batch_size = 32" in (tmp_path / "presets" / "smoke.toml").read_text()


def test_the_lr_finders_enter_on_a_builtin_saves_a_copy(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    before = BUILTIN.read_bytes()

    async def scenario() -> None:
        app = TrainerApp(resolve_preset_arg("smoke"), [], tmp_path / "runs", lr_finder=_finder)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("f5")
            await wait_for(pilot, lambda: isinstance(app.screen, LRFinderScreen) and app.screen.result is not None)
            await pilot.press("enter")
            await _save_at_the_proposed_path(pilot, app)

    run(scenario())
    assert BUILTIN.read_bytes() == before
    assert "lr = 0.0123" in (tmp_path / "presets" / "smoke.toml").read_text()


def test_no_writer_of_presets_writes_into_the_builtin_folder() -> None:
    before = BUILTIN.read_bytes()
    doc = PresetDocument.open(BUILTIN)
    with pytest.raises(PermissionError, match="built-in preset"):
        doc.save(BUILTIN)  # even when the user types its path
    assert doc.preset is not None
    with pytest.raises(PermissionError, match="built-in preset"):
        save_preset(BUILTIN, doc.preset)
    assert BUILTIN.read_bytes() == before

"""A new preset runs as it is, offline (generated images), and the console says how to use real data."""

from __future__ import annotations

from pathlib import Path

from tests.console_kit import SIZE, run
from tests.console_kit import editor_app as make_app
from tui_trainer.config import load_preset_text
from tui_trainer.config.preset_document import PresetDocument
from tui_trainer.data import load_data
from tui_trainer.tui.preset.editor import PresetEditorScreen


def test_a_new_preset_loads_its_data_with_no_network_or_files(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TUI_TRAINER_CACHE", str(tmp_path / "cache"))
    document = PresetDocument.new()
    assert document.valid and not document.dirty
    assert "synthetic" in document.text.splitlines()[1] and "offline" in document.text.splitlines()[1]
    small = ("data.synthetic_train_size=24", "data.synthetic_val_size=12", "data.image_size=16")
    preset = load_preset_text(document.text, "<new preset>", small)
    splits = load_data(preset.data, seed=preset.train.seed)
    assert len(splits.train) == 24 and len(splits.val) == 12


def test_the_console_says_what_a_new_preset_trains_on(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = make_app(None, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            app.action_new_preset()
            await pilot.pause()
            await pilot.pause()
            assert isinstance(app.screen, PresetEditorScreen)
            assert app.screen.row("data.dataset").editor.value == "synthetic"
            messages = [n.message for n in app._notifications]
            assert any("synthetic" in m and "offline" in m and "imagefolder" in m for m in messages)

    run(scenario())

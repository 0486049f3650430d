"""The editor opens ready to type: the first field of the form has focus (the raw view for a broken file)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, TextArea

from tests.console_kit import SIZE, run
from tests.console_kit import editor_app as make_app
from tui_trainer.tui.preset.editor import PresetEditorScreen
from tui_trainer.tui.preset.form import FieldRow


def test_the_first_field_has_focus_on_open_and_typing_edits_it(preset_file: Path, tmp_path: Path) -> None:
    async def scenario() -> None:
        app = make_app(preset_file, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            editor = app.screen
            assert isinstance(editor, PresetEditorScreen)
            first_row = editor.query(FieldRow).first()
            assert app.focused is first_row.editor
            assert isinstance(app.focused, Input)
            await pilot.press("end", "x")
            await pilot.pause()
            assert app.document is not None and app.document.dirty
            assert first_row.spec.path in app.document.pending or app.document.text != preset_file.read_text()

    run(scenario())


def test_back_from_the_raw_view_focuses_the_form_again(preset_file: Path, tmp_path: Path) -> None:
    async def scenario() -> None:
        app = make_app(preset_file, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("f3")
            await pilot.pause()
            assert isinstance(app.focused, TextArea)
            await pilot.press("f3")
            await pilot.pause()
            assert app.focused is app.screen.query(FieldRow).first().editor

    run(scenario())


def test_a_broken_file_opens_with_the_raw_view_focused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('name = "x"\n[train]\nepochs = \n')

    async def scenario() -> None:
        app = make_app(broken, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert isinstance(app.focused, TextArea) and app.focused.id == "raw-toml"

    run(scenario())

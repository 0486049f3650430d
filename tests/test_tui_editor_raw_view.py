"""The raw TOML view: coloured by tree-sitter, left with one escape, opened at the first problem (Pilot, 80x24)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Static, TextArea

from tests.console_kit import SIZE, run
from tests.console_kit import editor_app as make_app
from tui_trainer.tui.preset import editor as preset_editor
from tui_trainer.tui.preset.list_screen import PresetListScreen


def highlight_names(area: TextArea, row: int) -> dict[str, set[str]]:
    """The text of each highlighted span on a line -> the highlight names it has."""
    line = area.document[row]
    out: dict[str, set[str]] = {}
    for start, end, name in area._highlights[row]:
        out.setdefault(line[start:end], set()).add(name)
    return out


async def open_raw_view(pilot) -> TextArea:
    await pilot.pause()
    await pilot.press("f3")
    await pilot.pause()
    return pilot.app.screen.query_one("#raw-toml", TextArea)


def test_the_raw_view_colours_keys_and_strings_differently(preset_file: Path, tmp_path: Path) -> None:
    async def scenario() -> None:
        app = make_app(preset_file, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            area = await open_raw_view(pilot)
            assert area.language == "toml"
            row = area.text.splitlines().index('name = "smoke"')
            spans = highlight_names(area, row)
            assert "string" in spans['"smoke"']
            assert spans["name"] and "string" not in spans["name"]
            comment_row = 0
            assert "comment" in highlight_names(area, comment_row)[area.document[comment_row]]

    run(scenario())


def test_without_the_toml_grammar_the_raw_view_is_plain_text(
    preset_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(preset_editor, "get_language", lambda name: None)

    async def scenario() -> None:
        app = make_app(preset_file, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            area = await open_raw_view(pilot)
            assert area.language is None and area.text == preset_file.read_text()

    run(scenario())


def test_one_escape_leaves_the_raw_view_and_tab_still_indents(preset_file: Path, tmp_path: Path) -> None:
    async def scenario() -> None:
        app = make_app(preset_file, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            area = await open_raw_view(pilot)
            area.move_cursor((area.document.line_count - 1, 0))
            await pilot.press("tab")
            await pilot.pause()
            assert area.has_focus and area.text.endswith("\n    ")  # tab indents, focus stays
            await pilot.press("backspace", "backspace", "backspace", "backspace")
            await pilot.pause()
            assert area.text == preset_file.read_text()
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, PresetListScreen)

    run(scenario())


BAD_VALUE = 'name = "x"\n\n[data]\ndataset = "synthetic"\n\n[train]\nseed = 0\nepochs = 0\n'
"""A preset whose only problem is on line 8."""


@pytest.mark.slow
def test_a_preset_with_a_problem_opens_with_the_cursor_on_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(BAD_VALUE)

    async def scenario() -> None:
        app = make_app(path, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            area = app.screen.query_one("#raw-toml", TextArea)
            assert app.focused is area and area.cursor_location == (7, 0)
            problems = app.screen.query_one("#raw-problems", Static)
            assert str(problems.render()).startswith("line 8: train.epochs")
            assert problems.region.height > 0 and problems.region.bottom <= SIZE[1]  # on screen at 80x24
            await pilot.press("f3")  # to the form and back: the cursor is taken to the problem again
            await pilot.pause()
            area.move_cursor((0, 0))
            await pilot.press("f3")
            await pilot.pause()
            assert area.has_focus and area.cursor_location == (7, 0)

    run(scenario())

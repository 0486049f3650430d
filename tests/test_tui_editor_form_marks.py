"""What the form shows beside a value: an empty box for false, the preset file's own comments (Pilot, 80x24)."""

from __future__ import annotations

import shutil
from pathlib import Path

from textual.widgets import Checkbox, Static, TextArea

from tests.console_kit import SIZE, run, wait_for
from tests.console_kit import editor_app as make_app
from tests.helpers import REPO
from tui_trainer.config.preset_document import field_comments
from tui_trainer.tui.preset.editor import PresetEditorScreen

SEED = REPO / "presets" / "seed.toml"


def checkbox_text(editor: PresetEditorScreen, path: str) -> str:
    box = editor.row(path).editor
    assert isinstance(box, Checkbox)
    return box.render().plain.rstrip()


async def open_editor(pilot) -> PresetEditorScreen:
    await pilot.pause()
    editor = pilot.app.screen
    assert isinstance(editor, PresetEditorScreen)
    return editor


def test_a_false_checkbox_is_drawn_empty_and_a_true_one_checked(tmp_path: Path) -> None:
    path = tmp_path / "seed.toml"
    shutil.copyfile(SEED, path)  # download = true, drop_last = false

    async def scenario() -> None:
        app = make_app(path, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            editor = await open_editor(pilot)
            assert checkbox_text(editor, "data.download") == "▐X▌ true"
            assert checkbox_text(editor, "data.drop_last") == "▐ ▌ false"
            editor.focus_field("data.drop_last")
            await pilot.press("space")
            await pilot.pause()
            assert checkbox_text(editor, "data.drop_last") == "▐X▌ true"
            assert app.document is not None and "drop_last = true" in app.document.text

    run(scenario())


def test_the_comments_of_a_key_are_read_from_the_file() -> None:
    text = (
        '# header\n\nname = "x"  # the run name\n\n'
        '[data]\n# where\n# the images are\nroot = ""\n\n# lone\n\nbatch_size = 8\n'
        "[train]\n# above a dotted key\nema.decay = 0.9\n"
    )
    assert field_comments(text) == {
        "name": "# the run name",
        "data.root": "# where\n# the images are",
        "train.ema.decay": "# above a dotted key",
    }
    assert field_comments("name = \n") == {}  # not TOML: nothing, no error


def test_the_form_shows_each_fields_comment_from_the_preset(tmp_path: Path) -> None:
    path = tmp_path / "seed.toml"
    shutil.copyfile(SEED, path)

    async def scenario() -> None:
        app = make_app(path, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            editor = await open_editor(pilot)
            editor.focus_field("data.root")
            comment = editor.row("data.root").query_one(".field-comment", Static)
            # laid out, then scrolled into view after the next refresh (late on a loaded machine)
            await wait_for(pilot, lambda: comment.region.height > 0 and comment.region.bottom <= SIZE[1])
            assert str(comment.render()).startswith("# Open: where CIFAR-10 lives.")
            assert comment.display and comment.region.height >= 2 and comment.region.bottom <= SIZE[1]
            trailing = editor.row("data.batch_size").query_one(".field-comment", Static)
            assert str(trailing.render()) == '# "a batch size of 64", for training and validation alike'
            assert not editor.row("data.download").query_one(".field-comment", Static).display
            await pilot.press("f3")  # a comment written in the raw view reaches the form
            await pilot.pause()
            area = editor.query_one("#raw-toml", TextArea)
            area.text = area.text.replace("download = true", "download = true  # fetch it once")
            await pilot.pause()
            fresh = editor.row("data.download").query_one(".field-comment", Static)
            assert fresh.display and str(fresh.render()) == "# fetch it once"

    run(scenario())

"""The editor greys out the keys the current choice ignores, and follows the choice as it changes (Pilot, 80x24)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Select, TextArea
from textual.widgets._tooltip import Tooltip

from tests.console_kit import SIZE, run
from tests.console_kit import editor_app as make_app
from tui_trainer.tui.preset.editor import PresetEditorScreen


def _unused(editor: PresetEditorScreen, path: str) -> bool:
    row = editor.row(path)
    assert row.has_class("-unused") == row.editor.disabled  # dimmed exactly when it cannot be edited
    return row.has_class("-unused")


def test_keys_the_optimiser_ignores_are_greyed_and_follow_the_choice(preset_file: Path, tmp_path: Path) -> None:
    async def scenario() -> None:
        app = make_app(preset_file, tmp_path)
        async with app.run_test(size=SIZE, tooltips=True) as pilot:
            await pilot.pause()
            editor = app.screen
            assert isinstance(editor, PresetEditorScreen)
            assert app.document is not None and app.document.preset is not None
            assert app.document.preset.optimizer.name == "adamw"  # the smoke preset
            assert _unused(editor, "optimizer.momentum") and _unused(editor, "optimizer.nesterov")
            assert editor.row("optimizer.momentum").tooltip == "used by: rmsprop, sgd"
            assert not _unused(editor, "optimizer.beta1") and not _unused(editor, "optimizer.lr")

            # Tab skips what adamw ignores: weight_decay -> eps (momentum, alpha greyed).
            editor.focus_field("optimizer.weight_decay")
            await pilot.pause()
            await pilot.press("tab")
            assert app.focused is editor.row("optimizer.eps").editor

            # Hovering the greyed editor says which optimisers read it.
            await pilot.hover(editor.row("optimizer.momentum").editor)
            await pilot.pause(app.TOOLTIP_DELAY + 0.3)
            tooltip = app.screen.query_one(Tooltip)
            assert tooltip.display and "used by: rmsprop, sgd" in str(tooltip.render())

            # Pick sgd from the dropdown: momentum and nesterov come back, the Adam keys go grey.
            editor.focus_field("optimizer.name")
            await pilot.pause()
            await pilot.press("enter", "up", "enter")
            await pilot.pause()
            assert app.document.preset.optimizer.name == "sgd"
            assert not _unused(editor, "optimizer.momentum") and not _unused(editor, "optimizer.nesterov")
            assert _unused(editor, "optimizer.beta1") and _unused(editor, "optimizer.eps")
            assert editor.row("optimizer.beta1").tooltip == "used by: adamw"
            assert editor.row("optimizer.momentum").tooltip is None

    run(scenario())


def test_the_form_greys_by_the_loaded_choices_and_follows_the_raw_view(preset_file: Path, tmp_path: Path) -> None:
    async def scenario() -> None:
        app = make_app(preset_file, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            editor = app.screen
            assert isinstance(editor, PresetEditorScreen)
            assert app.document is not None and app.document.preset is not None
            assert app.document.preset.data.dataset == "synthetic"  # the smoke preset
            assert not _unused(editor, "data.synthetic_train_size") and not _unused(editor, "data.image_size")
            assert _unused(editor, "data.download") and _unused(editor, "data.val_fraction")
            assert editor.row("data.root").tooltip == "used by: cifar10, imagefolder, csv, shards, hf"
            assert _unused(editor, "scheduler.pct_start") and not _unused(editor, "scheduler.t_max")  # cosine
            await pilot.press("f3")
            area = editor.query_one("#raw-toml", TextArea)
            area.text = area.text.replace('name = "cosine"', 'name = "onecycle"')
            await pilot.pause()
            await pilot.press("f3")
            await pilot.pause()
            assert app.document.preset.scheduler.name == "onecycle"
            select = editor.row("scheduler.name").editor
            assert isinstance(select, Select) and select.value == "onecycle"
            assert not _unused(editor, "scheduler.pct_start") and _unused(editor, "scheduler.t_max")

    run(scenario())

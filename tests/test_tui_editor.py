"""The console's preset side: list, form, raw TOML view, saving, keys and commands (Pilot, 80x24)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from textual.widgets import Input, Select, Static, TextArea

from tests.console_kit import SIZE, run, type_into
from tests.console_kit import editor_app as make_app
from tests.helpers import SMOKE
from tui_trainer.config.catalog import preset_sources
from tui_trainer.config.preset_document import PresetDocument
from tui_trainer.config.recent import load_recent, recent_file, remember
from tui_trainer.tui.common.confirm_screen import ConfirmScreen
from tui_trainer.tui.common.help_screen import HelpScreen
from tui_trainer.tui.common.path_prompt import PathPrompt
from tui_trainer.tui.preset.editor import PresetEditorScreen
from tui_trainer.tui.preset.list_screen import PresetListScreen
from tui_trainer.tui.run.training_screen import TrainingScreen
from tui_trainer.tui.runs.summary_screen import RunSummaryScreen

# The document, without a UI ------------------------------------------------------------------


def test_document_edit_validates_through_the_loader_and_keeps_comments(preset_file: Path) -> None:
    doc = PresetDocument.open(preset_file)
    original = preset_file.read_text()
    problems = doc.set_field("optimizer.lr", "0")
    assert "greater than 0" in problems["optimizer.lr"][0]
    assert not doc.valid and doc.preset is not None and doc.preset.optimizer.lr == 0.003
    doc.set_field("optimizer.lr", "0.01")
    assert doc.valid and doc.preset.optimizer.lr == 0.01
    assert doc.text == original.replace("lr = 0.003", "lr = 0.01")


def test_document_marks_a_rule_between_two_fields_at_both() -> None:
    doc = PresetDocument.open(SMOKE)
    problems = doc.set_field("data.dataset", '"imagefolder"')
    assert "imagefolder needs root" in problems["data.root"][0]
    assert "conflicts with data.root" in problems["data.dataset"][0]
    doc.set_field("data.root", '"/data/shapes"')
    assert doc.valid and doc.preset is not None and doc.preset.data.dataset == "imagefolder"


# The editor ------------------------------------------------------------------------------------


def test_editing_a_field_updates_the_preset(preset_file: Path, tmp_path: Path) -> None:
    async def scenario() -> None:
        app = make_app(preset_file, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await type_into(pilot, app, "train.epochs", "7")
            assert app.document is not None and app.document.preset is not None
            assert app.document.preset.train.epochs == 7
            assert app.document.dirty
            select = app.screen.row("optimizer.name").editor
            assert isinstance(select, Select)
            select.value = "sgd"
            await pilot.pause()
            assert app.document.preset.optimizer.name == "sgd"
            assert 'name = "sgd"' in app.document.text

    run(scenario())


def test_an_invalid_value_is_shown_at_the_field_and_blocks_training(preset_file: Path, tmp_path: Path) -> None:
    async def scenario() -> None:
        app = make_app(preset_file, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await type_into(pilot, app, "optimizer.lr", "-1")
            row = app.screen.row("optimizer.lr")
            assert row.has_class("-invalid")
            message = str(row.query_one(".field-error", Static).render())
            assert "greater than 0" in message and "allowed: a number > 0" in message
            assert app.document is not None and not app.document.valid
            await pilot.press("ctrl+r")
            await pilot.pause()
            assert not app.training_active and app.history is None
            assert any("Cannot start" in (n.title or "") for n in app._notifications)
            await type_into(pilot, app, "optimizer.lr", "0.5")
            assert not row.has_class("-invalid") and app.document.valid

    run(scenario())


def test_save_keeps_comments_byte_for_byte_outside_the_edited_value(preset_file: Path, tmp_path: Path) -> None:
    original = preset_file.read_text()

    async def scenario() -> None:
        app = make_app(preset_file, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await type_into(pilot, app, "data.batch_size", "32")
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert app.document is not None and not app.document.dirty

    run(scenario())
    assert preset_file.read_text() == original.replace("batch_size = 64", "batch_size = 32")
    assert json.loads(recent_file().read_text())["recent"][0] == str(preset_file.resolve())


def test_save_on_a_read_only_builtin_asks_for_a_new_path(preset_file: Path, tmp_path: Path) -> None:
    async def scenario() -> None:
        app = make_app(preset_file, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert app.document is not None
            app.document.read_only = True
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, PathPrompt)
            prompt = app.screen.query_one(Input)
            prompt.value = str(tmp_path / "copy.toml")
            await pilot.press("enter")
            await pilot.pause()
            assert app.document.path == tmp_path / "copy.toml"

    run(scenario())
    assert (tmp_path / "copy.toml").read_text() == preset_file.read_text()


@pytest.mark.slow
def test_raw_toml_edits_are_validated_with_line_numbers_and_reach_the_form(preset_file: Path, tmp_path: Path) -> None:
    async def scenario() -> None:
        app = make_app(preset_file, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("f3")
            await pilot.pause()
            area = app.screen.query_one("#raw-toml", TextArea)
            assert area.has_focus and area.text == preset_file.read_text()
            bad = area.text.replace("epochs = 3", "epochs = 0")
            line = bad.splitlines().index("epochs = 0") + 1
            area.text = bad
            await pilot.pause()
            problems = str(app.screen.query_one("#raw-problems", Static).render())
            assert f"line {line}: train.epochs: got 0" in problems
            assert app.document is not None and not app.document.valid
            area.text = bad.replace("epochs = 0", "epochs = 5").replace("[model", "# kept\n[model")
            await pilot.pause()
            assert app.document.valid and app.document.preset.train.epochs == 5
            field = app.screen.row("train.epochs").editor
            assert isinstance(field, Input) and field.value == "5"
            await pilot.press("f3")
            await type_into(pilot, app, "train.epochs", "6")
            assert "# kept\n[model" in app.document.text and "epochs = 6" in app.document.text

    run(scenario())


def test_a_toml_syntax_error_opens_the_raw_view_with_the_cursor_at_its_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('name = "x"\n[train]\nepochs = \n')

    async def scenario() -> None:
        app = make_app(broken, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            problems = str(app.screen.query_one("#raw-problems", Static).render())
            assert problems.startswith("line 3: TOML syntax error")
            assert app.screen.query_one("#raw-toml", TextArea).cursor_location[0] == 2

    run(scenario())


def test_leaving_the_editor_with_unsaved_changes_asks(preset_file: Path, tmp_path: Path) -> None:
    async def scenario() -> None:
        app = make_app(preset_file, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await type_into(pilot, app, "train.seed", "5")
            app.screen.set_focus(None)
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("escape")  # cancel: still editing
            await pilot.pause()
            assert isinstance(app.screen, PresetEditorScreen)
            await pilot.press("escape", "d")  # discard
            await pilot.pause()
            assert isinstance(app.screen, PresetListScreen) and app.document is None
            await pilot.press("ctrl+q")
            await pilot.pause()
        assert app.return_code == 0

    run(scenario())
    assert "seed = 5" not in preset_file.read_text()


def test_quitting_with_unsaved_changes_asks_once(preset_file: Path, tmp_path: Path) -> None:
    async def scenario() -> None:
        app = make_app(preset_file, tmp_path, overrides=("train.seed=3",))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await type_into(pilot, app, "train.epochs", "4")
            await pilot.press("ctrl+q")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("ctrl+q")  # again, impatiently: the same question, not a second one
            await pilot.pause()
            assert sum(isinstance(screen, ConfirmScreen) for screen in app.screen_stack) == 1
            await pilot.press("s")
            await pilot.pause()
        assert app.return_code == 0

    run(scenario())
    saved = preset_file.read_text()
    assert "epochs = 4" in saved and "seed = 3" in saved  # a save writes the --set values too


def test_set_overrides_alone_are_not_unsaved_edits(preset_file: Path, tmp_path: Path) -> None:
    original = preset_file.read_text()

    async def scenario() -> None:
        app = make_app(preset_file, tmp_path, overrides=("train.seed=3",))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            doc = app.document
            assert doc is not None and doc.preset is not None and doc.preset.train.seed == 3
            assert doc.dirty and not doc.edited  # not the file, but nothing typed here
            status = str(app.screen.query_one("#doc-status", Static).render())
            assert "--set train.seed=3 (not saved)" in status and "modified" not in status
            await pilot.press("escape")  # back to the list: nothing to ask
            await pilot.pause()
            assert isinstance(app.screen, PresetListScreen)
            await pilot.press("ctrl+q")
            await pilot.pause()
        assert app.return_code == 0

    run(scenario())
    assert preset_file.read_text() == original


def test_quitting_with_only_set_overrides_does_not_ask(preset_file: Path, tmp_path: Path) -> None:
    async def scenario() -> None:
        app = make_app(preset_file, tmp_path, overrides=("train.seed=3", "train.epochs=2"))
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("ctrl+q")
            await pilot.pause()
            assert not isinstance(app.screen, ConfirmScreen)
        assert app.return_code == 0

    run(scenario())


# Lists, keys, commands --------------------------------------------------------------------------


def test_the_preset_list_has_builtin_local_and_recent_presets(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "presets").mkdir()
    shutil.copyfile(SMOKE, tmp_path / "presets" / "mine.toml")
    elsewhere = tmp_path / "elsewhere.toml"
    shutil.copyfile(SMOKE, elsewhere)
    remember(elsewhere)
    monkeypatch.chdir(tmp_path)
    groups = {(group, path.name) for group, path in preset_sources()}
    assert {("built-in", "smoke.toml"), ("built-in", "seed.toml"), ("./presets", "mine.toml")} <= groups
    assert ("recent", "elsewhere.toml") in groups
    assert load_recent() == [elsewhere.resolve()]

    async def scenario() -> None:
        app = make_app(None, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, PresetListScreen)
            await pilot.press("enter")  # the first preset
            await pilot.pause()
            assert isinstance(app.screen, PresetEditorScreen)
            assert app.document is not None and app.document.path == screen.paths[0]

    run(scenario())


def test_help_lists_the_keys_of_the_screen(preset_file: Path, tmp_path: Path) -> None:
    async def scenario() -> None:
        app = make_app(preset_file, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("f1")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            described = {description for _, description in app.screen._keys}
            assert {"Save", "Train", "TOML", "Quit", "Help", "Presets"} <= described
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, PresetEditorScreen)

    run(scenario())


def test_the_command_palette_offers_run_and_preset_commands(preset_file: Path, tmp_path: Path) -> None:
    from tui_trainer.tui.commands import ConsoleCommands

    async def scenario() -> None:
        app = make_app(preset_file, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            provider = ConsoleCommands(app.screen)
            titles = [hit.text async for hit in provider.discover()]
            assert "run: Start training" in titles
            for idle in ("run: Stop training", "run: Open confusion matrix"):  # no run: nothing to stop or show
                assert idle not in titles
            assert "preset: Save preset" in titles
            hits = [hit async for hit in provider.search("save preset")]
            assert hits and hits[0].text.startswith("preset: Save preset")
            app.document.set_field("train.seed", "9")
            await hits[0].command()
            await pilot.pause()
            assert not app.document.dirty
            await pilot.press("ctrl+p")
            await pilot.pause()
            assert type(app.screen).__name__ == "CommandPalette"

    run(scenario())
    assert "seed = 9" in preset_file.read_text()


def test_a_run_folder_opens_with_its_charts(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "20260101-000000-smoke"
    run_dir.mkdir(parents=True)
    (run_dir / "status.json").write_text(
        json.dumps({"format": 1, "state": "finished", "preset_name": "smoke", "epochs_planned": 2})
    )
    records = [
        {"epoch": e, "train_loss": 1.0 / e, "train_acc": 0.4 * e, "val_loss": 1.2 / e, "val_acc": 0.35 * e, "lr": 0.01}
        for e in (1, 2)
    ]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))

    async def scenario() -> None:
        app = make_app(run_dir, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            for _ in range(200):  # the run's files are read on a worker
                await pilot.pause(0.02)
                charts = app.screen.query("#loss-chart")
                if charts and charts.first().points["val"] == [(1, 1.2), (2, 0.6)]:
                    break
            else:
                raise AssertionError("the run's metrics never reached the chart")
            assert isinstance(app.screen, (RunSummaryScreen, TrainingScreen))

    run(scenario())

"""What the console shows of its keys at 80x24: footers that fit, a help that lists the console's own keys."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from PIL import Image
from textual.binding import Binding, BindingType
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from tests.console_kit import NARROW, SIZE, wait_for
from tests.helpers import tiny_preset
from tui_trainer.config import resolved_toml
from tui_trainer.runs.folder import RunFolder
from tui_trainer.runs.report import confusion_from_predictions
from tui_trainer.runs.thumbnails import thumbnails_file
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.common.help_screen import PALETTE_ROW, HelpScreen, help_rows
from tui_trainer.tui.preset.editor import PresetEditorScreen
from tui_trainer.tui.run.training_screen import TrainingScreen
from tui_trainer.tui.runs.screen import RunsScreen


def on_console(tmp_path: Path, *keys: str, check: Callable[[TrainerApp], None], size: tuple[int, int] = SIZE) -> None:
    """Press `keys` in a console of `size` (80x24 unless told; waiting after each), then `check` it."""

    async def scenario() -> None:
        app = TrainerApp(None, [], tmp_path / "runs")
        async with app.run_test(size=size) as pilot:
            for key in keys:
                await pilot.press(key)
                await pilot.pause()
            check(app)

    asyncio.run(scenario())


def own_descriptions(*classes: type) -> set[str]:
    return {
        binding.description
        for cls in classes
        for binding in cls.BINDINGS
        if isinstance(binding, Binding) and binding.id is not None
    }


def assert_footer_fits(app: TrainerApp, shown: set[str]) -> None:
    """`shown` are in the footer, and no key of it is cut or scrolled out of view."""
    footer = app.screen.query_one(Footer)
    keys = [key for key in footer.query(FooterKey) if not key.has_class("-command-palette")]
    palette = footer.query_one(".-command-palette", FooterKey)
    assert shown <= {key.description for key in keys}
    for key in keys:  # a key past the palette's left edge is cut or scrolled out of view
        assert key.region.right <= palette.region.x, f"{key.description!r} is cut"


@pytest.mark.parametrize("size", [SIZE, NARROW])
def test_the_runs_footer_shows_every_key_it_lists_and_help_in_full(tmp_path: Path, size: tuple[int, int]) -> None:
    """At 60 columns too: ? Help and ^q Quit stay in sight (stop and filter are in the help)."""

    def check(app: TrainerApp) -> None:
        assert isinstance(app.screen, RunsScreen)
        assert_footer_fits(app, {"Resume", "Compare", "Back", "Quit", "Help"})

    on_console(tmp_path, "ctrl+l", check=check, size=size)


def test_the_editor_training_and_confusion_footers_fit_80_columns_after_a_run(tmp_path: Path) -> None:
    from tests.console_kit import FakeTrainer, wait_for
    from tests.helpers import SMOKE, TINY

    async def scenario() -> None:
        app = TrainerApp(SMOKE, list(TINY), tmp_path / "runs", trainer=FakeTrainer())
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, PresetEditorScreen)
            assert_footer_fits(app, {"Train", "Save", "TOML", "Presets", "Quit", "Help"})
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: app.history is not None and app.history.state == "finished")
            await pilot.pause()
            assert isinstance(app.screen, TrainingScreen)
            assert_footer_fits(app, {"Confusion", "Back", "Quit", "Help"})
            await pilot.press("c")
            await pilot.pause()
            assert_footer_fits(app, {"Images", "Back", "Mislabels", "Calibration", "Quit", "Help"})
            notices = [str(n.message) for n in app._notifications]
            assert any("v evaluate" in n and "o export" in n for n in notices), (
                notices
            )  # the keys the footer leaves out

    asyncio.run(scenario())


def test_help_lists_the_runs_screen_keys_and_none_of_textuals_own(tmp_path: Path) -> None:
    def check(app: TrainerApp) -> None:
        assert isinstance(app.screen, HelpScreen)
        rows = app.screen._keys
        described = {description for key, description in rows if key}
        # Every key of the screen, those kept out of the footer too (the table's enter shadows Open).
        assert own_descriptions(RunsScreen) <= described
        assert {"Quit", "Help", "Runs", PALETTE_ROW} <= described
        # Nothing else: no focus-next, copy, scroll or palette internals.
        assert described <= own_descriptions(RunsScreen, TrainerApp) | {PALETTE_ROW}
        assert [description for key, description in rows if not key] == ["this screen:", "everywhere:"]

    on_console(tmp_path, "ctrl+l", "question_mark", check=check)


def test_every_screen_names_its_help_in_words_not_its_class_name() -> None:
    """The help's title is "Keys: likely label errors", never "Keys: LabelReview" (a Python class name)."""
    import importlib
    import pkgutil

    from textual.screen import Screen

    import tui_trainer.tui as console

    for module in pkgutil.walk_packages(console.__path__, prefix="tui_trainer.tui."):
        importlib.import_module(module.name)

    def screens(cls: type) -> list[type]:
        return [c for sub in cls.__subclasses__() for c in (sub, *screens(sub))]

    ours = {cls for cls in screens(Screen) if cls.__module__.startswith("tui_trainer.") and cls is not HelpScreen}
    assert len(ours) > 15
    untitled = sorted(cls.__name__ for cls in ours if "HELP_TITLE" not in vars(cls))
    assert untitled == []
    camel = {cls.__name__: vars(cls)["HELP_TITLE"] for cls in ours if re.search(r"[a-z][A-Z]", vars(cls)["HELP_TITLE"])}
    assert camel == {}


def test_help_leaves_out_a_key_the_screen_hides_now(tmp_path: Path) -> None:
    """The training screen has one `p`: Pause while running, Resume while paused; idle it offers Pause."""

    def check(app: TrainerApp) -> None:
        assert isinstance(app.screen, HelpScreen)
        assert [description for key, description in app.screen._keys if key == "p"] == ["Pause"]

    on_console(tmp_path, "ctrl+t", "f1", check=check)


def test_help_gives_the_focused_panel_its_own_section_one_row_per_description() -> None:
    from textual.app import App, ComposeResult
    from textual.widget import Widget

    from tui_trainer.tui.common.help_screen import help_rows

    class Grid(Widget, can_focus=True):
        BINDINGS: ClassVar[list[BindingType]] = [
            Binding("up", "move(-1)", "Move", id="grid.up"),
            Binding("down", "move(1)", "Move", id="grid.down"),
            Binding("enter", "open", "Open cell", id="grid.open"),
        ]

    class Host(App[None]):
        BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+q", "quit", "Quit", id="host.quit")]

        def compose(self) -> ComposeResult:
            yield Grid()

    async def scenario() -> list[tuple[str, str]]:
        app = Host()
        async with app.run_test(size=SIZE) as pilot:
            app.query_one(Grid).focus()
            await pilot.pause()
            return help_rows(app.screen)

    rows = asyncio.run(scenario())
    assert rows == [
        ("", "in the focused panel:"),
        ("↑, ↓", "Move"),
        ("⏎", "Open cell"),
        ("", "everywhere:"),
        ("^q", "Quit"),
        ("^p", PALETTE_ROW),
    ]


def run_with_everything(run_dir: Path) -> Path:
    """A run folder whose validation has class probabilities, thumbnails and image files (so the label review
    can save decisions): every confusion view opens with all its keys."""
    rng = np.random.default_rng(0)
    classes = ("cat", "dog", "ship")
    labels = np.arange(60) % 3
    probabilities = rng.dirichlet(np.ones(3), 60).astype(np.float32)
    predicted = probabilities.argmax(axis=1)
    arrays = {
        "labels": labels,
        "predictions": predicted,
        "confidences": probabilities.max(axis=1),
        "losses": -np.log(probabilities[np.arange(60), labels]),
        "confusion": confusion_from_predictions(labels, predicted, 3),
        "probabilities": probabilities,
    }
    run_dir.mkdir()
    folder = RunFolder(run_dir)
    root = run_dir.parent / "data"
    paths = [root / "val" / classes[label] / f"{i}.png" for i, label in enumerate(labels)]
    for i, path in enumerate(paths):
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (4 * i, 0, 0)).save(path)
    folder.write_preset(resolved_toml(tiny_preset("data.dataset=imagefolder", f"data.root={root}")))
    folder.write_val_paths([str(path) for path in paths])
    folder.append_metrics({"epoch": 1, "val_acc": 0.4})
    folder.write_predictions("last", 1, arrays, classes)
    np.save(thumbnails_file(run_dir), rng.integers(0, 256, (60, 16, 16, 3), dtype=np.uint8))
    return run_dir


CONFUSION_VIEWS = [  # keys from the confusion matrix, the screen they reach, keys its footer must show
    ((), "ConfusionScreen", {"Images", "Back", "Mislabels", "Calibration"}),
    (("enter",), "ConfusionSamplesScreen", {"Full size", "Matrix", "Where it looked"}),
    (("enter", "enter"), "SampleViewScreen", {"Back"}),
    (("enter", "g"), "ExplainScreen", {"Back"}),
    (("k",), "CalibrationScreen", {"Matrix", "Class"}),
    (("l",), "LabelReviewScreen", {"Back", "Relabel", "As…", "Exclude", "Fine"}),
]


@pytest.mark.parametrize("size", [SIZE, (60, 20)])
def test_every_confusion_footer_shows_its_keys_in_full(tmp_path: Path, size: tuple[int, int]) -> None:
    """At 80 columns the footer's bottom line holds each shown key with its whole description, the console's
    Quit and Help too; at 60 the screen's own keys still do (the help lists the keys kept out of the footer)."""
    from tui_trainer.tui.confusion.screen import ConfusionScreen

    run_dir = run_with_everything(tmp_path / "run")

    async def scenario() -> None:
        app = TrainerApp(None, [], tmp_path / "runs")
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            depth = len(app.screen_stack)
            for keys, screen_name, own in CONFUSION_VIEWS:
                await app.push_screen(ConfusionScreen.from_run_dir(run_dir))
                await pilot.pause()
                for key in keys:
                    await pilot.press(key)
                    await pilot.pause()
                # some screens open once a worker has read what they show (the review list: its data's listing)
                await wait_for(
                    pilot, lambda name=screen_name: type(app.screen).__name__ == name and app.screen.is_mounted
                )
                screen = app.screen
                footer = screen.query_one(Footer)
                # the footer as the terminal shows it; a loaded machine draws a new screen's a few frames later
                await wait_for(pilot, lambda shown=screen: shown._compositor.render_strips()[-1].text.strip())
                line = screen._compositor.render_strips()[-1].text
                palette = footer.query_one(".-command-palette", FooterKey)
                shown = {key.description: key for key in footer.query(FooterKey) if key is not palette}
                expected = own | ({"Quit", "Help"} if size == SIZE else set())
                assert expected <= set(shown), screen_name
                for description in expected:
                    key = shown[description]
                    assert f"{key.key_display} {description}" in line and key.region.right <= palette.region.x, (
                        f"{screen_name}: {description!r} is cut in {line!r}"
                    )
                described = {description for key, description in help_rows(screen) if key}
                assert own_descriptions(type(screen)) <= described  # the keys kept out of the footer too
                while len(app.screen_stack) > depth:  # back to where the console was
                    app.pop_screen()
                await pilot.pause()

    asyncio.run(scenario())

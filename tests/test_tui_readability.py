"""What keeps the console readable: toasts that go before they hide what the user opened, a compare
chart without a legend over its curves, whole epochs on an epoch axis, a trend column that says what
it compares with, and no stray scrollbar glyphs or cut-off footer keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from textual.app import App
from textual.binding import Binding, BindingType
from textual.widgets import TextArea

from tests.console_kit import SIZE, editor_app, make_run, run, screen_text, wait_for
from tests.test_confusion_screen import CLASSES, Host, add_predictions, make_images, make_predictions
from tui_trainer.engine.events import RunFailed, RunFinished
from tui_trainer.runs.view import RunView
from tui_trainer.tui.confusion.chart import ClassTrendLegend
from tui_trainer.tui.confusion.samples_screen import ConfusionSamplesScreen
from tui_trainer.tui.confusion.source import SampleQuery
from tui_trainer.tui.run.end_notice import announce_run_end
from tui_trainer.tui.runs.compare_screen import CompareScreen

TEXTUAL_DEFAULT_SECONDS = 5.0


class ConsoleKeys(Host):
    """A host with the console's own footer keys beside a screen's."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit"),
        Binding("question_mark", "bell", "Help", key_display="?"),
    ]


def test_routine_toasts_go_sooner_than_warnings_and_a_finished_run_sooner_than_a_failed_one(
    preset_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown: list[tuple[str, float | None]] = []  # (message, timeout) as Textual is asked to show them
    textual_notify = App.notify

    def record(self, message, *, title="", severity="information", timeout=None, markup=True) -> None:
        shown.append((message, timeout))
        textual_notify(self, message, title=title, severity=severity, timeout=timeout, markup=markup)

    monkeypatch.setattr(App, "notify", record)

    async def scenario() -> None:
        app = editor_app(preset_file, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: any(message.startswith("Saved") for message, _ in shown))
            app.notify("careful", severity="warning")
            app.notify("broken", severity="error")
            announce_run_end(app, RunFinished("runs/x", "finished", 3, 0.9, 3, 12.0))
            announce_run_end(app, RunFailed("runs/x", "disk full", ""))

    run(scenario())
    saved = next(timeout for message, timeout in shown if message.startswith("Saved"))
    warning, error, finished, failed = (timeout for _, timeout in shown[-4:])
    assert saved is not None and warning is not None and error is not None and finished is not None
    assert saved < TEXTUAL_DEFAULT_SECONDS and saved < warning < error
    assert failed is not None and finished <= TEXTUAL_DEFAULT_SECONDS < failed


def test_the_compare_charts_have_their_legend_above_them_not_over_the_curves(tmp_path: Path) -> None:
    a = make_run(tmp_path, "20261128-010000-smoke")
    b = make_run(tmp_path, "20261128-020000-smoke", "finished", "optimizer.lr=0.01")

    async def scenario() -> None:
        app = Host()
        async with app.run_test(size=SIZE) as pilot:
            await app.push_screen(CompareScreen([a, b]))
            await pilot.pause()
            lines = screen_text(app).splitlines()
            chart = [line for line in lines if "┤" in line]
            assert chart and not any("A smoke" in line or "B smoke" in line for line in chart)
            assert any(line.lstrip().startswith("━━ A ") for line in lines)
            assert any(line.lstrip().startswith("━━ B ") for line in lines)

    run(scenario())


def test_the_sweep_curve_counts_whole_epochs(tmp_path: Path) -> None:
    optuna = pytest.importorskip("optuna")
    from tui_trainer.runs.sweep_study import SweepFolder, open_storage
    from tui_trainer.tui.sweep.screen import SweepScreen

    folder = SweepFolder(tmp_path / "s")
    folder.path.mkdir(parents=True)
    run_dir = folder.path / "trials" / "r0"
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.jsonl").write_text(
        "".join(json.dumps({"epoch": e, "val_acc": 0.2 * e}) + "\n" for e in (1, 2, 3))
    )
    study = optuna.create_study(storage=open_storage(folder), study_name="s", direction="maximize")
    study.set_user_attr("spec", {"space": {"optimizer.lr": {}}, "objective": {"metric": "val_acc"}})
    trial = study.ask()
    trial.suggest_float("optimizer.lr", 1e-4, 1e-1, log=True)
    trial.set_user_attr("run_dir", str(run_dir))
    study.tell(trial, 0.6)

    async def scenario() -> None:
        app = Host()
        async with app.run_test(size=SIZE) as pilot:
            screen = SweepScreen(folder.path)
            await app.push_screen(screen)
            await wait_for(pilot, lambda: bool(screen.rows) and "val_acc per epoch" in screen_text(app))
            lines = screen_text(app).splitlines()
            axis = lines[next(i for i, line in enumerate(lines) if "└" in line) + 1]
            assert axis.split() == ["1", "2", "3"]

    run(scenario())


@pytest.mark.parametrize(
    ("epochs", "heading", "changes"),
    [
        (1, "val acc %", False),
        (2, "val acc %  vs ep 1", True),
        (3, "val acc %  vs ep 1", True),
        (4, "val acc %  vs 3 ep ago", True),
    ],
)
def test_the_trend_column_says_what_it_compares_with(epochs: int, heading: str, changes: bool) -> None:
    async def scenario() -> None:
        app = Host()
        async with app.run_test(size=SIZE) as pilot:
            legend = ClassTrendLegend()
            await app.screen.mount(legend)
            legend.show([[0.1 * e, 0.2] for e in range(1, epochs + 1)], ("cat", "dog"))
            await pilot.pause()
            lines = str(legend.content).splitlines()
            assert lines[0] == heading
            assert (len(lines[1].split()) == 4) == changes  # "━ cat 10.0 +20.0": a change only with a heading

    run(scenario())


def test_no_sideways_scrollbar_in_the_raw_toml_and_the_gallery_footer_keeps_quit_and_help(
    preset_file: Path, tmp_path: Path
) -> None:
    history = RunView(classes=CLASSES, run_dir=tmp_path)
    add_predictions(history, make_predictions(0))
    np.save(tmp_path / "val_images.npy", make_images(400))

    async def editor() -> None:
        app = editor_app(preset_file, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await pilot.press("f3")
            await pilot.pause()
            area = app.screen.query_one("#raw-toml", TextArea)
            assert any(len(line) > area.scrollable_content_region.width for line in area.text.splitlines())
            assert not area.show_horizontal_scrollbar  # long lines wrap: no thumb edge `▎` left in the view

    async def gallery() -> None:
        app = ConsoleKeys()
        async with app.run_test(size=SIZE) as pilot:
            await app.push_screen(ConfusionSamplesScreen(history, SampleQuery(true=1, pred=None)))
            await pilot.pause()
            footer = screen_text(app).splitlines()[-1]
            assert "^q Quit" in footer and "? Help" in footer

    run(editor())
    run(gallery())

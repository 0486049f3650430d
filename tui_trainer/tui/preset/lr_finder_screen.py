"""The learning-rate range test from the editor: runs in a thread worker, shows its progress as the
command line does, plots loss against lr, and dismisses with the suggested lr when the user takes it
(None when cancelled)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from ...config import Preset
from ...engine.lr_range import DEFAULT_RANGE, loss_axis
from ...text import format_lr, lr_step_text
from ..common.readable_plot import ReadablePlot, plottable

Finder = Callable[..., Any]
"""find_lr_for_preset(preset, steps=..., on_step=..., should_stop=...) -> LRFinderResult."""


def default_finder(*args: Any, **kwargs: Any) -> Any:
    from ...engine.lr_finder import find_lr_for_preset  # torch loads only when the test starts

    return find_lr_for_preset(*args, **kwargs)


class LRFinderScreen(ModalScreen["float | None"]):
    HELP_TITLE = "LR range test"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "use", "Use suggestion", id="lr_finder.use"),
        Binding("escape", "cancel", "Cancel", id="lr_finder.cancel"),
    ]

    class Progress(Message):
        def __init__(self, step: int, steps: int, lr: float, loss: float) -> None:
            super().__init__()
            self.step, self.steps, self.lr, self.loss = step, steps, lr, loss

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, LRFinderScreen.Progress)  # a backlog collapses to the latest

    class Done(Message):
        def __init__(self, result: Any) -> None:
            super().__init__()
            self.result = result

    class Failed(Message):
        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    def __init__(self, preset: Preset, finder: Finder | None = None, steps: int = DEFAULT_RANGE.steps) -> None:
        super().__init__()
        self.preset = preset
        self.finder = finder or default_finder
        self.steps = steps
        self.result: Any = None
        self._cancel = threading.Event()

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Static(f"LR range test: {self.preset.name}", classes="dialog-title")
            yield Static(f"loading data, then {self.steps} steps with the lr rising...", id="lr-status", markup=False)
            yield ReadablePlot(id="lr-plot")
        yield Footer()

    def on_mount(self) -> None:
        self._run()

    @work(thread=True, exclusive=True, exit_on_error=False, group="lr-finder", name="lr finder")
    def _run(self) -> None:
        def on_step(step: int, steps: int, lr: float, loss: float) -> None:
            self.post_message(self.Progress(step, steps, lr, loss))

        try:
            result = self.finder(self.preset, steps=self.steps, on_step=on_step, should_stop=self._cancel.is_set)
        except Exception as exc:  # noqa: BLE001 - shown to the user, the console goes on
            self.post_message(self.Failed(f"{type(exc).__name__}: {exc}"))
        else:
            self.post_message(self.Done(result))

    def on_lrfinder_screen_progress(self, message: Progress) -> None:
        self.query_one("#lr-status", Static).update(lr_step_text(message.step, message.steps, message.lr, message.loss))

    def on_lrfinder_screen_failed(self, message: Failed) -> None:
        self.query_one("#lr-status", Static).update(f"the range test failed: {message.error}")

    def on_lrfinder_screen_done(self, message: Done) -> None:
        result = self.result = message.result
        plot = self.query_one("#lr-plot", ReadablePlot)
        plt = plot.plt
        plt.clear_data()
        xs = [math.log10(lr) for lr in result.lrs]
        plt.plot(*plottable(xs, result.losses), marker="dot", color="cyan", label="loss")
        plt.plot(*plottable(xs, result.smoothed), marker="hd", color="orange", label="smoothed")
        plt.vline(math.log10(result.suggestion), "green")
        axis = loss_axis(result.losses, result.smoothed)
        plt.ylim(axis.low, axis.high)
        plt.ylabel(f"loss, clipped above {axis.high:.3g}" if axis.clipped else "")
        plt.xlabel("log10(lr)")
        plt.title(f"suggested lr {format_lr(result.suggestion)}")
        plot.refresh()
        self.query_one("#lr-status", Static).update(
            f"suggested lr {format_lr(result.suggestion)} ({result.rule}); "
            f"current {format_lr(self.preset.optimizer.lr)}. "
            "enter: write it into the preset, escape: cancel"
        )

    def action_use(self) -> None:
        if self.result is None:
            self.notify("The range test is still running", severity="warning")
            return
        self.dismiss(float(f"{self.result.suggestion:.3g}"))

    def action_cancel(self) -> None:
        self._cancel.set()  # the worker stops after its current step, restoring the weights
        self.dismiss(None)

"""A modal that shows an error the user can read, scroll and dismiss; the app stays up.

A run that failed for a reason the user can fix (the preset, the data, the machine) shows what
happened and what to try, nothing else. A crash keeps its traceback too, folded away behind `t`:
it says where the bug is, which matters to whoever reports it more than to whoever reads the message.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ...engine.events import RunFailed
from ...text import printable

CRASH_HINT = "this looks like a bug in tui-trainer or in the model's code; the traceback says where"


class ErrorScreen(ModalScreen[None]):
    HELP_TITLE = "error"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter", "dismiss", "Close", id="error.close"),
        Binding("t", "toggle_details", "Traceback", id="error.traceback"),
    ]

    def __init__(
        self, title: str, message: str, hint: str = "", details: str = "", saved_to: Path | None = None
    ) -> None:
        """`details`: a traceback, shown on `t`; `saved_to`: the file it was also written to."""
        super().__init__()
        # Messages quote file names, which may hold terminal escape codes.
        self.error_title = printable(title)
        self.message = printable(message, lines=True)
        self.hint = printable(hint, lines=True)
        self.details = printable(details, lines=True)
        self.saved_to = saved_to
        self.details_shown = False

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog error"):
            yield Static(self.error_title, classes="dialog-title")
            with VerticalScroll(classes="dialog-scroll"):
                yield Static(self.message, id="error-message", classes="dialog-body", markup=False)
                if self.hint:
                    yield Static(f"Hint: {self.hint}", id="error-hint", classes="dialog-hint", markup=False)
                if self.details:
                    details = Static(self.details.rstrip(), id="error-details", classes="dialog-details", markup=False)
                    details.display = False
                    yield details
            if self.details:
                yield Static(self._details_note(), id="error-details-note", classes="dialog-hint", markup=False)
            yield Button("Close [enter]", id="close", compact=True)

    def _details_note(self) -> str:
        saved = f" (saved in {printable(self.saved_to)})" if self.saved_to is not None else ""
        return f"t: {'hide' if self.details_shown else 'show'} the traceback{saved}"

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "toggle_details":
            return True if self.details else None
        return True

    def action_toggle_details(self) -> None:
        self.details_shown = not self.details_shown
        self.query_one("#error-details", Static).display = self.details_shown
        self.query_one("#error-details-note", Static).update(self._details_note())
        if self.details_shown:  # the end of a traceback is where the error was raised
            self.query_one(VerticalScroll).scroll_end(animate=False)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)


def failure_screen(failed: RunFailed, title: str = "Training failed", saved_to: Path | None = None) -> ErrorScreen:
    """The dialog of a failed run: the user's error in words only, a crash with its traceback behind `t`."""
    if failed.user_error:
        return ErrorScreen(title, failed.error, failed.hint)
    hint = failed.hint or (CRASH_HINT if failed.details else "")
    return ErrorScreen(title, failed.error, hint, failed.details, saved_to)

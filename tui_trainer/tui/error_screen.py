"""A modal that shows an error the user can read, scroll and dismiss; the app stays up."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ..printable import printable


class ErrorScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,enter", "dismiss", "Close", id="error.close")]

    def __init__(self, title: str, message: str, hint: str = "", details: str = "") -> None:
        super().__init__()
        # Messages quote file names, which may hold terminal escape codes.
        self.error_title = printable(title)
        self.message = printable(message, lines=True)
        self.hint = printable(hint, lines=True)
        self.details = printable(details, lines=True)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog error"):
            yield Static(self.error_title, classes="dialog-title")
            with VerticalScroll(classes="dialog-scroll"):
                yield Static(self.message, id="error-message", classes="dialog-body", markup=False)
                if self.hint:
                    yield Static(f"Hint: {self.hint}", id="error-hint", classes="dialog-hint", markup=False)
                if self.details:
                    yield Static(self.details.rstrip(), id="error-details", classes="dialog-details", markup=False)
            yield Button("Close [enter]", id="close", compact=True)

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)

"""A question with a few answers, each on a key: "Quit while training?" [y]es / [n]o."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmScreen(ModalScreen[str]):
    """Dismisses with the chosen answer's key, or "cancel" on escape."""

    HELP_TITLE = "confirm"

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "choose('cancel')", "Cancel", id="confirm.cancel")]

    def __init__(self, title: str, question: str, answers: Sequence[tuple[str, str]]) -> None:
        """`answers` are (key, label) pairs; the key is both the result and the shortcut."""
        super().__init__()
        self._title = title
        self._question = question
        self._answers = list(answers)
        for key, label in self._answers:
            self._bindings.bind(key, f"choose('{key}')", label, show=True)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Static(self._title, classes="dialog-title")
            yield Static(self._question, classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                for key, label in self._answers:
                    yield Button(escape(f"[{key}] {label}"), id=f"answer-{key}", compact=True)

    def on_mount(self) -> None:
        self.query(Button).first().focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss((event.button.id or "answer-cancel").removeprefix("answer-"))

    def action_choose(self, key: str) -> None:
        self.dismiss(key)

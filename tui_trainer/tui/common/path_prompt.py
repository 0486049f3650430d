"""Ask for a file path ("Save as", "Open preset")."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class PathPrompt(ModalScreen["Path | None"]):
    """Dismisses with the path typed (relative to the current folder), or None on escape."""

    HELP_TITLE = "path"

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="path.cancel")]

    def __init__(self, title: str, value: str = "", must_exist: bool = False) -> None:
        super().__init__()
        self._title = title
        self._value = value
        self._must_exist = must_exist

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Static(self._title, classes="dialog-title")
            yield Input(self._value, placeholder="path/to/preset.toml", id="path-input")
            yield Static("enter: OK   escape: cancel", id="path-message", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text:
            return
        path = Path(text).expanduser()
        if self._must_exist and not path.exists():
            self.query_one("#path-message", Static).update(f"No such file or folder: {path}")
            return
        if not self._must_exist and path.is_dir():
            self.query_one("#path-message", Static).update(f"{path} is a folder; give a file name")
            return
        self.dismiss(path)

    def action_cancel(self) -> None:
        self.dismiss(None)

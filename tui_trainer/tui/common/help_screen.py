"""The keys of the screen below, with what they do (`?` or F1).

Only the console's own bindings are listed (those with an id): Textual's (focus next, scroll,
copy, the palette's internals) work as in any Textual app and would bury the few that matter.
Keys come in sections: the screen's, then those of the focused panel, then the ones that work
everywhere. A binding the screen hides right now (`check_action` False) is left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Static

PALETTE_ROW = "Command palette (every command)"


def _node_rows(node: DOMNode, screen: Screen) -> list[tuple[str, str]]:
    """(keys, description) of `node`'s own bindings, in the order it declares them."""
    app = screen.app
    rows: dict[str, list[str]] = {}  # description -> keys shown (the arrows of one "Move" share a row)
    for _, binding in node._bindings:  # every key of a "a,b" binding, after the user's keymap
        if binding.id is None or not binding.description or binding.system:
            continue
        if app._check_action_state(binding.action, node) is False:  # hidden now (p: Pause or Resume)
            continue
        keys = rows.setdefault(binding.description, [])
        shown = app.get_key_display(binding)
        if shown not in keys:
            keys.append(shown)
    return [(", ".join(keys), description) for description, keys in rows.items()]


def help_rows(screen: Screen) -> list[tuple[str, str]]:
    """The rows of the help for `screen`: section titles as ("", title), then (keys, description)."""
    app = screen.app
    sections: list[tuple[str, list[tuple[str, str]]]] = []
    sections.append(("this screen:", _node_rows(screen, screen)))
    focused = screen.focused
    panel: list[tuple[str, str]] = []
    for node in focused.ancestors_with_self if focused is not None else ():
        if node is screen:
            break
        panel.extend(_node_rows(node, screen))
    sections.append(("in the focused panel:", panel))
    everywhere = _node_rows(app, screen)
    everywhere.append((app.get_key_display(Binding(app.COMMAND_PALETTE_BINDING, "")), PALETTE_ROW))
    sections.append(("everywhere:", everywhere))
    rows: list[tuple[str, str]] = []
    for heading, section in sections:
        if section:
            rows.append(("", heading))
            rows.extend(section)
    return rows


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,f1,question_mark", "dismiss", "Close", id="help.close")]

    def __init__(self, title: str, keys: Sequence[tuple[str, str]]) -> None:
        """`keys` are (key as shown, description) pairs; a pair without a key is a section title."""
        super().__init__()
        self._title = title
        self._keys = list(keys)

    @classmethod
    def for_screen(cls, screen: Screen) -> HelpScreen:
        """The help of `screen`: its keys, the focused panel's and the console's."""
        title = getattr(screen, "HELP_TITLE", type(screen).__name__.removesuffix("Screen"))
        return cls(title, help_rows(screen))

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog help"):
            yield Static(f"Keys: {self._title}", classes="dialog-title")
            table: DataTable[str | Text] = DataTable(id="help-keys", cursor_type="none", zebra_stripes=True)
            table.add_columns("key", "action")
            for key, description in self._keys:
                table.add_row(key, Text(description, style="bold") if not key else description)
            yield table
            yield Static("escape: close", classes="dialog-hint")

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)

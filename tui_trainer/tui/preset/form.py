"""The preset form, generated from `tui_trainer.config.fields`: one row per key, one pane per section.

No field is listed here: a new schema field appears in the form by itself. Choices become a
Select, booleans a Checkbox, everything else an Input that takes TOML syntax (`[0.8, 1.0]`).
A key the section's current choice ignores (optimizer.momentum under adamw, per
`config.choices`) is greyed out and cannot be focused until a choice that reads it is picked.
"""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Select, Static

from ...config.choices import REGISTRIES
from ...config.fields import FieldSpec, section_fields, top_level_fields
from ...config.preset_document import display_text, literal_from_input, toml_literal
from ...text import printable
from .field_suggesters import SUGGESTERS

GENERAL = "general"
"""The pane of the top-level keys (name, description)."""


def fields_of(section: str) -> list[FieldSpec]:
    return top_level_fields() if section == GENERAL else section_fields(section)


def _bool_label(value: bool) -> str:
    return "true " if value else "false"


class BoolCheckbox(Checkbox):
    """A Checkbox whose box is empty when off. Textual draws an X either way and tells on from off by
    colour alone, which a 16-colour terminal (TERM=xterm over ssh) does not show."""

    @property
    def BUTTON_INNER(self) -> str:  # type: ignore[override]  # Textual reads the class attribute by this name
        return "X" if self.value else " "


def widget_id(spec: FieldSpec) -> str:
    return "field-" + spec.path.replace(".", "--")


class FieldRow(Vertical):
    """One preset key: name, editor, description with the default, and the current problem."""

    class Edited(Message):
        """The user changed the field; `literal` is the new value in TOML syntax."""

        def __init__(self, row: FieldRow, literal: str) -> None:
            super().__init__()
            self.row = row
            self.literal = literal

    class Chosen(Message):
        """A choice key (`config.choices`) now shows `value`, picked here or loaded: the keys it decides follow."""

        def __init__(self, path: str, value: Any) -> None:
            super().__init__()
            self.path = path
            self.value = value

    def __init__(self, spec: FieldSpec, value: Any) -> None:
        super().__init__(classes="field-row")
        self.spec = spec
        self._value = value

    def compose(self) -> ComposeResult:
        spec = self.spec
        with Horizontal(classes="field-line"):
            yield Label(spec.name, classes="field-name")
            yield self._make_editor(self._value)
        default = toml_literal(spec.default)
        if len(default) > 40:
            default = default[:37] + "..."
        used_by = f"; used by {', '.join(spec.used_by)}" if spec.chosen_by else ""
        help_text = f"{escape(spec.description)} [dim]default {escape(default)}; {escape(spec.allowed())}{used_by}[/]"
        yield Static(help_text, classes="field-help")
        yield Static("", classes="field-comment", markup=False)
        yield Static("", classes="field-error", markup=False)

    def _make_editor(self, value: Any) -> Widget:
        spec, wid = self.spec, widget_id(self.spec)
        if spec.kind == "bool":
            return BoolCheckbox(_bool_label(bool(value)), bool(value), id=wid, compact=True, classes="field-editor")
        if spec.kind == "choice":
            options = [(str(choice), choice) for choice in spec.choices]
            current = value if value in spec.choices else Select.NULL
            return Select(options, value=current, allow_blank=False, compact=True, id=wid, classes="field-editor")
        suggester = SUGGESTERS[spec.suggest]() if spec.suggest else None
        return Input(
            display_text(spec, value),
            placeholder="(empty)" if spec.kind == "str" else spec.allowed(),
            suggester=suggester,  # model names, weights files: completes as you type, Right accepts
            id=wid,
            compact=True,
            classes="field-editor",
            select_on_focus=False,
        )

    @property
    def editor(self) -> Widget:
        return self.query_one(".field-editor")

    def literal(self) -> str:
        """The value now in the editor, as TOML."""
        editor = self.editor
        if isinstance(editor, Checkbox):
            return "true" if editor.value else "false"
        if isinstance(editor, Select):
            return toml_literal(editor.value)
        assert isinstance(editor, Input)
        return literal_from_input(self.spec, editor.value)

    def show_value(self, value: Any) -> None:
        """Set the editor without sending an edit (the document changed elsewhere)."""
        editor = self.editor
        with self.prevent(Input.Changed, Select.Changed, Checkbox.Changed):
            if isinstance(editor, Checkbox):
                editor.value = bool(value)
                editor.label = _bool_label(bool(value))
            elif isinstance(editor, Select):
                if value in self.spec.choices and editor.value != value:
                    editor.value = value
                    self._post_chosen()
            elif isinstance(editor, Input):
                text = display_text(self.spec, value)
                if editor.value != text:
                    editor.value = text

    def show_read(self, read: bool) -> None:
        """Grey the row out (and keep focus off its editor) when the current choice ignores the key."""
        self.set_class(not read, "-unused")
        self.editor.disabled = not read
        self.tooltip = None if read else "used by: " + ", ".join(self.spec.used_by)

    def _post_chosen(self) -> None:
        if self.spec.path in REGISTRIES:
            editor = self.editor
            assert isinstance(editor, Select)
            self.post_message(self.Chosen(self.spec.path, editor.value))

    def show_comment(self, comment: str) -> None:
        """The comment at this key in the preset file (shown as written, `#` and all)."""
        widget = self.query_one(".field-comment", Static)
        widget.update(printable(comment, lines=True))
        widget.display = bool(comment)

    def show_problems(self, messages: list[str]) -> None:
        self.set_class(bool(messages), "-invalid")
        self.query_one(".field-error", Static).update("\n".join(map(printable, messages)))

    def on_descendant_focus(self, _event: events.DescendantFocus) -> None:
        # Focus scrolls the editor alone into view; the key's comment and description under it are
        # what the user reads next, so the whole row is brought in.
        self.call_after_refresh(self.scroll_visible, animate=False)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Edited(self, self.literal()))

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self.post_message(self.Edited(self, self.literal()))
        self._post_chosen()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        event.checkbox.label = _bool_label(event.value)
        self.post_message(self.Edited(self, self.literal()))


class SectionForm(VerticalScroll):
    """The rows of one section."""

    def __init__(self, section: str, values: dict[str, Any]) -> None:
        super().__init__(id=f"form-{section}", classes="section-form")
        self.section = section
        self._values = values

    def compose(self) -> ComposeResult:
        for spec in fields_of(self.section):
            yield FieldRow(spec, self._values.get(spec.path, spec.default))

    def on_mount(self) -> None:
        for path in REGISTRIES:
            self._show_chosen(path, self._values.get(path))

    def on_field_row_chosen(self, event: FieldRow.Chosen) -> None:
        event.stop()
        self._show_chosen(event.path, event.value)

    def _show_chosen(self, path: str, value: Any) -> None:
        for row in self.query(FieldRow):
            if row.spec.chosen_by == path:
                row.show_read(row.spec.read_with(value))

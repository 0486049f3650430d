"""The preset editor: a generated form per section and a raw TOML view of the same document.

Every edit goes through `PresetDocument`, which validates with the loader and keeps comments.
The raw view is refreshed from the document when it is shown; raw edits are validated as typed
and, when valid, shown back in the form.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import ClassVar

from rich.markup import escape
from textual import events, on
from textual._tree_sitter import TREE_SITTER, get_language
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane, TextArea

from ...config import SECTIONS, Problem
from ...config.catalog import is_builtin
from ...config.code_trust import TargetAccess
from ...config.preset_document import PresetDocument, field_comments, toml_literal
from ...text import count_of, printable
from ..messages import SavePreset
from .form import GENERAL, FieldRow, SectionForm, fields_of
from .lr_finder_screen import Finder, LRFinderScreen, default_finder

RAW_TAB = "tab-toml"
LR_FIELD = "optimizer.lr"
TAB_ORDER = [GENERAL, *SECTIONS]
SHORT_TAB_LABELS = {GENERAL: "gen", "augment": "aug", "optimizer": "optim", "scheduler": "sched"}
"""Tab labels where the whole names do not fit the width (60 columns): every tab stays in sight."""


def tab_labels(width: int) -> dict[str, str]:
    """section -> its tab's label at `width` columns: the whole name when every tab fits, else the short one."""
    whole = sum(len(label) + 2 for label in [*TAB_ORDER, "TOML"])  # a tab is its label and a cell each side
    return {section: section if width >= whole else SHORT_TAB_LABELS.get(section, section) for section in TAB_ORDER}


def problem_line(problem: Problem) -> str:
    """A problem for the raw view: line first, without the (long) file name."""
    where = f"line {problem.line}: " if problem.line is not None else ""
    key = f"{problem.key}: " if problem.key else ""
    return f"{where}{key}{problem.message}"


def toml_language() -> str | None:
    """The raw view's language: TOML when tree-sitter and its grammar are installed (Textual ships
    the highlight query), else None, plain text."""
    return "toml" if TREE_SITTER and get_language("toml") is not None else None


def first_error_location(problems: list[Problem]) -> tuple[int, int] | None:
    """(row, column) from 0 of the first problem in the text that has a line, in file order."""
    located = [(p.line - 1, (p.column or 1) - 1) for p in problems if p.line is not None]
    return min(located) if located else None


class RawTomlArea(TextArea):
    """The raw TOML view. Tab indents; escape is the screen's key (back to the presets) at the first press.

    A TextArea that indents on tab keeps the first escape to itself, to move focus on, so leaving
    took two presses; here escape goes by the TextArea to the screen's bindings.
    """

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "escape":
            event.prevent_default()  # skips TextArea's handler only: the key bubbles on to the bindings


class PresetEditorScreen(Screen[None]):
    HELP_TITLE = "preset editor"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "app.start_training", "Train", id="preset.start"),
        Binding("ctrl+s", "app.save_preset", "Save", id="preset.save"),
        Binding("f2", "app.save_preset_as", "Save as", id="preset.save_as", show=False),
        Binding("f3", "toggle_raw", "TOML", id="preset.toggle_raw"),
        Binding("f5", "find_lr", "Find LR", id="preset.find_lr", show=False),  # footer fits 80 columns; in help
        Binding("f6", "undo_lr", "Undo LR", id="preset.undo_lr", show=False),
        Binding("ctrl+n", "next_tab", "Next section", id="preset.next_section", show=False),
        Binding("ctrl+b", "previous_tab", "Previous section", id="preset.previous_section", show=False),
        Binding("escape", "app.close_editor", "Presets", id="preset.close"),
    ]

    def __init__(self, document: PresetDocument, finder: Finder | None = None) -> None:
        super().__init__(classes="editor")  # a class, not an id: a new editor mounts while the old one unmounts
        self.document = document
        self._rows: dict[str, FieldRow] = {}
        self._shown_problems: set[str] = set()
        self._finder = finder  # None: the real LR range test
        self._lr_undo: list[str] = []  # optimizer.lr literals the LR finder replaced, newest last

    def compose(self) -> ComposeResult:
        doc = self.document
        values = {spec.path: doc.value(spec) for section in TAB_ORDER for spec in fields_of(section)}
        yield Header(show_clock=False)
        yield Static("", id="doc-status")
        with TabbedContent(id="editor-tabs"):
            for section in TAB_ORDER:
                with TabPane(section, id=f"tab-{section}"):
                    yield SectionForm(section, values)
            with TabPane("TOML", id=RAW_TAB):
                yield RawTomlArea(
                    doc.text,
                    language=toml_language(),
                    id="raw-toml",
                    show_line_numbers=True,
                    tab_behavior="indent",
                    soft_wrap=True,  # a long comment wraps: no sideways scrollbar, its thumb's end a stray `▎`
                )
                yield Static("", id="raw-problems", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self._rows = {row.spec.path: row for row in self.query(FieldRow)}
        self._show_comments()
        self._show_problems()
        self._show_status()
        if self.document.preset is None:  # open where the problems can be fixed
            self.query_one(TabbedContent).active = RAW_TAB
        self._update_form_enabled()
        self.call_after_refresh(self._focus_active_tab)  # typing works at once, without a click or tab

    def on_resize(self, event: events.Resize) -> None:
        tabs = self.query_one(TabbedContent)
        for section, label in tab_labels(event.size.width).items():
            tab = tabs.get_tab(f"tab-{section}")
            if tab.label_text != label:
                tab.label = label

    def _focus_active_tab(self) -> None:
        """Focus the first field of the form shown, or the raw TOML when that is the tab shown."""
        tabs = self.query_one(TabbedContent)
        if tabs.active == RAW_TAB:
            self.query_one("#raw-toml", TextArea).focus()
            return
        form = self.query_one(f"#form-{tabs.active.removeprefix('tab-')}", SectionForm)
        first = form.query(".field-editor").first() if not form.disabled else None
        if first is not None:
            first.focus()

    # Form -> document -------------------------------------------------------------------------

    def on_field_row_edited(self, event: FieldRow.Edited) -> None:
        event.stop()
        doc = self.document
        spec = event.row.spec
        if doc.preset is None:
            return
        if spec.path not in doc.pending and event.literal == doc.literal(spec):
            return  # the widget reports the value it was given
        doc.set_field(spec.path, event.literal)
        self._show_problems()
        self._show_status()

    # Raw view <-> document --------------------------------------------------------------------

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == RAW_TAB:
            self._load_raw()

    def _load_raw(self) -> None:
        """Show the document's text; with problems, the cursor goes to the first one's line."""
        area = self.query_one("#raw-toml", TextArea)
        if area.text != self.document.text:
            with self.prevent(TextArea.Changed):
                cursor = area.cursor_location
                area.load_text(self.document.text)
                area.cursor_location = (min(cursor[0], area.document.line_count - 1), 0)
        error = first_error_location(self.document.problems)
        if error is not None:
            row = min(error[0], area.document.line_count - 1)
            area.move_cursor((row, min(error[1], len(area.document[row]))), center=True)
        self._show_raw_problems()

    @on(TextArea.Changed, "#raw-toml")
    def _raw_changed(self, event: TextArea.Changed) -> None:
        text = event.text_area.text
        doc = self.document
        if text == doc.text:
            return
        doc.set_text(text)
        self._show_raw_problems()
        if doc.preset is not None:
            for row in self._rows.values():
                row.show_value(doc.value(row.spec))
            self._show_comments()
        self._show_problems()
        self._show_status()
        self._update_form_enabled()

    def _show_raw_problems(self) -> None:
        lines = [problem_line(p) for p in self.document.problems]  # file order: the cursor is at the first
        if self.document.pending:
            pending = len(self.document.pending)
            one = pending == 1
            what = f"{'does' if one else 'do'} not validate and {'is' if one else 'are'} not in this text yet"
            lines.append(f"{count_of(pending, 'form edit')} {what}")
        widget = self.query_one("#raw-problems", Static)
        widget.update("\n".join(map(printable, lines)) if lines else "valid")
        widget.set_class(bool(lines), "-invalid")

    def _update_form_enabled(self) -> None:
        disabled = self.document.preset is None
        for form in self.query(SectionForm):
            form.disabled = disabled

    # Showing state ----------------------------------------------------------------------------

    def _show_comments(self) -> None:
        comments = field_comments(self.document.text)
        for path, row in self._rows.items():
            row.show_comment(comments.get(path, ""))

    def _show_problems(self) -> None:
        problems = self.document.field_problems
        for path in self._shown_problems | set(problems):
            row = self._rows.get(path)
            if row is not None:
                row.show_problems(problems.get(path, []))
        self._shown_problems = set(problems)
        for pane_section in TAB_ORDER:
            tab = self.query_one(TabbedContent).get_tab(f"tab-{pane_section}")
            bad = any(
                path.split(".")[0] == pane_section or (pane_section == GENERAL and "." not in path) for path in problems
            )
            tab.set_class(bad, "-invalid")

    def _show_status(self) -> None:
        doc = self.document
        parts = [f"[b]{doc.title}[/b]"]
        if doc.read_only:
            parts.append("built-in, read-only: save makes a copy")
        if doc.edited:
            parts.append("[reverse] modified [/reverse]")
        elif doc.dirty and doc.overrides:
            paths = list(doc.overrides)
            named = f"{paths[0]}={doc.overrides[paths[0]]}" if len(paths) == 1 else f"{len(paths)} values"
            parts.append(escape(printable(f"--set {named} (not saved)")))
        count = len(doc.problem_lines())
        if count:
            parts.append(f"[b]{count_of(count, 'problem')}[/b]: training is blocked")
        else:
            parts.append("valid")
        self.query_one("#doc-status", Static).update(" · ".join(parts))
        where = printable(doc.path or "new preset")
        self.sub_title = f"read-only built-in: {where}" if doc.read_only else where  # first: a long path is cut

    def document_saved(self) -> None:
        self._show_status()

    # Keys -------------------------------------------------------------------------------------

    def action_toggle_raw(self) -> None:
        tabs = self.query_one(TabbedContent)
        if tabs.active == RAW_TAB:
            tabs.active = getattr(self, "_last_form_tab", f"tab-{GENERAL}")
            self.call_after_refresh(self._focus_active_tab)
        else:
            self._last_form_tab = tabs.active
            tabs.active = RAW_TAB
            self._load_raw()
            self.query_one("#raw-toml", TextArea).focus()

    def _step_tab(self, step: int) -> None:
        tabs = self.query_one(TabbedContent)
        ids = [f"tab-{s}" for s in TAB_ORDER] + [RAW_TAB]
        index = ids.index(tabs.active) if tabs.active in ids else 0
        tabs.active = ids[(index + step) % len(ids)]
        if tabs.active == RAW_TAB:
            self._load_raw()
            self.query_one("#raw-toml", TextArea).focus()
        else:
            form = self.query_one(f"#form-{tabs.active.removeprefix('tab-')}", SectionForm)
            if not form.disabled:
                form.query(".field-editor").first().focus()

    def action_next_tab(self) -> None:
        self._step_tab(1)

    def action_previous_tab(self) -> None:
        self._step_tab(-1)

    def action_find_lr(self) -> None:
        """Run the LR range test on the preset as it stands; the lr taken is written and saved."""
        if self.document.preset is None:
            self.notify("Fix the preset's problems first", severity="warning")
            return
        finder = self._finder
        if finder is None:  # the user's own preset: its target is imported from its folder
            finder = partial(default_finder, code=TargetAccess.beside(self.document.path))
        self.app.push_screen(LRFinderScreen(self.document.preset, finder), self._take_lr)

    def _take_lr(self, lr: float | None) -> None:
        if lr is None:
            return
        row = self._rows[LR_FIELD]
        previous = self.document.literal(row.spec)
        self._set_lr(toml_literal(lr))
        self._lr_undo.append(previous)
        self.notify(f"optimizer.lr {previous} -> {lr:g} (f6 undoes)")

    def action_undo_lr(self) -> None:
        if not self._lr_undo:
            self.notify("No LR finder change to undo")
            return
        literal = self._lr_undo.pop()
        self._set_lr(literal)
        self.notify(f"optimizer.lr back to {literal}")

    def _set_lr(self, literal: str) -> None:
        """Write optimizer.lr into the document and save it the editor's way (comments kept;
        a built-in preset asks where to save a copy)."""
        if self.document.preset is None:
            self.notify("Fix the preset's problems first", severity="warning")
            return
        row = self._rows[LR_FIELD]
        self.document.set_field(LR_FIELD, literal)
        row.show_value(self.document.value(row.spec))
        self._show_problems()
        self._show_status()
        self.post_message(SavePreset())

    def focus_field(self, path: str) -> None:
        """Show the field's section and put the cursor in it (tests and error links)."""
        section = path.split(".")[0] if "." in path else GENERAL
        self.query_one(TabbedContent).active = f"tab-{section}"
        self._rows[path].editor.focus()

    def row(self, path: str) -> FieldRow:
        return self._rows[path]


def suggested_copy_path(doc: PresetDocument) -> Path:
    """Where "save as" proposes to write: ./presets/<name>.toml (relative to the current folder),
    never the original nor a built-in preset (in a checkout, ./presets may be the built-ins' folder)."""
    name = doc.preset_name() or "preset"
    candidate = Path("presets") / f"{name}.toml"
    same = doc.path is not None and candidate.resolve() == doc.path.resolve()
    if same or is_builtin(candidate):
        candidate = Path("presets") / f"{name}-copy.toml"
    return candidate

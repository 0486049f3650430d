"""The console's open preset, from opening to saving: one object, as `RunSession` is the run's.

It holds the `PresetDocument` being edited and does what the user asks of it: open a file (with
`--set` overrides), start a new one, save, save as, and the question about unsaved changes before
the editor closes or the console quits. Its dialogs go on the App's screen stack; it never
imports the App.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from textual.app import App

from ...config.fields import all_fields
from ...config.loading import PresetError, parse_override
from ...config.preset_document import NEW_PRESET_NOTE, NeedsPath, PresetDocument, toml_literal
from ...config.recent import remember
from ...text import count_of
from ..common.confirm_screen import ConfirmScreen
from ..common.error_screen import ErrorScreen
from ..common.path_prompt import PathPrompt
from .editor import PresetEditorScreen, suggested_copy_path
from .list_screen import PresetListScreen
from .lr_finder_screen import Finder

TRAINING_SCREEN_ID = "training"
"""The training screen is popped with the editor when another preset opens (it draws the run, not the preset)."""


class PresetSession:
    """The preset being edited (`document`) and the editor screen that shows it."""

    def __init__(self, app: App[Any], lr_finder: Finder | None = None) -> None:
        self.app = app
        self.lr_finder = lr_finder
        """Stands in for the real LR range test in the editor (tests); None: the real one."""
        self.document: PresetDocument | None = None

    @property
    def editor(self) -> PresetEditorScreen | None:
        for screen in reversed(self.app.screen_stack):
            if isinstance(screen, PresetEditorScreen):
                return screen
        return None

    # Opening ----------------------------------------------------------------------------------

    def open(self, path: Path, overrides: Sequence[str] = ()) -> None:
        try:
            document = PresetDocument.open(path)
        except (OSError, UnicodeDecodeError) as exc:
            self.app.push_screen(ErrorScreen("Cannot open preset", f"{path}: {exc}"))
            return
        remember(path)
        self._apply_overrides(document, overrides)
        self._edit(document)

    def new(self) -> None:
        self._edit(PresetDocument.new())
        self.app.notify(f"New preset: {NEW_PRESET_NOTE}.", timeout=10)

    def _edit(self, document: PresetDocument) -> None:
        self.document = document
        app = self.app
        while isinstance(app.screen, PresetEditorScreen) or app.screen.id == TRAINING_SCREEN_ID:
            app.pop_screen()
        app.push_screen(PresetEditorScreen(document, finder=self.lr_finder))
        app.refresh_bindings()

    def _apply_overrides(self, document: PresetDocument, overrides: Sequence[str]) -> None:
        known = {spec.path for spec in all_fields()}
        for assignment in overrides:
            try:
                parts, value = parse_override(assignment)
            except PresetError as exc:
                self.app.notify(str(exc), severity="error")
                continue
            path = ".".join(parts)
            if path not in known:
                self.app.notify(f"--set {assignment}: unknown key {path}", severity="error")
            elif document.preset is None:
                self.app.notify(f"--set {assignment}: ignored, the preset has problems", severity="error")
            else:
                document.set_override(path, toml_literal(value))
        if overrides and document.preset is not None:
            self.app.notify(f"{count_of(len(overrides), '--set override')} applied; not saved yet")

    # Closing ----------------------------------------------------------------------------------

    def close_editor(self, then: Callable[[], None] | None = None) -> None:
        """Back to the preset list (then `then`); unsaved changes are saved or dropped on purpose only."""
        doc = self.document

        def to_list() -> None:
            self._pop_to_list()
            if then is not None:
                then()

        if doc is None or not doc.edited:  # --set values alone are not worth a question
            to_list()
            return

        def answered(answer: str | None) -> None:
            if answer == "s":
                self._save(doc, None, then=to_list)
            elif answer == "d":
                self.document = None
                to_list()

        self._ask_unsaved(doc, [("s", "Save"), ("d", "Discard"), ("escape", "Cancel")], answered)

    def _pop_to_list(self) -> None:
        app = self.app
        while len(app.screen_stack) > 2 and not isinstance(app.screen, PresetListScreen):
            app.pop_screen()
        app.refresh_bindings()

    def before_quit(self, quit_now: Callable[[], None]) -> None:
        """Quit (`quit_now`) at once, unless the preset has unsaved changes: then ask about them first."""
        doc = self.document
        if doc is None or not doc.edited:
            quit_now()
            return

        def answered(answer: str | None) -> None:
            if answer == "s":
                self._save(doc, None, then=quit_now)
            elif answer == "d":
                quit_now()

        choices = [("s", "Save and quit"), ("d", "Quit without saving"), ("escape", "Cancel")]
        self._ask_unsaved(doc, choices, answered)

    def _ask_unsaved(
        self, doc: PresetDocument, choices: list[tuple[str, str]], answered: Callable[[str | None], None]
    ) -> None:
        self.app.push_screen(ConfirmScreen("Unsaved changes", f"{doc.title} has unsaved changes.", choices), answered)

    # Saving -----------------------------------------------------------------------------------

    def save(self) -> None:
        doc = self.document
        if doc is None:
            self.app.notify("No preset is open", severity="warning")
        elif doc.path is None or doc.read_only:
            if doc.read_only:
                self.app.notify("Built-in presets are read-only: save a copy", severity="information")
            self.save_as()
        else:
            self._save(doc, None)

    def save_as(self, then: Callable[[], None] | None = None) -> None:
        doc = self.document
        if doc is None:
            self.app.notify("No preset is open", severity="warning")
            return

        def chosen(path: Path | None) -> None:
            if path is None:
                return
            if path.exists() and (doc.path is None or path.resolve() != doc.path.resolve()):

                def overwrite(answer: str | None) -> None:
                    if answer == "y":
                        self._save(doc, path, then)

                self.app.push_screen(
                    ConfirmScreen("Overwrite?", f"{path} exists. Replace it?", [("y", "Replace"), ("n", "Cancel")]),
                    overwrite,
                )
            else:
                self._save(doc, path, then)

        self.app.push_screen(PathPrompt("Save preset as", str(suggested_copy_path(doc))), chosen)

    def _save(self, doc: PresetDocument, path: Path | None, then: Callable[[], None] | None = None) -> None:
        try:
            target = doc.save(path)
        except NeedsPath:
            self.save_as(then)
            return
        except OSError as exc:
            self.app.push_screen(ErrorScreen("Cannot save", str(exc)))
            return
        remember(target)
        message = f"Saved {target}"
        if doc.pending:
            message += f" ({count_of(len(doc.pending), 'invalid form edit')} not included)"
        if doc.preset is None:
            message += " with problems"
        self.app.notify(message, severity="warning" if doc.pending or doc.preset is None else "information")
        editor = self.editor
        if editor is not None:
            editor.document_saved()
        if then is not None:
            then()

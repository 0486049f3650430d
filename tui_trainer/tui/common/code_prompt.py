"""The console's question before a run folder's (or received sweep's) `model.target` is imported.

A run folder may come from anyone; its preset's `model.target` runs a module as the user. So
evaluating, exporting or resuming such a run asks first, naming the module and the file it would
load, and goes on only on an explicit yes (the first button is "no"). A console started with
`--trust-code` does not ask. See `tui_trainer.config.code_trust`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.markup import escape
from textual.app import App

from ...config import PresetError
from ...config.code_trust import TargetAccess, locate_target
from ...runs.folder import RunFolder, RunFolderError
from ...text import printable
from .confirm_screen import ConfirmScreen

YES, NO = "y", "n"


def code_question(preset_file: Path, target: str, folder: Path | None) -> str:
    """What the dialog says: the preset, the module, where it is looked for and the file found (or none)."""
    found = locate_target(target, folder)
    where = "the installed packages" + (f", then {printable(folder)}" if folder is not None else "")
    loads = f"It would load {printable(found)}." if found is not None else f"No file for it is found in {where}."
    return (
        f"{printable(preset_file)} names model.target = {printable(repr(target))}: using this run imports "
        f"and runs that module's code as you, looked for in {where}. {loads}\n"
        "Say yes only if you trust whoever wrote this folder (tui-trainer --trust-code does not ask)."
    )


def ask_about_run(app: App, run_dir: Path, trusted: bool, then: Callable[[TargetAccess | None], None]) -> None:
    """`ask_to_run_code` for a run folder's preset (an unreadable one: `then(None)`, the action says why)."""
    folder = RunFolder(Path(run_dir))
    try:
        target = folder.read_preset().model.target
    except (PresetError, RunFolderError, OSError):
        target = ""
    ask_to_run_code(app, folder.preset_file, target, trusted, then)


def ask_to_run_code(
    app: App,
    preset_file: Path,
    target: str | None,
    trusted: bool,
    then: Callable[[TargetAccess | None], None],
    folder: Path | None = None,
) -> None:
    """Call `then(access)`: at once when there is no target (None: nothing may be imported) or the console
    runs with --trust-code; after the user's yes otherwise (never on no). `folder`: where the target would
    be looked for after the installed packages (default: the current folder)."""
    access = TargetAccess(folder) if folder is not None else TargetAccess.here()
    if not target:
        then(None)
        return
    if trusted:
        then(access)
        return

    def answered(answer: str | None) -> None:
        if answer == YES:
            then(access)

    question = code_question(preset_file, target, access.folder)
    app.push_screen(
        ConfirmScreen("Run this folder's code?", escape(question), [(NO, "No"), (YES, "Yes, run its code")]),
        answered,
    )

"""The console's settings in the user's settings file (theme, keymap, images, pinned baseline): checked
here, edited here.

`config.settings_file` reads the file (the `[slurm]` table of `tui-trainer submit` is in it too,
checked by `config.slurm_settings`); this module alone writes it. Reading never stops the console
from opening: a missing file gives the defaults; a file that is not TOML, or a bad value, gives the defaults for the bad
part and a `Problem` naming the file, line and key and what is allowed (the app shows them in
one notification). Saving edits the file with tomlkit, so the user's comments and order survive,
and replaces it atomically. `TUI_TRAINER_CONFIG` names another file (tests, several setups).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit

from ...atomic import atomic_write_text
from ...config.loading import Problem, parse_toml
from ...config.locate import line_of
from ...config.settings_file import config_path, read_settings_file
from ...text import close_match
from .image_display import IMAGES_SETTINGS
from .keymap import key_problem

SETTINGS = ("theme", "keymap", "images", "slurm", "baseline")
"""Every top-level setting; `slurm` is `tui-trainer submit`'s table, checked by `config.slurm_settings`."""
NEW_FILE_HEADER = '# tui-trainer settings (see the README, "Settings").\n'


@dataclass(frozen=True)
class UserConfig:
    """The settings that apply; a setting the file leaves out (or gets wrong) is its default."""

    theme: str | None = None
    """A Textual theme name ("nord", "textual-light"); None: Textual's default."""
    keymap: dict[str, str] = field(default_factory=dict)
    """Binding id → keys ("app.quit" → "ctrl+x"; several keys: "ctrl+x,f10")."""
    images: str = "auto"
    """How images are drawn: "auto" (terminal graphics where the terminal shows them), "graphics", "halfblocks"."""
    baseline: str = ""
    """The run folder pinned as the baseline (runs screen, b): every compare and the training charts draw it."""


def load_user_config(
    path: Path | None = None, *, themes: Collection[str] = (), binding_ids: Collection[str] = ()
) -> tuple[UserConfig, list[Problem]]:
    """The settings in `path` (default `config_path()`), and what is wrong with the file.

    `themes` and `binding_ids` are the names the console knows; a value outside them is a problem.
    """
    read = read_settings_file(path)
    if read.problems:
        return UserConfig(), list(read.problems)
    return _validate(read.table, read.source, read.lines, themes, binding_ids)


def _validate(
    raw: dict[str, Any], source: str, lines: dict[str, int], themes: Collection[str], binding_ids: Collection[str]
) -> tuple[UserConfig, list[Problem]]:
    problems: list[Problem] = []

    def problem(key: str, message: str) -> None:
        problems.append(Problem(source, message, key, line_of(lines, key)))

    for key in raw:
        if key not in SETTINGS:
            problem(key, f"unknown setting{_did_you_mean(key, SETTINGS)}; the settings are {', '.join(SETTINGS)}")

    theme = raw.get("theme")
    if theme is not None and not isinstance(theme, str):
        problem("theme", f"must be a theme's name in quotes, not {theme!r}")
        theme = None
    elif theme is not None and themes and theme not in themes:
        problem("theme", f"unknown theme {theme!r}{_did_you_mean(theme, themes)}; {_some_themes(themes)}")
        theme = None

    images = raw.get("images", "auto")
    if images not in IMAGES_SETTINGS:
        problem("images", f"must be one of {', '.join(map(repr, IMAGES_SETTINGS))}, not {images!r}")
        images = "auto"

    baseline = raw.get("baseline", "")
    if not isinstance(baseline, str):
        problem("baseline", f"must be a run folder's path in quotes, not {baseline!r}")
        baseline = ""

    keymap: dict[str, str] = {}
    table = raw.get("keymap", {})
    if not isinstance(table, dict):
        problem("keymap", 'must be a table: [keymap] then lines like "app.quit" = "ctrl+x"')
        table = {}
    for binding_id, keys in table.items():
        key = f'keymap."{binding_id}"'
        where = f"keymap.{binding_id}"  # key_lines joins quoted keys without their quotes
        if binding_ids and binding_id not in binding_ids:
            problems.append(
                Problem(
                    source,
                    f"unknown binding id{_did_you_mean(binding_id, binding_ids)}; the README's Settings lists the ids",
                    key,
                    line_of(lines, where),
                )
            )
            continue
        wrong = key_problem(keys) if isinstance(keys, str) else f"must be keys in quotes, not {keys!r}"
        if wrong:
            problems.append(Problem(source, wrong, key, line_of(lines, where)))
            continue
        keymap[binding_id] = keys
    return UserConfig(theme=theme, keymap=keymap, images=images, baseline=baseline), problems


def _some_themes(themes: Collection[str]) -> str:
    """What a theme may be, short enough for a notification at 80x24 (ctrl+p lists them all)."""
    names = sorted(themes)
    shown = [n for n in ("textual-dark", "textual-light", "nord", "gruvbox") if n in names] or names[:4]
    more = f", ... ({len(names)} in all: ctrl+p → Theme)" if len(names) > len(shown) else ""
    return f"themes: {', '.join(shown)}{more}"


def _did_you_mean(name: str, choices: Collection[str]) -> str:
    close = close_match(name, choices)
    return f" (did you mean {close!r}?)" if close else ""


def save_setting(key: str, value: Any, path: Path | None = None) -> None:
    """Set one top-level setting in the file (None: remove it), keeping everything else in it as written.

    Raises OSError when it cannot be written and PresetError when the file is not TOML (it is
    left alone: overwriting it would lose what the user wrote).
    """
    path = config_path() if path is None else path
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = NEW_FILE_HEADER
    parse_toml(text, str(path))  # a PresetError with the line of the mistake, before tomlkit's own
    document = tomlkit.parse(text)
    if value is None:
        document.pop(key, None)
    else:
        document[key] = value
    atomic_write_text(path, tomlkit.dumps(document))

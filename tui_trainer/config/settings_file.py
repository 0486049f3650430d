"""The user's settings file, read once for every part that has settings in it.

`config.toml` in the platform's config folder (`TUI_TRAINER_CONFIG` names another file). The
console's settings (theme, keymap) and the `[slurm]` table of `tui-trainer submit` live in the
same file; this module reads it into a table with each key's line, and each part checks its own
keys (`tui/common/user_config.py`, `config/slurm_settings.py`). Reading never raises: a missing
file is an empty table, and a file that cannot be read or is not TOML is an empty table with a
`Problem` naming the file (and line).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from .loading import PresetError, Problem, parse_toml
from .locate import key_lines

CONFIG_ENV = "TUI_TRAINER_CONFIG"


def config_path() -> Path:
    """`$TUI_TRAINER_CONFIG`, else `config.toml` in the user's config folder (XDG on Linux)."""
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_config_dir("tui-trainer", appauthor=False)) / "config.toml"


@dataclass(frozen=True)
class SettingsFile:
    """What the file holds: its table, the line of each key ("slurm.nodes" → 7), and why it could not be read."""

    source: str
    table: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()


def read_settings_file(path: Path | None = None) -> SettingsFile:
    """The settings in `path` (default `config_path()`); an unreadable file reads as empty, with its problem."""
    path = config_path() if path is None else path
    source = str(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return SettingsFile(source)
    except (OSError, UnicodeDecodeError) as exc:
        reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else (exc.strerror or str(exc))
        return SettingsFile(source, problems=(Problem(source, f"cannot read it ({reason}); using the defaults"),))
    try:
        table = parse_toml(text, source)
    except PresetError as exc:
        problems = tuple(
            Problem(p.source, f"{p.message}; using the defaults", p.key, p.line, p.column) for p in exc.problems
        )
        return SettingsFile(source, problems=problems)
    return SettingsFile(source, table, key_lines(text))

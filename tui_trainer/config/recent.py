"""Recently opened presets, kept in `recent.json` in the user's state folder.

That is `platformdirs.user_state_dir("tui-trainer")`: `$XDG_STATE_HOME/tui-trainer` (default
`~/.local/state/tui-trainer`) on Linux, `~/Library/Application Support/tui-trainer` on macOS,
`%LOCALAPPDATA%\\tui-trainer` on Windows. Older versions kept it beside the settings in
`$XDG_CONFIG_HOME/tui-trainer/`; that file is moved over the first time the list is read.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import platformdirs

from ..atomic import atomic_write_text

MAX_RECENT = 10


def recent_file() -> Path:
    return Path(platformdirs.user_state_dir("tui-trainer", appauthor=False)) / "recent.json"


def _old_recent_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "tui-trainer" / "recent.json"


def _migrate_old_file(new: Path) -> None:
    """Move the list from where older versions kept it, once (it is state, not a setting)."""
    old = _old_recent_file()
    if new.exists() or not old.is_file() or old == new:
        return
    with contextlib.suppress(OSError):
        atomic_write_text(new, old.read_text(encoding="utf-8"))
        old.unlink()


def load_recent() -> list[Path]:
    """Recent preset paths, newest first, those that still exist."""
    path = recent_file()
    _migrate_old_file(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    paths = data.get("recent", []) if isinstance(data, dict) else []
    return [Path(p) for p in paths if isinstance(p, str) and Path(p).is_file()]


def remember(path: Path) -> None:
    """Put `path` first in the recent list (a failure to write is not an error)."""
    path = path.resolve()
    paths = [path, *(p for p in load_recent() if p.resolve() != path)][:MAX_RECENT]
    with contextlib.suppress(OSError):
        atomic_write_text(recent_file(), json.dumps({"recent": [str(p) for p in paths]}, indent=1) + "\n")

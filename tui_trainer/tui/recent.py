"""Recently opened presets, kept in `$XDG_CONFIG_HOME/tui-trainer/recent.json`."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from ..atomic import atomic_write_text

MAX_RECENT = 10


def recent_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "tui-trainer" / "recent.json"


def load_recent() -> list[Path]:
    """Recent preset paths, newest first, those that still exist."""
    try:
        data = json.loads(recent_file().read_text(encoding="utf-8"))
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

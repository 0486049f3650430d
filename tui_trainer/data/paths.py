"""Where datasets and the decoded-tensor cache live by default (XDG-style, overridable)."""

from __future__ import annotations

import os
from pathlib import Path

from ..text import close_match, printable

CACHE_ENV = "TUI_TRAINER_CACHE"
"""Environment variable that moves the tensor cache (tests point it at a temporary folder)."""


def _cache_home() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return Path(xdg) if xdg else Path.home() / ".cache"


def default_data_root() -> Path:
    """Where CIFAR-10 goes when `data.root` is empty."""
    return _cache_home() / "tui-trainer" / "data"


def cache_dir() -> Path:
    """Folder of the decoded-tensor cache: $TUI_TRAINER_CACHE, else the XDG cache folder."""
    override = os.environ.get(CACHE_ENV, "")
    return Path(override).expanduser() if override else _cache_home() / "tui-trainer" / "cache"


def resolve_root(root: str) -> Path:
    """`data.root` as an absolute path (`~` expanded), so cache keys do not depend on the cwd."""
    return Path(root).expanduser().absolute()


def missing_root_message(root: Path) -> str:
    """`data root X does not exist`, with the likely intended sibling (`../data/digit` -> `../data/digits`)."""
    try:
        siblings = [entry.name for entry in root.parent.iterdir() if not entry.name.startswith(".")]
    except OSError:
        siblings = []
    match = close_match(root.name, siblings)
    hint = f"; did you mean {printable(root.parent / match)}?" if match else ""
    return f"data root {printable(root)} does not exist{hint}"

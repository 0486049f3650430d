"""The presets the console offers to open: built-in, those in ./presets, and the recent ones.

Built-in presets are read-only (saving one becomes "save as"), writable files of a checkout
included: a change there would silently change every later run of that name. A summary is read
without validating, so a broken file still lists with its name.
"""

from __future__ import annotations

from pathlib import Path

from .builtin import builtin_preset_dir
from .loading import PresetError, parse_toml
from .recent import load_recent


def preset_sources(cwd: Path | None = None) -> list[tuple[str, Path]]:
    """(group, path) of every preset to list, each file once: built-in, ./presets, recent."""
    cwd = cwd or Path.cwd()
    groups = [
        ("built-in", sorted(builtin_preset_dir().glob("*.toml"))),
        ("./presets", sorted((cwd / "presets").glob("*.toml"))),
        ("recent", load_recent()),
    ]
    seen: set[Path] = set()
    out: list[tuple[str, Path]] = []
    for group, paths in groups:
        for path in paths:
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                out.append((group, path))
    return out


def is_builtin(path: Path) -> bool:
    """A preset shipped with the package (installed, or the presets/ of an editable checkout): never
    written to ("save" becomes "save as")."""
    try:
        path.resolve().relative_to(builtin_preset_dir().resolve())
    except (ValueError, OSError):
        return False
    return True


def refuse_builtin(path: Path) -> None:
    """Raise PermissionError (one line, naming the file) when `path` is a built-in preset's place."""
    if is_builtin(path):
        raise PermissionError(f"{path} is a built-in preset (read-only): save a copy elsewhere, e.g. ./presets/")


def read_summary(path: Path) -> tuple[str, str]:
    """(name, description) of a preset file for the list, without validating it."""
    try:
        raw = parse_toml(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError):
        return path.stem, "(cannot read)"
    except PresetError:
        return path.stem, "(TOML syntax error)"
    return str(raw.get("name", path.stem)), str(raw.get("description", ""))

"""Write presets back to TOML without losing what the user wrote.

tomlkit keeps comments, key order and formatting; only the values that changed are touched,
and files are replaced atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import Item, Table

from ..atomic import atomic_write_text
from .catalog import refuse_builtin
from .schema import SECTIONS, Preset


def _plain(preset: Preset) -> dict[str, Any]:
    """The preset as TOML-ready Python values (tuples become lists)."""
    return preset.model_dump(mode="json")


def resolved_toml(preset: Preset, header: str = "") -> str:
    """The whole preset with every default filled in, one table per section."""
    values = _plain(preset)
    doc = tomlkit.document()
    if header:
        for line in header.splitlines():
            doc.add(tomlkit.comment(line))
    for key, value in values.items():
        if key not in SECTIONS:
            doc[key] = value
    for section in SECTIONS:
        table = tomlkit.table()
        for key, value in values[section].items():
            if isinstance(value, dict):
                sub = tomlkit.table()
                sub.update(value)
                table.add(key, sub)
            else:
                table.add(key, value)
        doc.add(tomlkit.nl())
        doc[section] = table
    return tomlkit.dumps(doc)


def _set_keeping_comment(container: Any, key: str, value: Any) -> None:
    old = container.get(key) if hasattr(container, "get") else None
    new = tomlkit.item(value)
    if isinstance(old, Item) and not isinstance(old, Table) and old.trivia.comment:
        new.trivia.comment = old.trivia.comment
        new.trivia.comment_ws = old.trivia.comment_ws
    container[key] = new


def update_text(text: str, preset: Preset) -> str:
    """Return `text` with its values changed to match `preset`, everything else byte-for-byte.

    Keys that the file does not mention are added only when they differ from the default.
    """
    doc = tomlkit.parse(text)
    values = _plain(preset)
    defaults = _plain(Preset())
    for key, value in values.items():
        if key in SECTIONS:
            section_values = value
            written = doc.get(key)
            for field, field_value in section_values.items():
                current = written.get(field) if written is not None else None
                if current is not None and _unwrap(current) == field_value:
                    continue
                if current is None and field_value == defaults[key][field]:
                    continue
                if written is None:
                    doc[key] = tomlkit.table()
                    written = doc[key]
                _set_keeping_comment(written, field, field_value)
        else:
            current = doc.get(key)
            if current is not None and _unwrap(current) == value:
                continue
            if current is None and value == defaults[key]:
                continue
            _set_keeping_comment(doc, key, value)
    return tomlkit.dumps(doc)


def _unwrap(item: Any) -> Any:
    return item.unwrap() if hasattr(item, "unwrap") else item


def save_preset(path: str | Path, preset: Preset) -> None:
    """Save `preset` to `path`, editing the existing file in place if there is one (never a built-in)."""
    path = Path(path)
    refuse_builtin(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    new_text = update_text(text, preset) if text else resolved_toml(preset)
    atomic_write_text(path, new_text)

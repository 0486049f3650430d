"""Every key binding of the console by its id, and the check of a key string a user writes.

The settings file's `[keymap]` table maps binding ids to keys; Textual applies it with
`App.set_keymap`. The ids are read from the `BINDINGS` of the classes in `tui_trainer.tui`, so a
binding added anywhere is remappable (and listed in the README, see `keymap_table`) without a
second list to keep in step. `python -m tui_trainer.tui.common.keymap` prints that table.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import unicodedata
from dataclasses import dataclass
from functools import cache

from textual.binding import Binding
from textual.dom import DOMNode
from textual.keys import KEY_NAME_REPLACEMENTS, KEY_TO_UNICODE_NAME, Keys, _normalize_key_list

MODIFIERS = ("ctrl", "shift", "alt", "meta", "super", "hyper")
# Named keys Textual reports without a modifier ("f5", "pageup", "escape", "space", ...).
_NAMED_KEYS = {key.value for key in Keys if "+" not in key.value} | {"space", "tab", "enter", "backspace"}


@dataclass(frozen=True)
class BindingInfo:
    """One binding of the console, as the README lists it."""

    id: str
    keys: str
    description: str
    owner: str  # the screen or widget class that declares it


def _binding_classes() -> list[type[DOMNode]]:
    """The App, screens and widgets defined in `tui_trainer.tui` and below (every module is imported)."""
    package = importlib.import_module("tui_trainer.tui")
    classes: list[type[DOMNode]] = []
    names = sorted(m.name for m in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."))
    for name in names:  # sub-packages too (tui/confusion/)
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, DOMNode) and cls.__module__ == module.__name__ and "BINDINGS" in vars(cls):
                classes.append(cls)
    return classes


def declared_bindings() -> list[tuple[type[DOMNode], Binding | tuple]]:
    """(class, entry) for every entry of every `BINDINGS` in the console, in declaration order."""
    return [(cls, entry) for cls in _binding_classes() for entry in vars(cls)["BINDINGS"]]


@cache
def console_bindings() -> dict[str, BindingInfo]:
    """id → binding, for every binding of the console that has an id."""
    found: dict[str, BindingInfo] = {}
    for cls, entry in declared_bindings():
        if isinstance(entry, Binding) and entry.id:
            found.setdefault(entry.id, BindingInfo(entry.id, entry.key, entry.description, cls.__name__))
    return found


def key_problem(keys: str) -> str | None:
    """Why `keys` ("ctrl+x", "f5", "ctrl+x,f10") is not a key Textual can bind, or None when it is."""
    if not isinstance(keys, str) or not keys.strip():
        return 'needs a key, e.g. "ctrl+x", "f5" or "ctrl+x,f10"'
    for key in (k.strip() for k in keys.split(",")):
        *modifiers, name = key.split("+")
        if not key or not name:
            return f"an empty key in {keys!r} (a stray ',' or '+')"
        bad = [m for m in modifiers if m not in MODIFIERS]
        if bad:
            return f"unknown modifier {bad[0]!r}; modifiers: {', '.join(MODIFIERS)}"
        if not _is_key_name(name):
            return f"unknown key {name!r}; keys: a character, f1-f24, escape, enter, space, up, pageup, ..."
    return None


def _is_key_name(name: str) -> bool:
    if len(name) == 1 or name in _NAMED_KEYS or name in KEY_NAME_REPLACEMENTS.values():
        return True
    try:
        unicodedata.lookup(KEY_TO_UNICODE_NAME.get(name, name.replace("_", " ")))
    except KeyError:
        return False
    return True


def _keys(keys: str) -> set[str]:
    """The keys of a binding as Textual compares them ("?" and "question_mark" are one key)."""
    return set(_normalize_key_list(keys).split(","))


def keymap_clashes(keymap: dict[str, str]) -> list[BindingInfo]:
    """The bindings that lose their key to a remapped binding of the same screen or widget.

    Textual drops such a binding silently (its own clash hook skips bindings that have an id).
    """
    bindings = console_bindings()
    taken: dict[str, set[str]] = {}  # owner -> keys given to its remapped bindings
    for binding_id, keys in keymap.items():
        if binding_id in bindings:
            taken.setdefault(bindings[binding_id].owner, set()).update(_keys(keys))
    return [
        info for info in bindings.values() if info.id not in keymap and _keys(info.keys) & taken.get(info.owner, set())
    ]


def keymap_table() -> str:
    """The README's table of binding ids (Markdown), generated from the code."""
    rows = ["| binding id | default keys | what it does | where |", "|---|---|---|---|"]
    for info in sorted(console_bindings().values(), key=lambda b: b.id):
        keys = ", ".join(f"`{k.strip()}`" for k in info.keys.split(","))
        rows.append(f"| `{info.id}` | {keys} | {info.description} | {info.owner} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(keymap_table(), end="")

"""Every binding can be remapped by id, the README lists every id, and key strings are checked."""

from __future__ import annotations

import re

import pytest
from textual.binding import Binding

from tests.helpers import REPO
from tui_trainer.tui.common.keymap import console_bindings, declared_bindings, key_problem, keymap_clashes, keymap_table


def test_every_binding_has_an_id_so_it_can_be_remapped() -> None:
    declared = declared_bindings()
    assert len(declared) > 50
    missing = [f"{cls.__name__}: {entry}" for cls, entry in declared if not (isinstance(entry, Binding) and entry.id)]
    assert missing == []


def test_binding_ids_name_their_screen_and_are_not_reused_across_screens() -> None:
    owners: dict[str, set[str]] = {}
    for cls, entry in declared_bindings():
        owners.setdefault(entry.id, set()).add(cls.__name__)
        assert re.fullmatch(r"[a-z_]+\.[a-z_]+", entry.id), entry.id
    assert {binding_id: o for binding_id, o in owners.items() if len(o) > 1} == {}


def test_the_readme_lists_every_binding_id() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = keymap_table()
    assert table in readme, (
        "README's binding-id table is out of date: replace it with the output of "
        "`python -m tui_trainer.tui.common.keymap`"
    )
    assert all(f"`{binding_id}`" in table for binding_id in console_bindings())


@pytest.mark.parametrize("keys", ["ctrl+x", "f5", "ctrl+x,f10", "question_mark", "?", "ctrl+shift+up", "space"])
def test_keys_textual_can_bind_pass(keys: str) -> None:
    assert key_problem(keys) is None


@pytest.mark.parametrize(
    ("keys", "says"),
    [
        ("", "needs a key"),
        ("ctrl+", "empty key"),
        ("a,,b", "empty key"),
        ("cntrl+x", "unknown modifier 'cntrl'"),
        ("ctrl+escap", "unknown key 'escap'"),
    ],
)
def test_keys_textual_cannot_bind_say_why(keys: str, says: str) -> None:
    assert says in (key_problem(keys) or "")


def test_a_remap_onto_a_key_of_the_same_screen_names_the_bindings_that_lose_it() -> None:
    assert [b.id for b in keymap_clashes({"run.stop": "p"})] == ["run.pause", "run.resume"]
    assert keymap_clashes({"run.stop": "k", "app.help": "?"}) == []  # "?" is help's own key, as question_mark
    assert keymap_clashes({"run.stop": "p", "run.pause": "k", "run.resume": "k"}) == []  # moved out of the way

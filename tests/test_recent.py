"""The recent-files list lives in the state folder; a list where older versions kept it is moved once."""

from __future__ import annotations

import json
from pathlib import Path

from tui_trainer.config.recent import load_recent, recent_file, remember


def test_the_list_is_in_the_xdg_state_folder(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    preset = tmp_path / "a.toml"
    preset.write_text("")
    remember(preset)
    assert recent_file() == tmp_path / "state" / "tui-trainer" / "recent.json"
    assert load_recent() == [preset.resolve()]


def test_the_list_older_versions_kept_with_the_settings_is_moved_once(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    preset = tmp_path / "a.toml"
    preset.write_text("")
    old = tmp_path / "config" / "tui-trainer" / "recent.json"
    old.parent.mkdir(parents=True)
    old.write_text(json.dumps({"recent": [str(preset)]}))
    assert load_recent() == [preset]
    assert not old.exists()
    assert json.loads(recent_file().read_text())["recent"] == [str(preset)]
    old.write_text(json.dumps({"recent": []}))  # a stray old file later does not replace the list
    assert load_recent() == [preset]

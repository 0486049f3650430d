"""Shared fixtures: every test runs with its own cache and config folders, never the user's; a preset
to edit."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers import SMOKE


@pytest.fixture(autouse=True)
def _isolated_user_folders(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.delenv("TUI_TRAINER_CONFIG", raising=False)
    monkeypatch.delenv("TUI_TRAINER_IMAGES", raising=False)  # images in half blocks unless a test forces graphics
    monkeypatch.setenv("TUI_TRAINER_CACHE", str(home / "cache" / "tui-trainer"))


@pytest.fixture
def preset_file(tmp_path: Path) -> Path:
    """A copy of the smoke preset that a test may edit and save."""
    path = tmp_path / "smoke.toml"
    shutil.copyfile(SMOKE, path)
    return path

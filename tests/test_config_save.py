"""Saving presets keeps what the user wrote, and never leaves a half-written file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trainer import atomic
from tui_trainer.config import load_preset, save_preset

ORIGINAL = """# My experiment — keep these notes!
name = "mine"   # short name

[optimizer]
# tuned by hand
lr = 0.001      # do not raise
name = "rmsprop"

[train]
epochs = 40
"""


def test_save_changes_only_the_edited_value(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(ORIGINAL)
    preset = load_preset(path)
    preset.optimizer.lr = 0.0005
    save_preset(path, preset)
    assert path.read_text() == ORIGINAL.replace("lr = 0.001 ", "lr = 0.0005 ")
    assert load_preset(path).optimizer.lr == 0.0005


def test_save_adds_new_non_default_keys_and_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(ORIGINAL)
    preset = load_preset(path)
    preset.train.seed = 7
    preset.data.batch_size = 128
    save_preset(path, preset)
    text = path.read_text()
    assert text.startswith(ORIGINAL.rstrip("\n"))  # everything the user wrote is still there, unchanged
    assert load_preset(path) == preset


def test_save_to_a_new_file_writes_the_whole_preset(tmp_path: Path) -> None:
    preset = load_preset(Path(__file__).resolve().parents[1] / "presets" / "smoke.toml")
    target = tmp_path / "copy.toml"
    save_preset(target, preset)
    assert load_preset(target) == preset


def test_failed_write_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(ORIGINAL)
    preset = load_preset(path)
    preset.optimizer.lr = 0.5

    def crash(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        save_preset(path, preset)
    assert path.read_text() == ORIGINAL
    assert [p.name for p in tmp_path.iterdir()] == ["mine.toml"]  # no temporary file left behind


def test_atomic_write_keeps_file_permissions(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text("a = 1\n")
    path.chmod(0o640)
    atomic.atomic_write_text(path, "a = 2\n")
    assert path.read_text() == "a = 2\n" and (path.stat().st_mode & 0o777) == 0o640

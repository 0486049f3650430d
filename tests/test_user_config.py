"""The settings file: where it lives, what a broken one gives, and saves that keep the user's comments."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO
from tui_trainer.config.loading import PresetError
from tui_trainer.tui.common.keymap import console_bindings
from tui_trainer.tui.common.user_config import UserConfig, config_path, load_user_config, save_setting

THEMES = ("textual-dark", "textual-light", "nord")
IDS = ("app.quit", "app.help", "run.stop")


def load(path: Path):
    return load_user_config(path, themes=THEMES, binding_ids=IDS)


def test_the_file_is_config_toml_in_the_xdg_config_folder(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_path() == tmp_path / "xdg" / "tui-trainer" / "config.toml"


def test_tui_trainer_config_names_another_file(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TUI_TRAINER_CONFIG", str(tmp_path / "mine.toml"))
    assert config_path() == tmp_path / "mine.toml"


def test_a_missing_file_is_the_defaults(tmp_path: Path) -> None:
    assert load(tmp_path / "none.toml") == (UserConfig(), [])


def test_theme_and_keymap_are_read(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('theme = "nord"\n\n[keymap]\n"app.quit" = "ctrl+x"\n"run.stop" = "ctrl+x,f10"\n')
    config, problems = load(path)
    assert problems == []
    assert config == UserConfig(theme="nord", keymap={"app.quit": "ctrl+x", "run.stop": "ctrl+x,f10"})


def test_a_file_that_is_not_toml_gives_the_defaults_and_its_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('theme = "nord"\n[keymap\n')
    config, problems = load(path)
    assert config == UserConfig()
    assert len(problems) == 1
    assert problems[0].source == str(path) and problems[0].line == 2
    assert "TOML syntax error" in problems[0].message


def test_a_bad_value_names_line_key_and_what_is_allowed_and_keeps_the_good_parts(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '# mine\ntheme = "nrod"\ncolour = 1\n\n[keymap]\n"app.quit" = "ctrl+x"\n'
        '"app.qiut" = "f2"\n"app.help" = "ctrl+nope"\n"run.stop" = 5\n'
    )
    config, problems = load(path)
    assert config == UserConfig(theme=None, keymap={"app.quit": "ctrl+x"})
    by_key = {p.key: p for p in problems}
    assert (by_key["theme"].line, by_key["colour"].line) == (2, 3)
    assert "'nrod'" in by_key["theme"].message and "nord" in by_key["theme"].message
    assert "textual-light" in by_key["theme"].message  # the themes to choose from
    assert "theme, keymap" in by_key["colour"].message
    assert by_key['keymap."app.qiut"'].line == 7
    assert "did you mean 'app.quit'" in by_key['keymap."app.qiut"'].message
    assert by_key['keymap."app.help"'].line == 8
    assert "unknown key 'nope'" in by_key['keymap."app.help"'].message
    assert by_key['keymap."run.stop"'].line == 9


def test_a_keymap_that_is_not_a_table_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('keymap = "ctrl+x"\n')
    config, problems = load(path)
    assert config == UserConfig()
    assert problems[0].key == "keymap" and problems[0].line == 1


def test_a_file_that_is_not_utf8_gives_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b'theme = "\xff"\n')
    config, problems = load(path)
    assert config == UserConfig() and "not UTF-8" in problems[0].message


def test_saving_keeps_the_users_comments_and_keymap(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '# my settings\ntheme = "nord" # dark, for the evening\n\n[keymap]\n# quit\n"app.quit" = "ctrl+x"\n'
    )
    save_setting("theme", "textual-light", path)
    assert path.read_text() == (
        '# my settings\ntheme = "textual-light" # dark, for the evening\n\n[keymap]\n# quit\n"app.quit" = "ctrl+x"\n'
    )
    assert load(path)[0] == UserConfig(theme="textual-light", keymap={"app.quit": "ctrl+x"})


def test_saving_creates_the_file_and_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "new" / "config.toml"
    save_setting("theme", "nord", path)
    assert load(path)[0].theme == "nord"
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]  # no temporary file left


def test_saving_leaves_a_broken_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("theme = [\n")
    with pytest.raises(PresetError):
        save_setting("theme", "nord", path)
    assert path.read_text() == "theme = [\n"


def test_reading_the_settings_does_not_import_torch(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('theme = "nord"\n')
    code = (
        "import sys; from tui_trainer.tui.common.user_config import load_user_config; "
        f"print(load_user_config(__import__('pathlib').Path({str(path)!r}))[0].theme, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["nord", "False"]


def test_the_readme_example_is_a_settings_file_without_problems(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    example = readme.split("## Settings", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "config.toml"
    path.write_text(example)
    config, problems = load_user_config(path, themes=("nord",), binding_ids=console_bindings())
    assert problems == []
    assert config.theme == "nord" and config.keymap["app.quit"] == "ctrl+x"

"""Built-in presets by name after `pip install .`, and `--list-presets` saying where they live."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trainer.cli import main
from tui_trainer.config.builtin import builtin_preset_dir


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no presets/ folder here: as a user after pip install


def test_a_built_in_preset_is_named_by_name(capsys) -> None:
    assert main(["--check", "smoke"]) == 0
    assert 'name = "smoke"' in capsys.readouterr().out
    assert main(["--check", "smoke.toml"]) == 0


def test_an_unknown_preset_says_where_the_built_in_ones_live(capsys) -> None:
    assert main(["--check", "smokey"]) == 2
    err = capsys.readouterr().err
    assert "smokey: no such file, nor a built-in preset" in err and "smoke" in err and "--list-presets" in err


def test_list_presets_names_each_with_its_description_and_folder(tmp_path: Path, capsys) -> None:
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "mine.toml").write_text('name = "mine"\ndescription = "my own"\n')
    assert main(["--list-presets"]) == 0
    out = capsys.readouterr().out
    assert str(builtin_preset_dir()) in out and "tui-trainer --headless NAME" in out
    lines = out.splitlines()
    assert any(line.split()[:1] == ["smoke"] and "Synthetic shapes" in line for line in lines)
    assert any(line.split()[:3] == ["mine", "my", "own"] for line in lines)

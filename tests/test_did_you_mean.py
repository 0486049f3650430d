"""Typos get a likely fix: a built-in preset's name, a data root's sibling folder, an unclosed TOML
string said in words, and the shortest model name completed first."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trainer.cli import main
from tui_trainer.config.loading import PresetError, parse_toml
from tui_trainer.tui.preset.field_suggesters import first_completion


def test_a_misspelt_builtin_preset_name_suggests_the_right_one(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["--check", "smokee"]) == 2
    assert capsys.readouterr().err.startswith("error: no preset 'smokee'; did you mean 'smoke'?")


def test_a_missing_data_root_suggests_its_close_sibling(tmp_path: Path, monkeypatch, capsys) -> None:
    data = tmp_path / "data"
    (data / "digits" / "train" / "one").mkdir(parents=True)
    (data / "labels").mkdir()
    preset = tmp_path / "p.toml"
    preset.write_text('name = "p"\n[data]\ndataset = "imagefolder"\nroot = "data/digit"\n')
    monkeypatch.chdir(tmp_path)
    assert main(["--check", str(preset)]) != 0
    err = capsys.readouterr().err
    assert f"data root {data / 'digit'} does not exist; did you mean {data / 'digits'}?" in err  # beside the preset


def test_an_unclosed_string_is_an_unterminated_string_on_its_line() -> None:
    with pytest.raises(PresetError) as caught:
        parse_toml('name = "p"\n[data]\nroot = "data/digits\nbatch_size = 8\n', "p.toml")
    problem = caught.value.problems[0]
    assert problem.line == 3 and "unterminated string" in problem.message and "Illegal" not in problem.message


def test_completing_a_model_name_offers_the_shortest_match_first() -> None:
    names = ("resnet9", "torchvision:resnet101", "torchvision:resnet152", "torchvision:resnet18")
    assert first_completion(names, "torchvision:res") == "torchvision:resnet18"
    assert first_completion(names, "torchvision:resnet1") == "torchvision:resnet18"
    assert first_completion(names, "torchvision:resnet18") is None  # complete already

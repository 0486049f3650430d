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


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["trian", "smoke"], "error: no command, file or built-in preset 'trian'; did you mean `tui-trainer train`?"),
        (["explian"], "did you mean `tui-trainer explain`?"),
        (
            ["eval", "runs/x", "--dta", "d"],
            "tui-trainer eval: error: unrecognized arguments: --dta d; did you mean --data?",
        ),
        (["train", "smoke", "--epochs", "3"], "(a preset value is --set section.key=VALUE; --epochs is an option of"),
        (["eval", "runs/x", "--top-k", "3"], "(--top-k is an option of `tui-trainer predict`)"),
    ],
)
def test_a_misspelt_command_or_option_is_named_with_the_likely_one(
    argv: list[str], says: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert says in capsys.readouterr().err


def test_a_file_or_built_in_preset_named_like_a_misspelt_command_still_opens(tmp_path: Path, monkeypatch) -> None:
    opened: list[Path | None] = []
    monkeypatch.setattr("tui_trainer.tui.app.run_console", lambda path, **_: opened.append(path) or 0)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "trian").mkdir()
    assert main(["trian"]) == 0 and main(["seed"]) == 0  # a folder; a built-in ("seed" is close to "serve")
    assert opened[0] == Path("trian") and opened[1].name == "seed.toml"


def test_the_console_names_the_built_in_preset_a_missing_path_is_close_to(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["smokee"]) == 2
    assert capsys.readouterr().err == "tui-trainer: smokee: no such file or folder; did you mean 'smoke'?\n"

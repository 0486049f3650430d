"""Built-in presets and sweeps by name after `pip install .`, `--list-presets` saying where they live,
and a sweep file where a preset goes (or the other way round) told in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_trainer.cli import main
from tui_trainer.cli import sweep as sweep_headless
from tui_trainer.config.builtin import builtin_preset_dir


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no presets/ folder here: as a user after pip install


def test_a_built_in_preset_is_named_by_name(capsys) -> None:
    assert main(["--check", "smoke"]) == 0
    assert 'name = "smoke"' in capsys.readouterr().out
    assert main(["--check", "smoke.toml"]) == 0


def test_an_unknown_preset_says_where_the_built_in_ones_live(capsys) -> None:
    assert main(["--check", "quokka"]) == 2
    err = capsys.readouterr().err
    assert (
        "quokka: no such file, nor a built-in preset" in err
        and "smoke" in err
        and "`tui-trainer presets` lists them" in err
    )


def test_list_presets_names_each_with_its_description_and_folder(tmp_path: Path, capsys) -> None:
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "mine.toml").write_text('name = "mine"\ndescription = "my own"\n')
    assert main(["--list-presets"]) == 0
    out = capsys.readouterr().out
    assert str(builtin_preset_dir()) in out and "tui-trainer --headless NAME" in out
    lines = out.splitlines()
    assert any(line.split()[:1] == ["smoke"] and "Synthetic shapes" in line for line in lines)
    assert any(line.split()[:3] == ["mine", "my", "own"] for line in lines)


def test_list_presets_lists_sweeps_apart_with_the_command_that_runs_them(tmp_path: Path, capsys) -> None:
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "mine-sweep.toml").write_text(SWEEP)
    assert main(["--list-presets"]) == 0
    out = capsys.readouterr().out
    presets, sweeps = out.split("built-in sweeps (tui-trainer --sweep NAME)")
    assert "smoke-sweep" not in presets and "mine-sweep" not in presets
    assert any(line.split()[:1] == ["smoke-sweep"] for line in sweeps.splitlines())
    local = sweeps.split("tui-trainer --sweep presets/NAME.toml")[1]
    assert any(line.split()[:1] == ["mine-sweep"] for line in local.splitlines())


def test_a_built_in_sweep_is_named_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[Path] = []
    monkeypatch.setattr(sweep_headless, "run_sweep_headless", lambda path, *args, **kwargs: ran.append(path) or 0)
    assert main(["--sweep", "smoke-sweep"]) == 0
    assert ran == [builtin_preset_dir() / "smoke-sweep.toml"]


SWEEP = 'preset = "p.toml"\n[space]\n"optimizer.lr" = [0.1, 0.2]\n'


@pytest.mark.parametrize("mode", ["--check", "--headless", "--find-lr"])
@pytest.mark.parametrize("named", ["by name", "by path"])
def test_a_sweep_file_where_a_preset_goes_is_one_line_with_the_command(
    mode: str, named: str, tmp_path: Path, capsys
) -> None:
    arg = "smoke-sweep"
    if named == "by path":
        arg = str(tmp_path / "s.toml")
        Path(arg).write_text(SWEEP)
    assert main([mode, arg, "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {arg} is a sweep file: run it with `tui-trainer --sweep {arg}`\n"
    assert not (tmp_path / "runs").exists()


def test_a_preset_given_to_sweep_is_one_line_with_the_command(tmp_path: Path, capsys) -> None:
    assert main(["--sweep", "smoke", "--sweeps-dir", str(tmp_path / "sweeps")]) == 2
    err = capsys.readouterr().err
    assert err == "error: smoke is a preset, not a sweep file: train it with `tui-trainer --headless smoke`\n"
    assert not (tmp_path / "sweeps").exists()

"""`--check` imports `model.target` and checks `[model.params]` against the factory's signature."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.helpers import SMOKE
from tui_trainer.cli import main
from tui_trainer.config.code_trust import TargetAccess

FACTORY = """
from torch import nn


def make_net(num_classes, hidden=32):
    return nn.Sequential(nn.Flatten(), nn.LazyLinear(hidden), nn.ReLU(), nn.Linear(hidden, num_classes))
"""


def write_preset(folder: Path, model: str) -> Path:
    text = SMOKE.read_text(encoding="utf-8")
    start = text.index("[model]")
    end = text.index("[", start + 1)
    path = folder / "mine.toml"
    path.write_text(text[:start] + model + "\n" + text[end:], encoding="utf-8")
    return path


@pytest.fixture
def preset_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "presets"
    folder.mkdir()
    (folder / "mynets.py").write_text(FACTORY)
    monkeypatch.chdir(tmp_path)  # not the preset's folder: that one must be searched by itself
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield folder
    sys.modules.pop("mynets", None)


def check(path: Path, *overrides: str) -> int:
    return main(["--check", str(path), *[a for o in overrides for a in ("--set", o)]])


def test_a_target_next_to_the_preset_passes(preset_folder: Path, capsys) -> None:
    path = write_preset(preset_folder, '[model]\ntarget = "mynets:make_net"\n\n[model.params]\nhidden = 8\n')
    assert check(path) == 0, capsys.readouterr().err


def test_a_param_the_factory_does_not_take_is_named_with_its_line(preset_folder: Path, capsys) -> None:
    path = write_preset(preset_folder, '[model]\ntarget = "mynets:make_net"\n\n[model.params]\nhiden = 8\n')
    line = path.read_text().splitlines().index("hiden = 8") + 1
    assert check(path) == 2
    err = capsys.readouterr().err
    assert f"{path}:{line}: model.params.hiden: " in err
    assert "did you mean 'hidden'" in err and "num_classes, hidden" in err


def test_a_target_that_cannot_be_imported_fails_the_check(preset_folder: Path, capsys) -> None:
    path = write_preset(preset_folder, '[model]\ntarget = "nosuchnets:make_net"\n')
    line = path.read_text().splitlines().index('target = "nosuchnets:make_net"') + 1
    assert check(path) == 2
    err = capsys.readouterr().err
    assert f"{path}:{line}: model.target: cannot import 'nosuchnets'" in err
    assert check(path, 'model.target="mynets:no_such"') == 2
    assert "--set model.target=\"mynets:no_such\": model.target: 'mynets' has no 'no_such'" in capsys.readouterr().err


def test_the_current_folder_is_not_searched(tmp_path: Path, preset_folder: Path, capsys) -> None:
    """Only the preset's own folder is the user's choice: a module that happens to lie where they stand is not."""
    (tmp_path / "herenets.py").write_text(FACTORY + "\nimport pathlib\npathlib.Path('ran').write_text('yes')\n")
    path = write_preset(preset_folder, '[model]\ntarget = "herenets:make_net"\n')
    try:
        assert check(path) == 2
        assert "cannot import 'herenets'" in capsys.readouterr().err
        assert not (tmp_path / "ran").exists()
        moved = preset_folder / "herenets.py"  # the control: beside the preset, the same file runs
        (tmp_path / "herenets.py").rename(moved)
        assert check(path) == 0, capsys.readouterr().err
        assert (tmp_path / "ran").read_text() == "yes"
    finally:
        sys.modules.pop("herenets", None)


def test_check_leaves_sys_path_as_it_was(preset_folder: Path) -> None:
    path = write_preset(preset_folder, '[model]\ntarget = "mynets:make_net"\n\n[model.params]\nhidden = 8\n')
    before = list(sys.path)
    assert check(path) == 0
    assert sys.path == before and "mynets" in sys.modules


def test_a_refused_param_at_build_time_does_not_blame_num_classes(preset_folder: Path) -> None:
    from tui_trainer.config.schema import ModelConfig
    from tui_trainer.engine.builders import build_model

    code = TargetAccess.beside(preset_folder / "mine.toml")
    with pytest.raises(ValueError, match=r"does not accept \['hiden'\]"):
        build_model(ModelConfig(target="mynets:make_net", params={"hiden": 8}), num_classes=10, code=code)


def test_a_run_started_from_the_preset_finds_its_target_where_check_does(preset_folder: Path, tmp_path: Path) -> None:
    """The console starts runs in-process: the preset's folder is importable for the run, not only for --check."""
    from tui_trainer.config import load_preset
    from tui_trainer.runs.launch import run_training

    path = write_preset(preset_folder, '[model]\ntarget = "mynets:make_net"\n\n[model.params]\nhidden = 8\n')
    tiny = ["data.synthetic_train_size=64", "data.synthetic_val_size=32", "data.image_size=16", "train.epochs=1"]
    preset = load_preset(path, [*tiny, "scheduler.t_max=1", "train.device=cpu"])
    outcome = run_training(preset, runs_dir=tmp_path / "runs", preset_source=path, code=TargetAccess.beside(path))
    assert outcome.state == "finished", outcome.error


def test_a_target_that_cannot_be_imported_is_the_presets_error_with_a_hint(tmp_path: Path) -> None:
    from tui_trainer.config import load_preset
    from tui_trainer.engine.events import RunFailed
    from tui_trainer.runs.launch import run_training

    path = write_preset(tmp_path, '[model]\ntarget = "no_such_module_here:make"\n')
    preset = load_preset(path, ["data.synthetic_train_size=64", "data.synthetic_val_size=32", "train.device=cpu"])
    failures: list[RunFailed] = []
    outcome = run_training(
        preset,
        runs_dir=tmp_path / "runs",
        preset_source=path,
        listeners=[lambda e: failures.append(e)],
        code=TargetAccess.beside(path),
    )
    failed = [e for e in failures if isinstance(e, RunFailed)]
    assert outcome.state == "failed"
    assert failed and failed[0].user_error, "a wrong model.target is the preset's mistake, not a crash"
    assert "model.target" in failed[0].hint and "--check" in failed[0].hint

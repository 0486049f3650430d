"""A data problem found before the first batch is the preset's or the data's: `--headless` exits 2
as `--check` does, and leaves no `failed` run folder of 0 epochs behind (the runs list stays clean)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers import SET_TINY, SMOKE
from tui_trainer.cli import main
from tui_trainer.config import load_preset
from tui_trainer.engine.events import RunFailed
from tui_trainer.runs.launch import run_training


def _images(folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    for i in range(count):
        Image.new("RGB", (16, 16), (i * 30, 90, 200)).save(folder / f"{i}.png")


def _missing_root(root: Path) -> str:
    return str(root / "not-here")


def _one_class(root: Path) -> str:
    _images(root / "train" / "cat", 4)
    return str(root)


def _empty_class_folder(root: Path) -> str:
    _images(root / "train" / "cat", 4)
    (root / "train" / "dog").mkdir()
    return str(root)


def _undecodable_image(root: Path) -> str:
    _images(root / "train" / "cat", 4)
    _images(root / "train" / "dog", 4)
    (root / "train" / "dog" / "empty.png").write_bytes(b"")
    return str(root)


PROBLEMS: dict[str, tuple[Callable[[Path], str], str]] = {
    "missing data.root": (_missing_root, "not-here does not exist"),
    "one class": (_one_class, "a classifier needs two or more"),
    "empty class folder": (_empty_class_folder, "has no images"),
    "undecodable image": (_undecodable_image, "empty.png: empty file (0 bytes)"),
}


def _data_args(tmp_path: Path, problem: str) -> tuple[list[str], str]:
    make, says = PROBLEMS[problem]
    root = make(tmp_path / "ds")
    return [*SET_TINY, "--set", 'data.dataset="imagefolder"', "--set", f'data.root="{root}"'], says


@pytest.mark.parametrize("problem", list(PROBLEMS))
def test_headless_exits_2_like_check_and_leaves_no_run_folder(tmp_path: Path, problem: str, capsys) -> None:
    args, says = _data_args(tmp_path, problem)
    assert main(["--check", str(SMOKE), *args]) == 2
    assert says in capsys.readouterr().err
    runs = tmp_path / "runs"
    assert main(["--headless", str(SMOKE), *args, "--runs-dir", str(runs)]) == 2
    assert says in capsys.readouterr().err
    assert not runs.exists() or list(runs.iterdir()) == []


@pytest.mark.parametrize("problem", ["empty class folder", "undecodable image"])
def test_the_console_gets_a_user_error_and_no_folder(tmp_path: Path, problem: str) -> None:
    args, says = _data_args(tmp_path, problem)
    overrides = args[1::2]  # the values of the --set pairs
    events: list[object] = []
    outcome = run_training(load_preset(SMOKE, overrides), runs_dir=tmp_path / "runs", listeners=[events.append])
    assert outcome.exit_code == 2 and outcome.run_dir is None and says in outcome.error
    [failed] = [e for e in events if isinstance(e, RunFailed)]
    assert failed.user_error and failed.run_dir == ""
    runs = tmp_path / "runs"
    assert not runs.exists() or list(runs.iterdir()) == []

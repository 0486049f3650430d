"""Preset input the loader must refuse with a located message: bad bytes, --set typos, huge
numbers, lax types, NaN; and data or models that cannot train (one class, a head of the wrong width)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers import SMOKE, tiny_preset
from tui_trainer.cli.check import run_check
from tui_trainer.config import PresetError, load_preset, load_preset_text
from tui_trainer.runs.launch import run_training


def problems(path_or_text: str | Path, overrides: tuple[str, ...] = ()) -> list[str]:
    with pytest.raises(PresetError) as info:
        if isinstance(path_or_text, Path):
            load_preset(path_or_text, overrides)
        else:
            load_preset_text(path_or_text, "p.toml", overrides)
    return [str(p) for p in info.value.problems]


# ---------------------------------------------------------------------------------------- item 5


def test_a_preset_that_is_not_utf8_names_line_and_column_of_the_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('name = "x"\n[data]\nroot = "caf\xe9"\n'.encode("latin-1"))
    [message] = problems(path)
    assert message.startswith(f"{path}:3:12: ") and "0xe9" in message and "UTF-8" in message


@pytest.mark.parametrize("override", ["[data].x=1", "nosuch.key=1", "data batch_size=3"])
def test_set_errors_name_the_set_argument_never_the_file(override: str) -> None:
    [message] = problems(SMOKE, (override,))
    assert message.startswith(f"--set {override}") and str(SMOKE) not in message


# ---------------------------------------------------------------------------------------- item 12


def test_a_5000_digit_integer_is_a_located_problem(tmp_path: Path) -> None:
    digits = "9" * 5000
    [message] = problems(f'name = "x"\n[data]\nbatch_size = {digits}\n')
    assert message.startswith("p.toml:3: ") and "too long" in message
    [message] = problems(SMOKE, (f"data.batch_size={digits}",))
    assert message.startswith("--set data.batch_size=999") and "too long" in message and len(message) < 400


# ---------------------------------------------------------------------------------------- item 13


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("data.batch_size=true", "expected a whole number"),
        ('data.batch_size="64"', "expected a whole number"),
        ("optimizer.lr=true", "expected a number"),
        ('data.download="yes"', "expected true or false"),
        ("augment.mean=[nan, 0.5, 0.5]", "finite"),
        ("augment.std=[0.5, inf, 0.5]", "finite"),
        ("scheduler.eta_min=nan", "finite"),
        ("augment.crop_ratio=[0.5, inf]", "finite"),
    ],
)
def test_types_are_strict_and_numbers_finite(override: str, expected: str) -> None:
    [message] = problems(SMOKE, (override,))
    key = override.partition("=")[0]
    assert message.startswith(f"--set {override}: {key}:") and expected in message


def test_good_numbers_still_load() -> None:
    preset = load_preset(SMOKE, ("optimizer.lr=1", "data.batch_size=8", "augment.mean=[0, 1, 0.5]"))
    assert preset.optimizer.lr == 1.0 and preset.data.batch_size == 8


def test_a_one_class_folder_fails_check(tmp_path: Path, capsys) -> None:
    for i in range(3):
        folder = tmp_path / "ds" / "train" / "only"
        folder.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(folder / f"{i}.png")
    preset = tmp_path / "p.toml"
    preset.write_text(f'name = "one"\n[data]\ndataset = "imagefolder"\nroot = "{tmp_path / "ds"}"\n')
    assert run_check(preset, []) == 2
    assert "one class folder (only)" in capsys.readouterr().err


def test_a_model_whose_output_width_is_not_the_class_count_fails_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "narrow_head.py").write_text(
        textwrap.dedent(
            """
            from torch import nn

            def make(num_classes):
                return nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 3))  # ignores num_classes
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "narrow_head", raising=False)
    from tui_trainer.config.code_trust import TargetAccess

    outcome = run_training(
        tiny_preset('model.target="narrow_head:make"'), runs_dir=tmp_path / "runs", code=TargetAccess()
    )
    assert outcome.exit_code == 1
    assert "shape (1, 3)" in outcome.error and "10 classes" in outcome.error

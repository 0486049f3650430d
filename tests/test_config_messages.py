"""Preset errors a user reads: fixed-length arrays, patterns in words, file order, --set not blamed on the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import SMOKE
from tui_trainer.cli import main
from tui_trainer.config import PresetError, load_preset, load_preset_text


def problems(text: str = 'name = "x"\n', overrides: tuple[str, ...] = ()) -> list[str]:
    with pytest.raises(PresetError) as caught:
        load_preset_text(text, "p.toml", overrides)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize("value", ["[0.5,0.5]", "[0.5]", "[0.5,0.5,0.5,0.5]"])
def test_a_mean_of_the_wrong_length_asks_for_one_number_per_channel(value: str) -> None:
    found = problems(overrides=(f"augment.mean={value}",))
    assert len(found) == 1
    assert "needs 3 numbers, one per channel" in found[0]
    assert "Field required" not in found[0] and "Tuple" not in found[0]


def test_a_pattern_is_explained_in_words_not_as_a_regex() -> None:
    (found,) = problems(overrides=("train.device=gpu",))
    assert found.startswith("--set train.device=gpu: train.device:")
    assert "auto, cpu, cuda, cuda:N" in found and "mps" in found
    assert "^(" not in found and "pattern" not in found


def test_problems_come_in_line_order_then_the_sets_in_the_order_given() -> None:
    text = 'name = "x"\n[train]\nepochs = -1\n[data]\nbatch_size = 0\n[augment]\nstd = [1]\n'
    found = problems(text, ("train.device=gpu", "model.target=not a target"))
    assert [f.split(":")[0:2] for f in found[:3]] == [["p.toml", "3"], ["p.toml", "5"], ["p.toml", "7"]]
    assert found[3].startswith("--set train.device=gpu") and found[4].startswith("--set model.target=")


def test_check_does_not_blame_the_file_for_a_set(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check", str(SMOKE), "--set", "train.device=gpu"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == f"{SMOKE}: 1 problem in --set"


def test_a_valid_mean_still_loads(tmp_path: Path) -> None:
    assert load_preset(SMOKE, ("augment.mean=[0.4,0.5,0.6]",)).augment.mean == (0.4, 0.5, 0.6)

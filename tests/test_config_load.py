"""Loading presets: shipped presets are valid, and every kind of bad input says where and why."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import pytest

from tui_trainer.cli import main
from tui_trainer.config import Preset, PresetError, load_preset, load_preset_text, resolved_toml
from tui_trainer.config.sweep_file import is_sweep_file

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p for p in (REPO / "presets").glob("*.toml") if not is_sweep_file(p))  # sweeps: test_sweep.py


def problems_of(text: str, overrides: tuple[str, ...] = ()) -> list[str]:
    with pytest.raises(PresetError) as info:
        load_preset_text(text, "bad.toml", overrides)
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_preset_loads(path: Path) -> None:
    preset = load_preset(path)
    assert preset.name == path.stem


def test_presets_are_installed_with_the_package() -> None:
    installed = {p.name for p in importlib.resources.files("tui_trainer.presets").iterdir() if p.name.endswith(".toml")}
    assert {p.name for p in SHIPPED} <= installed


def test_seed_preset_states_the_coursework_values() -> None:
    seed = load_preset(REPO / "presets" / "seed.toml")
    assert (seed.data.batch_size, seed.train.epochs) == (64, 40)
    assert seed.optimizer.model_dump() == {
        **seed.optimizer.model_dump(),
        "name": "rmsprop",
        "lr": 0.001,
        "alpha": 0.99,
        "eps": 1e-8,
        "weight_decay": 0.0,
        "momentum": 0.9,
    }
    assert (seed.scheduler.name, seed.scheduler.t_max, seed.scheduler.eta_min) == ("cosine", 100, 1e-6)
    assert (seed.augment.rotation, seed.augment.hflip, seed.augment.mean, seed.augment.std) == (
        15.0,
        0.5,
        (0.5, 0.5, 0.5),
        (0.5, 0.5, 0.5),
    )
    assert seed.loss.name == "label_smoothing_ce"
    assert len(seed.model.channel_multipliers) == 7 and seed.model.pool_every == 2


def test_syntax_error_names_file_line_and_column() -> None:
    [message] = problems_of('name = "x"\n[optimizer]\nlr = = 3\n')
    assert message.startswith("bad.toml:3:")
    assert "TOML syntax error" in message


def test_wrong_type_names_key_line_value_and_allowed() -> None:
    [message] = problems_of('[data]\n\nbatch_size = "big"\n')
    assert message.startswith("bad.toml:3: data.batch_size:")
    assert '"big"' in message and "an integer >= 1" in message


def test_out_of_range_names_the_bound() -> None:
    [message] = problems_of("[optimizer]\nlr = -0.5\n")
    assert message.startswith("bad.toml:2: optimizer.lr:") and "-0.5" in message and "> 0" in message


def test_unknown_key_suggests_the_closest_known_one() -> None:
    [message] = problems_of("[optimizer]\nmomentun = 0.5\n")
    assert message.startswith("bad.toml:2: optimizer.momentun:")
    assert "did you mean `momentum`?" in message


def test_unknown_section_suggests_the_closest_section() -> None:
    [message] = problems_of("[optimiser]\nlr = 0.5\n")
    assert "did you mean `optimizer`?" in message and ":1:" in message


def test_unknown_choice_lists_the_choices() -> None:
    [message] = problems_of('[scheduler]\nname = "cosin"\n')
    assert message.startswith("bad.toml:2: scheduler.name:")
    assert '"cosine", "onecycle", "warmup_linear", "none"' in message


def test_unknown_model_lists_the_zoo() -> None:
    [message] = problems_of('[model]\nname = "resnet1000"\n')
    assert "adaptive_resnet" in message and "resnet18" in message


def test_all_problems_of_a_file_are_reported_at_once() -> None:
    messages = problems_of('[data]\nbatch_size = 0\n[optimizer]\nlr = "fast"\nmomentun = 1\n[train]\ndevice = "gpu"\n')
    assert [m.split(": ")[1] for m in messages] == sorted(
        ["data.batch_size", "optimizer.lr", "optimizer.momentun", "train.device"],
        key=["data.batch_size", "optimizer.lr", "optimizer.momentun", "train.device"].index,
    )


def test_cross_field_rule_points_at_the_key() -> None:
    [message] = problems_of('[data]\ndataset = "imagefolder"\n')
    assert message.startswith("bad.toml:1: data.root:")


def test_overrides_are_applied_and_parsed_as_toml() -> None:
    preset = load_preset_text(
        "[optimizer]\nlr = 0.1\n",
        overrides=(
            "optimizer.lr=0.01",
            'data.root="/data/cifar"',
            "augment.crop_scale=[0.5, 1.0]",
            "train.compile=true",
        ),
    )
    assert preset.optimizer.lr == 0.01
    assert preset.data.root == "/data/cifar"
    assert preset.augment.crop_scale == (0.5, 1.0)
    assert preset.train.compile is True


def test_override_value_without_quotes_is_a_string() -> None:
    # The shell eats the quotes of --set data.root="/data/cifar".
    assert load_preset_text("", overrides=("data.root=/data/cifar",)).data.root == "/data/cifar"


def test_bad_override_is_reported_against_the_override() -> None:
    messages = problems_of("", overrides=("optimizer.lr=-1", "optimizer.lrr=1"))
    assert messages[0].startswith("--set optimizer.lr=-1: optimizer.lr:")
    assert "did you mean `lr`?" in messages[1]


def test_resolved_toml_round_trips() -> None:
    preset = load_preset(REPO / "presets" / "seed.toml")
    again = load_preset_text(resolved_toml(preset))
    assert again == preset
    assert Preset().model_dump() == load_preset_text(resolved_toml(Preset())).model_dump()


def test_check_prints_resolved_preset(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check", str(REPO / "presets" / "seed.toml"), "--set", "train.epochs=3"]) == 0
    out = capsys.readouterr().out
    assert load_preset_text(out).train.epochs == 3
    assert "synthetic_train_size" in out  # defaults are filled in


def test_check_reports_every_problem_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[optimizer]\nlr = -1\nname = "adam"\n')
    assert main(["--check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2: optimizer.lr" in err and f"{bad}:3: optimizer.name" in err


def test_check_of_a_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check", str(tmp_path / "nope.toml")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_readme_preset_reference_is_generated_from_the_schema() -> None:
    from tui_trainer.config.reference import splice

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert splice(readme) == readme, "run: python -m tui_trainer.config.reference --write README.md"


def test_check_reports_a_missing_local_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no-data"
    args = ["--check", str(REPO / "presets" / "seed.toml"), "--set", "data.dataset=imagefolder"]
    assert main([*args, "--set", f"data.root={missing}"]) == 2
    assert str(missing) in capsys.readouterr().err

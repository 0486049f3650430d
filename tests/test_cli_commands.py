"""`tui-trainer COMMAND`: sub-commands that own their options, and every documented flag form as an alias."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import SMOKE
from tui_trainer.cli import commands, main
from tui_trainer.cli.aliases import as_subcommand
from tui_trainer.cli.parser import COMMANDS, _sub_parsers, build_parser, parse_args, value_options
from tui_trainer.runs.folder import RunFolder


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ([], ["open"]),
        (["presets/seed.toml"], ["open", "presets/seed.toml"]),
        (["--trust-code", "runs/x"], ["open", "--trust-code", "runs/x"]),
        (["--headless", "smoke"], ["train", "smoke"]),
        (["--headless", "--resume", "runs/x"], ["train", "--resume", "runs/x"]),
        (
            ["--headless", "p.toml", "--run-dir", "d", "--log-every", "5"],
            ["train", "p.toml", "--run-dir", "d", "--log-every", "5"],
        ),
        (["p.toml", "--headless", "--set", "a=1"], ["train", "p.toml", "--set", "a=1"]),
        (["--check", "p.toml", "--set", "a=1"], ["check", "p.toml", "--set", "a=1"]),
        (["--eval", "runs/x", "--data", "d", "--tta"], ["eval", "runs/x", "--data", "d", "--tta"]),
        (["--eval=runs/x"], ["eval", "runs/x"]),
        (["--predict", "runs/x", "a.jpg", "b/", "--top-k", "3"], ["predict", "runs/x", "a.jpg", "b/", "--top-k", "3"]),
        (["--export", "runs/x", "--format", "onnx"], ["export", "runs/x", "--format", "onnx"]),
        (["--find-lr", "p.toml", "--lr-steps", "9"], ["find-lr", "p.toml", "--lr-steps", "9"]),
        (["--sweep", "smoke-sweep", "--trials", "3"], ["sweep", "smoke-sweep", "--trials", "3"]),
        (["--serve", "p.toml", "--port", "8001"], ["serve", "p.toml", "--port", "8001"]),
        (["--list-presets"], ["presets"]),
        (["--set", "--check", "p.toml"], ["open", "--set", "--check", "p.toml"]),  # a value, not a mode
        (["--fork", "--check", "p.toml"], ["open", "--fork", "--check", "p.toml"]),  # train's, missing from a list
        (["--epochs", "--check", "p.toml"], ["open", "--epochs", "--check", "p.toml"]),  # review's, likewise
        (["train", "smoke"], ["train", "smoke"]),
        (["--version"], ["--version"]),
    ],
)
def test_each_documented_flag_form_is_its_sub_command(old: list[str], new: list[str]) -> None:
    assert as_subcommand(old, COMMANDS, value_options(build_parser())) == new


def _takes_a_value(sub, option: str) -> bool:
    """argparse's own word for it: the option alone is refused with "expected one argument"."""
    with contextlib.redirect_stderr(io.StringIO()) as err, contextlib.redirect_stdout(io.StringIO()):
        try:
            sub.parse_known_args([option])
        except SystemExit:
            return "expected one argument" in err.getvalue()
    return False


VALUE_OPTIONS = [
    (name, option)
    for name, sub in _sub_parsers(build_parser()).items()
    for action in sub._actions
    for option in action.option_strings
    if _takes_a_value(sub, option)
]


def test_the_options_that_take_a_value_are_found_in_every_sub_command() -> None:
    found = {option for _, option in VALUE_OPTIONS}
    assert {"--set", "--schedule", "--fork", "--nodes", "--sample", "--folds", "--epochs", "--port"} <= found


@pytest.mark.parametrize(("command", "option"), VALUE_OPTIONS)
def test_the_word_after_any_option_that_takes_a_value_is_its_value_not_a_mode(command: str, option: str) -> None:
    """Each sub-command's value options are known to the flag forms' reading, so none can drift out of step."""
    assert as_subcommand([option, "--check", "p.toml"], COMMANDS, value_options(build_parser()))[0] == "open"


def test_the_parser_has_exactly_the_sub_commands_the_aliases_know() -> None:
    help_text = build_parser().format_help()
    assert all(f"    {name} " in help_text or f"    {name}\n" in help_text for name in COMMANDS)


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "smoke", "--trust-code"],  # --trust-code goes with --resume
        ["train", "smoke", "--resume", "runs/x"],  # PRESET or --resume
        ["train", "--resume", "runs/x", "--run-dir", "d"],
        ["train"],
        ["check", "smoke", "--lr-steps", "3"],  # find-lr's option
        ["sweep", "smoke-sweep", "--trials", "0"],
        ["eval", "runs/x", "--top-k", "3"],  # predict's option
    ],
)
def test_an_option_of_another_command_is_a_usage_error(argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "usage: tui-trainer" in capsys.readouterr().err


def test_the_old_flag_forms_keep_the_options_they_always_took() -> None:
    args = parse_args(["--headless", "p.toml", "--set", "a=1", "--runs-dir", "r", "--log-every", "0"])
    assert (args.command, args.preset, args.overrides, args.runs_dir, args.log_every) == (
        "train",
        "p.toml",
        ["a=1"],
        "r",
        0,
    )
    assert parse_args(["--check", "p.toml", "--runs-dir", "r"]).command == "check"  # ignored, as before


def test_tui_trainer_alone_or_with_a_path_opens_the_console(monkeypatch) -> None:
    opened: list[Path | None] = []
    monkeypatch.setattr("tui_trainer.tui.app.run_console", lambda path, **_: opened.append(path) or 0)
    assert main([]) == 0
    assert main([str(SMOKE)]) == 0
    assert main(["smoke", "--runs-dir", "r"]) == 0  # a built-in preset by name
    assert opened == [None, SMOKE, SMOKE]


def test_check_loads_neither_torch_nor_textual() -> None:
    code = (
        "import sys\nfrom tui_trainer.cli import main\n"
        f"code = main(['check', {str(SMOKE)!r}])\n"
        "print(code, [m for m in ('torch', 'textual', 'rich') if m in sys.modules], file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ})
    assert result.stderr.strip().splitlines()[-1] == "0 []"


def test_runs_lists_every_run_as_a_table(tmp_path: Path, capsys) -> None:
    runs = tmp_path / "runs"
    done = RunFolder(runs / "20261128-100000-seed")
    done.path.mkdir(parents=True)
    done.write_status(
        state="finished", preset_name="seed", epochs_planned=3, started_at="2026-11-28T10:00:00+00:00",
        best_val_acc=0.625, best_epoch=2,
    )  # fmt: skip
    for epoch in (1, 2, 3):
        done.append_metrics({"epoch": epoch, "val_acc": 0.5 + epoch / 100, "val_loss": 1.0, "train_loss": 1.0})
    cut = RunFolder(runs / "20261129-090000-smoke\x1b[2J")
    cut.path.mkdir()
    cut.write_status(state="interrupted", preset_name="smoke", epochs_planned=5, started_at="2026-11-29T09:00:00+00:00")
    assert main(["runs", "--runs-dir", str(runs)]) == 0
    header, newest, oldest = capsys.readouterr().out.splitlines()
    assert header.split() == ["name", "state", "epochs", "best", "val", "acc", "started"]
    assert newest.split()[:4] == ["20261129-090000-smoke\\x1b[2J", "interrupted", "0/5", "-"]
    assert oldest.split()[:4] == ["20261128-100000-seed", "finished", "3/3", "62.50%"]


def test_runs_in_an_empty_folder_says_so(tmp_path: Path, capsys) -> None:
    assert main(["runs", "--runs-dir", str(tmp_path / "none")]) == 0
    assert "no runs in" in capsys.readouterr().out


def test_a_served_console_opens_a_path_named_like_a_sub_command(monkeypatch, tmp_path: Path) -> None:
    """`tui-trainer serve runs` serves the console on ./runs, not the `runs` table, in every tab."""
    seen: list[str] = []
    monkeypatch.setattr(commands, "serve_forever", lambda options, make_app, ready: seen.append(options.command))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    main(["serve", "runs", "--port", "8125"])
    assert seen and seen[0].split()[2:5] == ["tui_trainer", "open", "runs"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_argument_a_command_takes_is_explained_in_its_help(command: str) -> None:
    sub = _sub_parsers(build_parser())[command]
    unexplained = [a.metavar or a.dest for a in sub._actions if a.help is None or not a.help.strip()]
    assert unexplained == [], f"`tui-trainer {command} --help` leaves {unexplained} unexplained"

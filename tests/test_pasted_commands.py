"""Every command the tool prints for the user to paste is one they can paste: a path with a space or a
shell character in it stays one word (`open it with: tui-trainer 'my runs/…'`)."""

from __future__ import annotations

import io
import re
import shlex
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.helpers import tiny_preset
from tui_trainer.cli import main, submit
from tui_trainer.cli.serve import _serving_note
from tui_trainer.cli.serve_address import Address
from tui_trainer.config.builtin import wrong_kind_message
from tui_trainer.runs.eval_folder import list_evals
from tui_trainer.runs.explain import train_samples
from tui_trainer.runs.folder import RunFolder, RunFolderError
from tui_trainer.runs.launch import run_training

AWKWARD = "my runs (2); $HOME"
"""A folder name a shell splits, groups and expands unless it is quoted."""


def _pasted(text: str, after: str, until: str = "") -> list[str]:
    """The words a shell makes of the command that follows `after` in `text` (up to `until`)."""
    found = re.search(re.escape(after) + r"(.*?)" + (re.escape(until) if until else "$"), text, re.MULTILINE)
    assert found, text
    return shlex.split(found.group(1))


@pytest.fixture(scope="module")
def awkward_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path_factory.mktemp("runs") / AWKWARD
    outcome = run_training(tiny_preset("train.epochs=1", "scheduler.t_max=1"), runs_dir=runs)
    assert outcome.exit_code == 0, outcome.error
    return outcome.run_dir


def test_eval_ends_with_a_command_that_opens_the_evaluation_when_pasted(awkward_run: Path, capsys) -> None:
    assert main(["eval", str(awkward_run)]) == 0
    words = _pasted(capsys.readouterr().out, "(open it with: ", ")\n")
    assert words == ["tui-trainer", str(list_evals(awkward_run)[-1].path)]


def test_the_command_that_makes_training_predictions_pastes_as_written(awkward_run: Path) -> None:
    with pytest.raises(RunFolderError) as refused:
        train_samples(awkward_run)
    assert _pasted(str(refused.value), "(`", "` makes it)") == ["tui-trainer", "review", str(awkward_run), "--train"]


@pytest.mark.parametrize("sweep", [False, True])
def test_the_command_for_a_file_of_the_other_kind_pastes_as_written(sweep: bool, tmp_path: Path) -> None:
    file = tmp_path / AWKWARD / "s.toml"
    file.parent.mkdir()
    file.write_text(
        'preset = "smoke"\n[space]\n"optimizer.lr" = [0.1, 0.01]\n' if not sweep else "[train]\nepochs = 1\n"
    )
    words = _pasted(wrong_kind_message(str(file), file, sweep), "with `", "`")
    assert words == ["tui-trainer", "--headless" if sweep else "--sweep", str(file)]


def test_submit_says_how_to_follow_the_job_in_commands_that_paste(tmp_path: Path, monkeypatch) -> None:
    folder = RunFolder(tmp_path / AWKWARD / "run 1")
    monkeypatch.setattr(submit, "prepare", lambda *args: SimpleNamespace(script="#!/bin/sh\n"))
    monkeypatch.setattr(submit, "submit", lambda submission: SimpleNamespace(job_id="7", folder=folder))
    out = io.StringIO()
    assert submit.run_submit(Path("p.toml"), "p.toml", [], {}, tmp_path, None, dry_run=False, out=out) == 0
    printed = out.getvalue()
    assert _pasted(printed, "follow it: ", "   or   ") == ["tui-trainer", str(folder.path)]
    assert _pasted(printed, "   or   ") == ["tui-trainer", "runs", "--runs-dir", str(folder.path.parent)]


def test_the_ssh_forward_for_a_served_socket_pastes_as_written(tmp_path: Path) -> None:
    socket = tmp_path / AWKWARD / "console.sock"
    note = _serving_note(Address("localhost", 8000, socket), None)
    assert _pasted(note, "forward it first, ", ". ") == ["ssh", "-L", f"8000:{socket}", "HOST"]

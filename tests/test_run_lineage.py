"""A run's lineage from the command line: a finished run extended in its folder, a new run forked from
another run's epoch, and the epoch checkpoints (`train.keep_every`) that forks start from."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
import torch

from tests.helpers import SET_TINY, SMOKE, tiny_preset
from tui_trainer.cli import main
from tui_trainer.config import load_preset
from tui_trainer.data import load_data
from tui_trainer.engine.checkpoint import load_checkpoint
from tui_trainer.engine.continuation import Continuation
from tui_trainer.engine.device import numerics_for
from tui_trainer.engine.events import EpochFinished, RunControl
from tui_trainer.engine.trainer import Trainer
from tui_trainer.runs.folder import RunFolder
from tui_trainer.runs.launch import load_run_preset, run_training

pytestmark = pytest.mark.usefixtures("one_thread")


def train(preset: Path, runs: Path, *args: str) -> RunFolder:
    """A new run of `preset` (TINY: 2 epochs, cosine over 2) under `runs`; its folder."""
    before = set(runs.iterdir()) if runs.exists() else set()
    assert main(["train", str(preset), *SET_TINY, "--runs-dir", str(runs), *args]) == 0
    (made,) = set(runs.iterdir()) - before
    return RunFolder(made)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> RunFolder:
    """A finished run of 2 epochs with every epoch's checkpoint kept; tests extend copies of it."""
    return train(SMOKE, tmp_path_factory.mktemp("lineage") / "runs", "--set", "train.keep_every=1")


def copy_of(run: RunFolder, tmp_path: Path) -> RunFolder:
    path = tmp_path / "runs" / run.path.name
    shutil.copytree(run.path, path)
    return RunFolder(path)


def lrs(run: RunFolder) -> dict[int, float]:
    return {record["epoch"]: record["lr"] for record in run.read_metrics()}


def cosine(lr: float, eta_min: float, step: int, t_max: int) -> float:
    return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * step / t_max)) / 2


# ---------------------------------------------------------------------------------------- extend


def test_a_finished_run_extended_trains_on_in_its_folder_with_the_lr_it_ended_with(
    finished_run: RunFolder, tmp_path: Path
) -> None:
    run = copy_of(finished_run, tmp_path)
    before = run.read_metrics()
    ended_with = load_checkpoint(run.last_checkpoint)["optimizer"]["param_groups"][0]["lr"]

    assert main(["train", "--resume", str(run.path), "--set", "train.epochs=4"]) == 0

    after = run.read_metrics()
    assert [r["epoch"] for r in after] == [1, 2, 3, 4]  # each epoch once, in the same metrics
    assert after[:2] == before  # the curves go on from where they were
    assert lrs(run)[3] == pytest.approx(ended_with) and lrs(run)[4] == pytest.approx(ended_with)  # constant
    status = run.read_status()
    assert status["state"] == "finished" and status["epochs_done"] == 4 and status["epochs_planned"] == 4
    (extension,) = status["extensions"]
    assert extension["from_epochs"] == 2 and extension["to_epochs"] == 4 and extension["schedule"] == "constant"
    assert extension["at"]
    assert run.read_preset().train.epochs == 4  # a later resume of it trains to 4


@pytest.mark.parametrize("schedule", ["restart", "continue"])
def test_an_extension_follows_the_schedule_the_user_chose(
    finished_run: RunFolder, tmp_path: Path, schedule: str
) -> None:
    run = copy_of(finished_run, tmp_path)
    preset = run.read_preset()
    lr, eta_min = preset.optimizer.lr, preset.scheduler.eta_min
    ended_with = load_checkpoint(run.last_checkpoint)["optimizer"]["param_groups"][0]["lr"]

    assert main(["train", "--resume", str(run.path), "--set", "train.epochs=4", "--schedule", schedule]) == 0

    if schedule == "restart":  # the preset's lr again, a cosine over the 2 added epochs
        expected = {3: lr, 4: cosine(lr, eta_min, 1, 2)}
    else:  # the cosine recomputed over 4 epochs, at epoch 3: the lr jumps back up
        expected = {3: cosine(lr, eta_min, 2, 4), 4: cosine(lr, eta_min, 3, 4)}
    got = lrs(run)
    assert {3: got[3], 4: got[4]} == pytest.approx(expected)
    assert got[3] > 10 * ended_with  # either way the lr jumps back up from where the run ended


def test_resume_may_change_only_the_length_and_says_which_key_it_refused(
    finished_run: RunFolder, tmp_path: Path, capsys
) -> None:
    run = copy_of(finished_run, tmp_path)
    assert main(["train", "--resume", str(run.path), "--set", "optimizer.lr=0.1"]) == 2
    assert "optimizer.lr" in capsys.readouterr().err
    assert main(["train", "--resume", str(run.path), "--set", "train.epochs=2"]) == 2
    assert "more than the 2 epochs" in capsys.readouterr().err
    assert main(["train", "--resume", str(run.path)]) == 2
    assert "train.epochs=N" in capsys.readouterr().err  # "already finished" says how to extend it
    assert [r["epoch"] for r in run.read_metrics()] == [1, 2]


# ---------------------------------------------------------------------------------------- fork


def test_keep_every_keeps_those_epochs_checkpoints(preset_file: Path, tmp_path: Path) -> None:
    run = train(preset_file, tmp_path / "runs", "--set", "train.epochs=4", "--set", "train.keep_every=2")
    kept = sorted(p.name for p in run.path.glob("epoch-*.pt"))
    assert kept == ["epoch-2.pt", "epoch-4.pt"]
    assert load_checkpoint(run.path / "epoch-2.pt")["epoch"] == 2


def test_a_fork_starts_a_new_run_from_an_epoch_with_its_own_preset(
    finished_run: RunFolder, preset_file: Path, tmp_path: Path
) -> None:
    parent = copy_of(finished_run, tmp_path)
    child = train(
        preset_file,
        tmp_path / "runs",
        "--set",
        "train.epochs=3",
        "--set",
        "optimizer.lr=0.001",
        "--fork",
        f"{parent.path}@1",
    )

    status = child.read_status()
    assert status["parent"] == {"run": parent.path.name, "epoch": 1}  # beside it in the runs folder
    assert [r["epoch"] for r in child.read_metrics()] == [2, 3]  # its epochs go on from the fork
    assert lrs(child)[2] == pytest.approx(0.001)  # its own preset's lr, the schedule restarted
    assert child.read_preset().optimizer.lr == 0.001
    assert [r["epoch"] for r in parent.read_metrics()] == [1, 2]  # the parent is left alone


def test_a_fork_starts_from_the_weights_of_that_epoch(finished_run: RunFolder) -> None:
    preset = tiny_preset("train.epochs=3")
    splits = load_data(preset.data, seed=preset.train.seed)
    trainer = Trainer(preset, splits, numerics_for(torch.device("cpu"), "fp32", False))
    trainer.start_from(finished_run.path / "epoch-1.pt")
    saved = load_checkpoint(finished_run.path / "epoch-1.pt")["model"]
    for name, value in trainer.model.state_dict().items():
        assert torch.equal(value, saved[name]), name
    assert trainer.epochs_done == 1


def test_forking_an_epoch_without_a_checkpoint_lists_those_that_have_one(
    finished_run: RunFolder, tmp_path: Path, capsys
) -> None:
    parent = copy_of(finished_run, tmp_path)
    for path in [*parent.path.glob("epoch-*.pt"), parent.best_checkpoint]:
        path.unlink()
    assert main(["train", "--fork", f"{parent.path}@1", *SET_TINY, "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "no checkpoint of epoch 1" in err and "can be forked: 2 (last.pt)" in err
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [parent.path.name]  # no new folder


def test_a_fork_of_someone_elses_run_imports_its_model_target_only_when_trusted(
    finished_run: RunFolder, tmp_path: Path, capsys
) -> None:
    parent = copy_of(finished_run, tmp_path)
    text = parent.preset_file.read_text()
    parent.preset_file.write_text(text.replace('target = ""', 'target = "evil_module:build"', 1))
    assert load_preset(parent.preset_file).model.target == "evil_module:build"
    assert main(["train", "--fork", f"{parent.path}@2", "--runs-dir", str(tmp_path / "runs")]) == 2
    assert "--trust-code" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [parent.path.name]


def test_an_interrupted_extension_resumes_on_the_schedule_it_chose(finished_run: RunFolder, tmp_path: Path) -> None:
    run = copy_of(finished_run, tmp_path)
    preset = run.read_preset()
    control = RunControl()
    outcome = run_training(
        load_run_preset(run.path, extend_to=4),
        runs_dir=run.path.parent,
        resume=run.path,
        extend=Continuation(2, "restart"),
        listeners=[lambda event: control.stop() if isinstance(event, EpochFinished) else None],
        control=control,
    )
    assert outcome.state == "interrupted" and [r["epoch"] for r in run.read_metrics()] == [1, 2, 3]

    assert main(["train", "--resume", str(run.path)]) == 0

    assert lrs(run)[4] == pytest.approx(cosine(preset.optimizer.lr, preset.scheduler.eta_min, 1, 2))

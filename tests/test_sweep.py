"""Sweeps: the sweep file's checks, a grid shared by two processes, a kill -9 and a rerun, the table."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import SMOKE, TINY
from tui_trainer.config import PresetError
from tui_trainer.config.sweep_file import load_sweep
from tui_trainer.runs.sweep_study import SweepError, SweepFolder, TrialRow, load_study, require_optuna, sort_rows

optuna = pytest.importorskip("optuna")


def write_sweep(folder: Path, body: str, *, name: str = "s", sets: tuple[str, ...] = TINY) -> Path:
    path = folder / f"{name}.toml"
    set_line = "set = [" + ", ".join(json.dumps(s) for s in sets) + "]"
    path.write_text(f'name = "{name}"\npreset = "{SMOKE.as_posix()}"\n{set_line}\n{body}', encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(PresetError) as caught:
        load_sweep(path)
    return [str(p) for p in caught.value.problems]


# ------------------------------------------------------------------ the sweep file


def test_space_of_ranges_lists_and_integers_loads(tmp_path: Path) -> None:
    path = write_sweep(
        tmp_path,
        'sampler = "random"\ntrials = 5\n[space]\n'
        '"optimizer.lr" = { low = 1e-4, high = 1e-1, log = true }\n'
        '"loss.smoothing" = [0.0, 0.1, 0.2]\n'
        '"model.width" = { low = 4, high = 12, step = 4 }\n',
    )
    spec = load_sweep(path)
    assert spec.trials == 5
    assert spec.space["model.width"].is_int and not spec.space["optimizer.lr"].is_int
    preset = spec.trial_preset({"optimizer.lr": 0.02, "loss.smoothing": 0.2, "model.width": 8}, "s-t001")
    assert (preset.optimizer.lr, preset.loss.smoothing, preset.model.width) == (0.02, 0.2, 8)
    assert preset.data.synthetic_train_size == 192  # the sweep's `set` reaches every trial


def test_a_grid_has_one_trial_per_point_unless_told_fewer(tmp_path: Path) -> None:
    body = '[space]\n"loss.smoothing" = [0.0, 0.1]\n"model.width" = { low = 4, high = 8, step = 2 }\n'
    spec = load_sweep(write_sweep(tmp_path, 'sampler = "grid"\n' + body))
    assert len(spec.grid()) == 6 and spec.trials == 6
    assert load_sweep(write_sweep(tmp_path, 'sampler = "grid"\ntrials = 4\n' + body, name="g")).trials == 4


def test_unknown_preset_key_is_named_with_its_line(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, '[space]\n"optimizer.lr" = [0.1]\n"optimizer.learning_rate" = [0.1]\n')
    (found,) = problems_of(path)
    assert found.startswith(f"{path}:6: space.optimizer.learning_rate: not a preset key")


def test_values_the_preset_refuses_are_errors_at_their_line(tmp_path: Path) -> None:
    path = write_sweep(
        tmp_path,
        '[space]\n"loss.smoothing" = [0.0, 1.5]\n"optimizer.lr" = { low = 0.1, high = 0.01 }\n'
        '"model.width" = { low = 4.5, high = 8 }\n"optimizer.name" = { low = 1, high = 2 }\n',
    )
    found = problems_of(path)
    assert any(p.startswith(f"{path}:5: space.loss.smoothing: 1.5:") for p in found), found
    assert any(p.startswith(f"{path}:6: space.optimizer.lr: low (0.1) must be below high") for p in found), found
    assert any(p.startswith(f"{path}:7: space.model.width: model.width is an integer") for p in found), found
    assert any(p.startswith(f"{path}:8: space.optimizer.name: a range needs a numeric key") for p in found), found


def test_bad_top_level_keys_and_shapes_are_reported(tmp_path: Path) -> None:
    path = write_sweep(
        tmp_path, 'sampler = "bayes"\ntrails = 3\n[space]\n"optimizer.lr" = { low = 1e-3, high = 1e-1, lg = true }\n'
    )
    found = problems_of(path)
    assert any(p.startswith(f"{path}:4: sampler: got 'bayes'") for p in found), found
    assert any(p.startswith(f"{path}:5: trails: unknown key") for p in found), found
    assert any(p.startswith(f"{path}:7: space.optimizer.lr: expected") for p in found), found


@pytest.mark.parametrize(
    ("body", "metric", "direction"),
    [
        ("", "val_acc", "maximize"),
        ('[objective]\nmetric = "val_loss"\n', "val_loss", "minimize"),
        ('[objective]\nmetric = "balanced_acc"\n', "balanced_acc", "maximize"),
    ],
)
def test_the_objective_defaults_to_the_presets_best_metric(
    tmp_path: Path, body: str, metric: str, direction: str
) -> None:
    path = write_sweep(tmp_path, body + '[space]\n"optimizer.lr" = [0.01, 0.1]\n')
    spec = load_sweep(path)
    assert (spec.file.objective.metric, spec.file.objective.direction) == (metric, direction)
    macro = write_sweep(
        tmp_path, '[space]\n"optimizer.lr" = [0.01]\n', name="m", sets=(*TINY, 'train.best_metric="macro_f1"')
    )
    objective = load_sweep(macro).file.objective
    assert (objective.metric, objective.direction) == ("macro_f1", "maximize")
    assert objective.score([{"macro_f1": 0.2}, {"macro_f1": 0.5}, {"macro_f1": 0.4}]) == 0.5


def test_grid_refuses_a_continuous_range(tmp_path: Path) -> None:
    path = write_sweep(
        tmp_path, 'sampler = "grid"\n[space]\n"optimizer.lr" = { low = 1e-3, high = 1e-1, log = true }\n'
    )
    (found,) = problems_of(path)
    assert "space.optimizer.lr: a grid needs a list" in found


def test_base_preset_is_relative_to_the_sweep_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "s.toml"
    path.parent.mkdir()
    path.write_text('preset = "nowhere.toml"\n[space]\n"optimizer.lr" = [0.1]\n', encoding="utf-8")
    (found,) = problems_of(path)
    assert f"{path}:1: preset: no preset at {path.parent / 'nowhere.toml'}" in found


def test_missing_optuna_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(SweepError, match=r'pip install "tui-trainer\[sweep\]"'):
        require_optuna()


# ------------------------------------------------------------------ the table


def test_table_sorts_by_any_column_with_empty_cells_last() -> None:
    rows = [
        TrialRow(0, "finished", 0.5, {"optimizer.lr": 0.01, "loss.smoothing": 0.1}, 2, 3.0),
        TrialRow(1, "pruned", 0.2, {"optimizer.lr": 0.001, "loss.smoothing": 0.0}, 1, 1.0),
        TrialRow(2, "running", None, {"optimizer.lr": 0.1}, None, None),
        TrialRow(3, "finished", 0.7, {"optimizer.lr": 0.003, "loss.smoothing": 0.2}, 2, 2.5),
    ]
    assert [r.number for r in sort_rows(rows, "objective", descending=True)] == [3, 0, 1, 2]
    assert [r.number for r in sort_rows(rows, "objective")] == [1, 0, 3, 2]
    assert [r.number for r in sort_rows(rows, "param:optimizer.lr")] == [1, 3, 0, 2]
    assert [r.number for r in sort_rows(rows, "param:loss.smoothing", descending=True)] == [3, 0, 1, 2]
    assert [r.number for r in sort_rows(rows, "state")] == [0, 3, 1, 2]
    assert [r.number for r in sort_rows(rows, "time", descending=True)] == [0, 3, 1, 2]
    assert [r.number for r in rows if r.matches("lr=0.1")] == [2]
    tied = [TrialRow(0, "finished", 0.5), TrialRow(1, "finished", 0.7), TrialRow(2, "finished", 0.5)]
    assert [r.number for r in sort_rows(tied, "objective", descending=True)] == [1, 0, 2]  # ties in trial order
    assert [r.number for r in sort_rows(tied, "objective")] == [0, 2, 1]


# ------------------------------------------------------------------ several processes, kills


def sweep_command(path: Path, sweeps: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "tui_trainer", "--sweep", str(path), "--sweeps-dir", str(sweeps), *extra]


def done_trials(sweeps: Path, name: str) -> list:
    study = load_study(SweepFolder(sweeps / name))
    return study.get_trials(states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED))


@pytest.mark.slow
def test_two_processes_cover_a_grid_exactly_once(tmp_path: Path) -> None:
    path = write_sweep(
        tmp_path,
        'sampler = "grid"\n[pruner]\nname = "none"\n[space]\n"loss.smoothing" = [0.0, 0.1, 0.2]\n'
        '"optimizer.lr" = [0.001, 0.01]\n',
    )
    sweeps = tmp_path / "sweeps"
    procs = [
        subprocess.Popen(sweep_command(path, sweeps), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=240)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    points = sorted((t.params["loss.smoothing"], t.params["optimizer.lr"]) for t in done_trials(sweeps, "s"))
    assert points == sorted((s, lr) for s in (0.0, 0.1, 0.2) for lr in (0.001, 0.01))
    folders = list((sweeps / "s" / "trials").iterdir())
    assert len(folders) == 6  # no point trained twice, in either process


def status_of_trial(trials_dir: Path, number: int) -> dict | None:
    for folder in trials_dir.glob("*"):
        try:
            status = json.loads((folder / "status.json").read_text())
        except (OSError, ValueError):
            continue
        if status.get("trial") == number:
            return status
    return None


@pytest.mark.slow
def test_kill_9_mid_trial_then_rerun_ends_with_exactly_the_trials(tmp_path: Path) -> None:
    longer = (
        *(s for s in TINY if not s.startswith(("train.epochs", "scheduler.t_max"))),
        "train.epochs=4",
        "scheduler.t_max=4",
        "data.synthetic_train_size=640",
    )
    path = write_sweep(
        tmp_path,
        'sampler = "random"\nseed = 1\ntrials = 3\n[pruner]\nname = "none"\n[space]\n'
        '"optimizer.lr" = { low = 1e-3, high = 1e-2, log = true }\n',
        sets=longer,
    )
    sweeps = tmp_path / "sweeps"
    trials_dir = sweeps / "s" / "trials"
    proc = subprocess.Popen(sweep_command(path, sweeps), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while True:  # kill in the middle of the second trial: after its first epoch, before its last
        status = status_of_trial(trials_dir, 1)
        if status and status.get("epochs_done", 0) >= 1:
            break
        assert proc.poll() is None and time.monotonic() < deadline, "the sweep ended before trial 1 got going"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    first = {t.number: (t.params, t.value) for t in done_trials(sweeps, "s")}
    assert list(first) == [0]

    rerun = subprocess.run(sweep_command(path, sweeps), capture_output=True, text=True, timeout=240)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    study = load_study(SweepFolder(sweeps / "s"))
    done = done_trials(sweeps, "s")
    assert len(done) == 3
    assert {0: first[0]} == {t.number: (t.params, t.value) for t in done if t.number == 0}  # kept, not rerun
    killed = study.trials[1]
    assert killed.state == optuna.trial.TrialState.FAIL
    (retry,) = [t for t in study.trials if t.system_attrs.get("retry_history") == [1]]
    assert retry.state == optuna.trial.TrialState.COMPLETE and retry.params == killed.params
    run_dirs = [t.user_attrs["run_dir"] for t in done]
    assert len(set(run_dirs)) == 3 and len(list(trials_dir.iterdir())) == 3
    assert retry.user_attrs["run_dir"] == killed.user_attrs["run_dir"]  # continued from the killed trial's last.pt
    lines = Path(retry.user_attrs["run_dir"], "metrics.jsonl").read_text().splitlines()
    epochs = [json.loads(line)["epoch"] for line in lines]
    assert epochs == [1, 2, 3, 4]  # no epoch trained twice, none lost
    assert "(again, for trial 1)" in rerun.stdout


def test_a_trial_is_a_run_folder_tagged_with_its_sweep_that_the_confusion_screen_opens(tmp_path: Path) -> None:
    from tui_trainer.runs.sweep import run_sweep
    from tui_trainer.tui.confusion.screen import ConfusionScreen

    spec = load_sweep(write_sweep(tmp_path, 'trials = 1\n[space]\n"loss.smoothing" = [0.0, 0.1]\n'))
    outcome = run_sweep(spec, tmp_path / "sweeps")
    assert (outcome.state, outcome.ran, outcome.exit_code) == ("finished", 1, 0)
    (trial,) = load_study(SweepFolder(tmp_path / "sweeps" / "s")).trials
    run_dir = Path(trial.user_attrs["run_dir"])
    status = json.loads((run_dir / "status.json").read_text())
    assert (status["state"], status["sweep"], status["trial"]) == ("finished", "s", 0)
    screen = ConfusionScreen.from_run_dir(run_dir, which="best")
    assert len(screen.history.epochs) == 2
    assert screen.history.predictions is not None and len(screen.history.predictions.labels) == 64


def test_the_shipped_example_sweep_loads_and_is_told_apart_from_presets() -> None:
    from tests.helpers import REPO
    from tui_trainer.config.sweep_file import is_sweep_file

    example = REPO / "presets" / "smoke-sweep.toml"
    spec = load_sweep(example)
    assert spec.preset_path == SMOKE and spec.trials == 12
    assert is_sweep_file(example) and not is_sweep_file(SMOKE)

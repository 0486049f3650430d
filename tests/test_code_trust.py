"""A run folder's or received sweep's preset is data: its `model.target` runs no code unless the user says so.

Every payload here writes a marker file when it runs. Each refusal is paired with a control that
shows the same payload does run where it is allowed (--trust-code, a plain import, torch.hub itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomlkit

from tests.helpers import SMOKE, TINY, tiny_preset
from tui_trainer.cli import main
from tui_trainer.config import load_preset
from tui_trainer.config.code_trust import TARGET_RULE, TargetAccess, locate_target
from tui_trainer.config.target import target_problems
from tui_trainer.runs.folder import RunFolder

EVILMOD = """
import pathlib
pathlib.Path({marker!r}).write_text("ran")


def factory(num_classes, **params):
    raise RuntimeError("the payload only had to be imported")
"""
HUBCONF = """
import pathlib
pathlib.Path({marker!r}).write_text("ran")


def x(**kwargs):
    import torch
    return torch.nn.Linear(1, 1)
"""
RUN_USES = {
    "eval": lambda run: ["--eval", str(run)],
    "predict": lambda run: ["--predict", str(run), str(run)],
    "export": lambda run: ["--export", str(run), "--format", "safetensors"],
    "resume": lambda run: ["--headless", "--resume", str(run)],
}


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny finished run, copied by each test (its checkpoints are real)."""
    from tui_trainer.runs.launch import run_training

    runs = tmp_path_factory.mktemp("trained")
    outcome = run_training(tiny_preset("train.epochs=1", "scheduler.t_max=1"), runs_dir=runs)
    assert outcome.state == "finished", outcome.error
    return outcome.run_dir


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The current folder for the test (an empty one), sys.path and sys.modules restored after."""
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in ("evilmod", "hubconf"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    yield here
    for name in ("evilmod", "hubconf"):
        sys.modules.pop(name, None)


def received_run(trained_run: Path, runs: Path, target: str, params: dict | None = None) -> Path:
    """A copy of the trained run whose preset names `target`, left interrupted (so it can be resumed)."""
    run = runs / "received"
    shutil.copytree(trained_run, run)
    folder = RunFolder(run)
    doc = tomlkit.parse(folder.preset_file.read_text())
    doc["model"]["target"] = target
    if params:
        doc["model"]["params"] = params
    folder.preset_file.write_text(tomlkit.dumps(doc))
    folder.write_status(state="interrupted", pid=None)
    return run


def hub_run(trained_run: Path, runs: Path, marker: Path) -> Path:
    run = received_run(trained_run, runs, "torch.hub:load", {"x": 0})
    (run / "hubconf.py").write_text(HUBCONF.format(marker=str(marker)))
    folder = RunFolder(run)
    doc = tomlkit.parse(folder.preset_file.read_text())
    doc["model"]["params"] = {"source": "local", "repo_or_dir": str(run), "model": "x"}
    folder.preset_file.write_text(tomlkit.dumps(doc))
    return run


def evil_run(trained_run: Path, runs: Path, beside: str, marker: Path, place: Path) -> tuple[Path, Path]:
    """A run whose preset names evilmod:factory, with evilmod.py in `beside` (run, parent or here)."""
    run = received_run(trained_run, runs, "evilmod:factory")
    folder = {"run": run, "parent": runs, "here": place}[beside]
    (folder / "evilmod.py").write_text(EVILMOD.format(marker=str(marker)))
    return run, folder


# ------------------------------------------------------------------------------- the command line


@pytest.mark.parametrize("use", list(RUN_USES))
def test_the_hub_payload_in_a_run_folder_runs_nothing(
    use: str, trained_run: Path, tmp_path: Path, place: Path, capsys
) -> None:
    marker = tmp_path / "hub-ran"
    run = hub_run(trained_run, tmp_path / "runs", marker)
    assert main(RUN_USES[use](run)) == 2
    err = capsys.readouterr().err
    assert not marker.exists(), f"--{use} executed the run folder's hubconf.py"
    assert "--trust-code" in err and "torch.hub:load" in err and "preset.toml" in err
    assert len(err.strip().splitlines()) == 1
    # Even with --trust-code, a loader is not a model factory: refused before anything is imported.
    assert main([*RUN_USES[use](run), "--trust-code"]) == 2
    assert not marker.exists()
    assert "standard library, torch" in capsys.readouterr().err
    # The control: torch.hub itself runs this payload.
    import torch

    torch.hub.load(str(run), "x", source="local")
    assert marker.read_text() == "ran"


@pytest.mark.parametrize("beside", ["run", "parent", "here"])
@pytest.mark.parametrize("use", list(RUN_USES))
def test_evilmod_beside_a_run_folder_runs_nothing_without_trust_code(
    use: str, beside: str, trained_run: Path, tmp_path: Path, place: Path, capsys
) -> None:
    marker = tmp_path / "evil-ran"
    run, folder = evil_run(trained_run, tmp_path / "runs", beside, marker, place)
    assert main(RUN_USES[use](run)) == 2
    err = capsys.readouterr().err
    assert not marker.exists(), f"--{use} imported evilmod.py from {beside}"
    assert "--trust-code" in err and "evilmod:factory" in err and str(RunFolder(run).preset_file) in err
    if beside == "here":  # the refusal names the file --trust-code would load
        assert str(folder / "evilmod.py") in err
    # The control: with --trust-code, from the folder that holds it, the same module is imported.
    os.chdir(folder)
    with contextlib.suppress(ValueError):  # the factory then fails on purpose
        main([*RUN_USES[use](run), "--trust-code"])
    assert marker.read_text() == "ran"


def test_a_target_that_is_not_a_model_factory_is_refused_by_check_and_by_a_run(tmp_path: Path, place: Path) -> None:
    (place / "reexport.py").write_text("from os import system\nfrom torch.hub import load\n")
    code = TargetAccess.here()
    for target in (
        "os:system",
        "builtins:eval",
        "importlib:import_module",
        "numpy:load",
        "reexport:system",
        "reexport:load",
        "torch.hub:load",
    ):
        preset = tiny_preset(f'model.target="{target}"')
        [problem] = target_problems(preset, "mine.toml", code=code)
        assert problem.key == "model.target" and "defined in your own package" in problem.message, target
        from tui_trainer.engine.builders import build_model

        with pytest.raises(ValueError, match="defined in your own package"):
            build_model(preset.model, num_classes=3, code=code)
    assert TARGET_RULE.startswith("model.target must name a function")


def test_locating_a_target_runs_none_of_it(tmp_path: Path, place: Path) -> None:
    marker = tmp_path / "ran"
    package = place / "evilpkg"
    package.mkdir()
    (package / "__init__.py").write_text(EVILMOD.format(marker=str(marker)))
    (package / "nets.py").write_text(EVILMOD.format(marker=str(marker)))
    assert locate_target("evilpkg.nets:factory", place) == package / "nets.py"
    assert locate_target("evilpkg:factory", tmp_path) is None
    assert not marker.exists() and "evilpkg" not in sys.modules


def test_a_preset_run_directly_imports_from_its_own_folder_only_while_importing(tmp_path: Path, place: Path) -> None:
    from tui_trainer.engine.builders import build_model

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "mynet.py").write_text(
        "from torch import nn\n\ndef make(num_classes):\n    return nn.Linear(4, num_classes)\n"
    )
    before = list(sys.path)
    try:
        model = build_model(load_preset(SMOKE, ["model.target=mynet:make"]).model, 3, code=TargetAccess(mine))
    finally:
        sys.modules.pop("mynet", None)
    assert model.out_features == 3 and sys.path == before


def test_trust_code_goes_only_where_a_run_or_sweep_folder_is_used(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--check", str(SMOKE), "--trust-code"])
    assert exited.value.code == 2


def test_python_m_tui_trainer_never_imports_from_the_current_folder(tmp_path: Path) -> None:
    """Every detached run, detached sweep and --serve tab is `python -m tui_trainer` in some folder."""
    here = tmp_path / "here"
    mine = tmp_path / "mine"
    here.mkdir()
    mine.mkdir()
    marker = tmp_path / "ran"
    (here / "evilmod.py").write_text(EVILMOD.format(marker=str(marker)))
    text = SMOKE.read_text().replace("[model]", '[model]\ntarget = "evilmod:factory"', 1)
    (mine / "mine.toml").write_text(text)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("PYTHONPATH", None)
    command = [sys.executable, "-m", "tui_trainer", "--check", str(mine / "mine.toml")]
    result = subprocess.run(command, cwd=here, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "cannot import 'evilmod'" in result.stderr, result.stderr
    assert not marker.exists()
    # The control: a plain `python -c` from that folder does import it.
    subprocess.run([sys.executable, "-c", "import evilmod"], cwd=here, env=env, check=True, timeout=60)
    assert marker.read_text() == "ran"


def test_detached_resume_carries_trust_code_only_when_given() -> None:
    from tui_trainer.runs.detach import headless_command
    from tui_trainer.runs.sweep_detach import sweep_command

    plain = headless_command(runs_dir=Path("runs"), resume=Path("runs/r"))
    trusted = headless_command(runs_dir=Path("runs"), resume=Path("runs/r"), trust_code=True)
    assert "--trust-code" not in plain and "--trust-code" in trusted
    assert "--trust-code" not in sweep_command(Path("s.toml"), Path("sweeps"))
    assert "--trust-code" in sweep_command(Path("s.toml"), Path("sweeps"), trust_code=True)


# ------------------------------------------------------------------------------- sweeps


def received_sweep(tmp_path: Path, marker: Path) -> Path:
    """A sweep folder's own copy of its sweep file, whose base preset (beside it) names evilmod:factory."""
    folder = tmp_path / "sweeps" / "got"
    folder.mkdir(parents=True)
    (folder / "study.db").write_bytes(b"")  # a sweep folder
    text = SMOKE.read_text().replace("[model]", '[model]\ntarget = "evilmod:factory"', 1)
    (folder / "base.toml").write_text(text)
    (folder / "evilmod.py").write_text(EVILMOD.format(marker=str(marker)))
    sets = ", ".join(f'"{item}"' for item in TINY)
    (folder / "sweep.toml").write_text(
        f'name = "got"\npreset = "base.toml"\nset = [{sets}]\ntrials = 1\n\n[space]\n"optimizer.lr" = [0.1]\n'
    )
    return folder / "sweep.toml"


@pytest.mark.slow
def test_a_received_sweep_folder_runs_no_code_without_trust_code(tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    marker = tmp_path / "ran"
    sweep = received_sweep(tmp_path, marker)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "tui_trainer", "--sweep", str(sweep), "--sweeps-dir", str(tmp_path / "out")]
    result = subprocess.run(command, cwd=sweep.parent, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "--trust-code" in result.stderr and "base.toml" in result.stderr and "evilmod" in result.stderr
    assert not marker.exists()
    # The control: with --trust-code, from the folder that holds evilmod.py, the trial imports it.
    result = subprocess.run([*command, "--trust-code"], cwd=sweep.parent, env=env, capture_output=True, timeout=300)
    assert marker.read_text() == "ran"


# ------------------------------------------------------------------------------- the console


def console_run(trained_run: Path, tmp_path: Path, place: Path, marker: Path) -> Path:
    run, _ = evil_run(trained_run, tmp_path / "runs", "here", marker, place)
    return run


class Recorder:
    """The console's trainer and detached resume, recording what they were given."""

    def __init__(self) -> None:
        self.trained: list[object] = []
        self.detached: list[bool] = []

    def __call__(self, preset, *, runs_dir, listeners=(), control=None, resume=None, preset_source=None, code=None):
        from tui_trainer.runs.launch import RunOutcome

        self.trained.append(code)
        return RunOutcome("interrupted", resume, 130)

    def resume_detached(self, run_dir: Path, trust_code: bool = False):
        from tui_trainer.runs.detach import DetachedRun

        self.detached.append(trust_code)
        return DetachedRun(4242, run_dir, run_dir / "log.txt")


async def _wait(pilot, condition, steps: int = 600) -> None:
    for _ in range(steps):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("the console never got there")


@pytest.mark.parametrize("key", ["v", "o", "r", "d"])
@pytest.mark.slow
def test_the_console_asks_before_a_run_folders_code_and_no_runs_nothing(
    key: str, trained_run: Path, tmp_path: Path, place: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tui_trainer.tui.app import TrainerApp
    from tui_trainer.tui.common.confirm_screen import ConfirmScreen
    from tui_trainer.tui.runs import screen as runs_screen

    marker = tmp_path / "ran"
    run = console_run(trained_run, tmp_path, place, marker)
    recorder = Recorder()
    monkeypatch.setattr(runs_screen, "resume_detached", recorder.resume_detached)

    async def scenario() -> None:
        app = TrainerApp(runs_dir=run.parent, trainer=recorder)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("ctrl+l")
            await _wait(pilot, lambda: app.screen.id == "runs" and app.screen.all_runs)
            await pilot.press(key)
            await _wait(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            question = str(app.screen._question)
            assert "evilmod:factory" in question and str(place / "evilmod.py") in question
            await pilot.press("enter")  # the first button is "No"
            await pilot.pause(0.2)
            assert not isinstance(app.screen, ConfirmScreen)
            assert not marker.exists() and recorder.trained == [] and recorder.detached == []
            await pilot.press(key)
            await _wait(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            if key in ("v", "o"):
                await _wait(pilot, marker.exists)  # the control: after yes, the module is imported
            elif key == "r":
                await _wait(pilot, lambda: recorder.trained == [TargetAccess(place)])
            else:
                assert recorder.detached == [True]  # the child gets --trust-code

    asyncio.run(scenario())


def test_a_console_started_with_trust_code_does_not_ask(
    trained_run: Path, tmp_path: Path, place: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tui_trainer.tui.app import TrainerApp
    from tui_trainer.tui.common.confirm_screen import ConfirmScreen
    from tui_trainer.tui.runs import screen as runs_screen

    run = console_run(trained_run, tmp_path, place, tmp_path / "ran")
    recorder = Recorder()
    monkeypatch.setattr(runs_screen, "resume_detached", recorder.resume_detached)

    async def scenario() -> None:
        app = TrainerApp(runs_dir=run.parent, trainer=recorder, trust_code=True)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("ctrl+l")
            await _wait(pilot, lambda: app.screen.id == "runs" and app.screen.all_runs)
            await pilot.press("d")
            await pilot.pause(0.2)
            assert not isinstance(app.screen, ConfirmScreen) and recorder.detached == [True]

    asyncio.run(scenario())


def sweep_folder_from_elsewhere(tmp_path: Path, marker: Path, space: str = '"optimizer.lr" = [0.1]') -> Path:
    """A received sweep folder whose study names a sweep file elsewhere (its base preset has evilmod:factory)."""
    optuna = pytest.importorskip("optuna")
    from tui_trainer.config.sweep_file import load_sweep
    from tui_trainer.runs.sweep_study import SweepFolder, open_storage

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    text = SMOKE.read_text().replace("[model]", '[model]\ntarget = "evilmod:factory"', 1)
    (elsewhere / "base.toml").write_text(text)
    (elsewhere / "evilmod.py").write_text(EVILMOD.format(marker=str(marker)))
    (elsewhere / "sweep.toml").write_text(f'name = "got"\npreset = "base.toml"\n\n[space]\n{space}\n')
    folder = SweepFolder(tmp_path / "sweeps" / "got")
    folder.path.mkdir(parents=True)
    study = optuna.create_study(storage=open_storage(folder), study_name="got", direction="maximize")
    recorded = load_sweep(elsewhere / "sweep.toml")
    study.set_user_attr("spec", {**recorded.spec_record(), "space": {"optimizer.lr": [0.1]}})
    study.set_user_attr("sweep_file", str(elsewhere / "sweep.toml"))
    return folder.path


def _sweep_app(folder: Path):
    from textual.app import App

    from tui_trainer.tui.sweep.screen import SweepScreen

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(SweepScreen(folder))

    return Host()


@pytest.mark.slow
def test_g_on_a_received_sweep_asks_before_its_code(tmp_path: Path, place: Path, monkeypatch) -> None:
    from tui_trainer.runs import sweep_detach
    from tui_trainer.tui.common.confirm_screen import ConfirmScreen

    marker = tmp_path / "ran"
    folder = sweep_folder_from_elsewhere(tmp_path, marker)
    started: list[bool] = []
    monkeypatch.setattr(sweep_detach, "start_sweep_detached", lambda *a, trust_code=False: started.append(trust_code))

    async def scenario() -> None:
        app = _sweep_app(folder)
        async with app.run_test(size=(100, 30)) as pilot:
            await _wait(pilot, lambda: getattr(app.screen, "study", None) is not None)
            await pilot.press("g")
            await _wait(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            assert "evilmod:factory" in str(app.screen._question)
            assert str(tmp_path / "elsewhere" / "evilmod.py") in str(app.screen._question)
            await pilot.press("n")
            await pilot.pause(0.2)
            assert started == []
            await pilot.press("g")
            await _wait(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            await _wait(pilot, lambda: started == [True])

    asyncio.run(scenario())
    assert not marker.exists()


def test_g_refuses_a_sweep_file_that_is_not_the_study_on_screen(tmp_path: Path, place: Path, monkeypatch) -> None:
    from textual.widgets import Static

    from tui_trainer.runs import sweep_detach

    folder = sweep_folder_from_elsewhere(tmp_path, tmp_path / "ran", space='"train.epochs" = [1, 2]')
    started: list[bool] = []
    monkeypatch.setattr(sweep_detach, "start_sweep_detached", lambda *a, trust_code=False: started.append(trust_code))

    async def scenario() -> None:
        app = _sweep_app(folder)
        async with app.run_test(size=(100, 30)) as pilot:
            await _wait(pilot, lambda: getattr(app.screen, "study", None) is not None)
            await pilot.press("g")
            message = app.screen.query_one("#sweep-message", Static)
            await _wait(pilot, lambda: "not started" in str(message.render()))
            assert "space, objective or sampler" in str(message.render()) and started == []

    asyncio.run(scenario())

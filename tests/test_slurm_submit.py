"""`tui-trainer submit` on a real SLURM (`tests/slurm_cluster.py`): the job it submits trains its run
folder to the end, and the runs list shows a job's state beside its folder's while it waits and runs."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import Input, Static

from tests.console_kit import SIZE, wait_for
from tests.helpers import SET_TINY, SMOKE, tiny_preset
from tests.slurm_cluster import Cluster, one_node_cluster
from tui_trainer.config import resolved_toml
from tui_trainer.runs.folder import RunFolder
from tui_trainer.tui.common.path_prompt import PathPrompt
from tui_trainer.tui.runs.screen import RunsScreen
from tui_trainer.tui.runs.submit_screen import SubmitScreen

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

HOSTILE = "a b;touch x.toml"


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with one_node_cluster(tmp_path_factory) as cluster:
        yield cluster


def _tui_trainer(cluster: Cluster, cwd: Path, *args: str, settings: str = "") -> subprocess.CompletedProcess:
    """`tui-trainer ARGS` in `cwd` on the cluster's login node, with `settings` as the user's settings file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}  # this test's own folders
    env["SLURM_CONF"] = cluster.env["SLURM_CONF"]
    env["TUI_TRAINER_CONFIG"] = str(cwd / "config.toml")
    (cwd / "config.toml").write_text(settings)
    command = [sys.executable, "-m", "tui_trainer", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


def _submitted(done: subprocess.CompletedProcess) -> tuple[str, RunFolder]:
    assert done.returncode == 0, done.stderr
    found = re.search(r"^submitted job (\d+): (.+) \(script", done.stdout, re.MULTILINE)
    assert found, done.stdout
    return found.group(1), RunFolder(Path(found.group(2)))


def _runs_row(cluster: Cluster, cwd: Path, name: str) -> str:
    listing = _tui_trainer(cluster, cwd, "runs").stdout.splitlines()
    return next((line for line in listing if line.startswith(name)), "")


def test_a_submitted_preset_with_a_hostile_name_runs_to_finished_in_its_run_folder(slurm: Cluster, tmp_path: Path):
    shutil.copyfile(SMOKE, tmp_path / HOSTILE)
    done = _tui_trainer(slurm, tmp_path, "submit", HOSTILE, *SET_TINY, "--run-dir", "runs/hostile")
    job, folder = _submitted(done)
    assert folder.path == tmp_path / "runs" / "hostile"
    assert folder.read_status()["slurm_job_id"] == job  # before the job could start (it was held until then)
    assert folder.read_jobs()[0]["event"] == "submitted"
    script = folder.submit_script_file.read_text()
    assert done.stdout.startswith(script) and f"train '{tmp_path / HOSTILE}' --run-dir" in script
    slurm.wait("the job's end", lambda: slurm.job_field(job, "JobState") == "COMPLETED", 180)

    status = folder.read_status()
    assert (status["state"], status["epochs_done"], status["slurm_job_id"]) == ("finished", 2, job)
    assert [e["event"] for e in folder.read_jobs()] == ["submitted", "started", "finished"]
    assert "finished after 2 epochs" in (folder.path / f"slurm-{job}.out").read_text()
    assert sorted(os.listdir(tmp_path)) == sorted([HOSTILE, "config.toml", "runs"])  # no x.toml: no shell ran
    print(f"\nsubmitted job {job}: {[(e['job_id'], e['event']) for e in folder.read_jobs()]}")


def test_the_runs_list_shows_a_jobs_state_and_reason_beside_the_folders(slurm: Cluster, tmp_path: Path) -> None:
    held = '[slurm]\nextra = ["#SBATCH --begin=now+1hour"]\n'  # SLURM keeps it pending: BeginTime
    settings = [*SET_TINY, "--set", "train.epochs=500"]
    job, folder = _submitted(
        _tui_trainer(slurm, tmp_path, "submit", "smoke", *settings, "--run-dir", "runs/held", settings=held)
    )
    slurm.wait("PENDING in the list", lambda: "PENDING (BeginTime)" in _runs_row(slurm, tmp_path, "held"))
    pending = _runs_row(slurm, tmp_path, "held")
    assert pending.split()[:5] == ["held", "pending", job, "PENDING", "(BeginTime)"]

    slurm.run("scontrol", "update", f"JobId={job}", "StartTime=now")
    slurm.wait(
        "the run training", lambda: _runs_row(slurm, tmp_path, "held").split()[1:4] == ["running", job, "RUNNING"]
    )
    slurm.run("scancel", job)
    slurm.wait("the run's end", lambda: folder.read_status()["state"] == "interrupted")
    slurm.wait("CANCELLED in the list", lambda: "CANCELLED" in _runs_row(slurm, tmp_path, "held"))
    print(f"\nlisted: {pending!r}, then running, then {_runs_row(slurm, tmp_path, 'held')!r}")


class RunsConsole(App[None]):
    def __init__(self, runs: Path) -> None:
        super().__init__()
        self.runs = runs

    def on_mount(self) -> None:
        self.push_screen(RunsScreen(self.runs, in_console=True))


def test_the_consoles_submit_key_shows_the_script_and_its_job_trains_the_new_run(
    slurm: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLURM_CONF", slurm.env["SLURM_CONF"])
    monkeypatch.setenv("TUI_TRAINER_CONFIG", str(tmp_path / "config.toml"))  # none: SLURM's defaults
    preset = tmp_path / "tiny.toml"
    preset.write_text(resolved_toml(tiny_preset()))
    runs = tmp_path / "runs"

    async def scenario() -> str:
        app = RunsConsole(runs)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("S")
            await wait_for(pilot, lambda: isinstance(app.screen, PathPrompt))
            app.screen.query_one(Input).value = str(preset)
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, SubmitScreen))
            script = str(app.screen.query_one("#submit-script", Static).render())
            assert "#SBATCH --signal=B:USR1@90" in script and f"train {preset} --run-dir {runs}" in script
            await pilot.press("y")
            screen = app.screen
            assert isinstance(screen, RunsScreen)
            message = screen.query_one("#runs-message", Static)
            await wait_for(pilot, lambda: "submitted job" in str(message.render()))
            assert [run.slurm_job_id for run in screen.all_runs] != [""]  # the new run, listed with its job
            return str(message.render()).split()[2].rstrip(":")

    job = asyncio.run(scenario())
    (folder,) = [RunFolder(path) for path in runs.iterdir()]
    assert folder.read_status()["slurm_job_id"] == job
    slurm.wait("the job's end", lambda: slurm.job_field(job, "JobState") == "COMPLETED", 180)
    assert folder.read_status()["state"] == "finished"

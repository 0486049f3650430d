"""`tui-trainer submit` on a real SLURM (`tests/slurm_cluster.py`): the job it submits trains its run
folder to the end, and the runs list shows a job's state beside its folder's while it waits and runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import SET_TINY, SMOKE
from tests.slurm_cluster import Cluster, one_node_cluster
from tui_trainer.runs.folder import RunFolder

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

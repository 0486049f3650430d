"""A run on a real SLURM: a one-node cluster (`tests/slurm_cluster.py`) started for this module.

The job script is what README's "On a cluster" shows: `exec tui-trainer --headless PRESET --run-dir DIR`.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import SET_TINY, SMOKE
from tests.slurm_cluster import Cluster, one_node_cluster
from tui_trainer.runs.folder import RunFolder

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with one_node_cluster(tmp_path_factory) as cluster:
        yield cluster


def _submit(cluster: Cluster, run_dir: Path, epochs: int, *sbatch: str) -> str:
    """The job script README shows, for the smoke preset made tiny; returns the job id."""
    script = cluster.root / f"{run_dir.name}.sh"
    settings = " ".join([*SET_TINY, "--set", "data.synthetic_train_size=768", "--set", f"train.epochs={epochs}"])
    script.write_text(
        "#!/bin/bash\n"
        f"exec {sys.executable} -m tui_trainer --headless {SMOKE} {settings} --run-dir {run_dir} --log-every 0\n"
    )
    output = cluster.root / f"{run_dir.name}.out"
    return cluster.run(
        "sbatch", "--parsable", f"--output={output}", "--open-mode=append", f"--chdir={cluster.root}", *sbatch,
        str(script),
    ).strip().split(";")[0]  # fmt: skip


def _epochs(run_dir: Path) -> list[int]:
    return [record["epoch"] for record in RunFolder(run_dir).read_metrics()]


def _trace(run_dir: Path) -> list[tuple[str, int, str, int]]:
    return [(j["job_id"], j["restart"], j["event"], j["epochs_done"]) for j in RunFolder(run_dir).read_jobs()]


def test_the_warning_signal_checkpoints_requeues_and_the_job_finishes_the_same_run(slurm: Cluster) -> None:
    run_dir = slurm.root / "requeued"
    job = _submit(slurm, run_dir, 16, "--requeue", "--signal=B:USR1@60", "--time=10")
    slurm.wait("a first epoch", lambda: len(_epochs(run_dir)) >= 1)
    # SLURM sends USR1 60 s before --time ends (to within its 30-60 s polling); here, at once.
    slurm.run("scancel", "--batch", "--signal=USR1", job)
    slurm.wait("the requeue", lambda: slurm.job_field(job, "Restarts") == "1")
    slurm.wait("the job pending again", lambda: slurm.job_field(job, "JobState") in ("PENDING", "RUNNING"))
    slurm.run("scontrol", "update", f"JobId={job}", "StartTime=now")  # skip SLURM's 2 minutes' wait
    slurm.wait("the job's end", lambda: slurm.job_field(job, "JobState") == "COMPLETED", 180)

    assert RunFolder(run_dir).read_status()["state"] == "finished"
    assert _epochs(run_dir) == list(range(1, 17))  # each epoch once, in the same folder
    trace = _trace(run_dir)
    print(f"\nrequeue trace (job, restart, event, epochs done): {trace}")
    assert [event[:3] for event in trace] == [
        (job, 0, "started"),
        (job, 0, "requeued"),
        (job, 1, "started"),
        (job, 1, "finished"),
    ]
    assert 1 <= trace[1][3] < 16 and trace[2][3] == trace[1][3] and trace[3][3] == 16
    assert "requeued (restart 1 comes next)" in (slurm.root / "requeued.out").read_text()


def test_scancel_ends_the_run_as_interrupted_and_the_same_command_resumes_it(slurm: Cluster) -> None:
    run_dir = slurm.root / "cancelled"
    job = _submit(slurm, run_dir, 12, "--requeue")
    slurm.wait("a first epoch", lambda: len(_epochs(run_dir)) >= 1)
    slurm.run("scancel", job)
    slurm.wait("the job's end", lambda: slurm.job_field(job, "JobState") == "CANCELLED")
    folder = RunFolder(run_dir)
    slurm.wait("the run's last write", lambda: folder.read_status()["state"] != "running", 30)
    assert folder.read_status()["state"] == "interrupted" and folder.last_checkpoint.exists()
    assert [event[2] for event in _trace(run_dir)] == ["started", "interrupted"]

    script = (slurm.root / "cancelled.sh").read_text().splitlines()[1].removeprefix("exec ").split()
    env = {k: v for k, v in slurm.env.items() if not k.startswith("SLURM_")}
    resumed = subprocess.run(script, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert resumed.returncode == 0, resumed.stderr
    assert _epochs(run_dir) == list(range(1, 13)) and folder.read_status()["state"] == "finished"

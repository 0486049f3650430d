"""A run on a real SLURM: a one-node cluster (munged, slurmctld, slurmd on localhost) started here.

Debian's `slurm-wlm` and `munge` provide it; the daemons run as root. `.ci/run` installs both. The
job script is what README's "On a cluster" shows: `exec tui-trainer --headless PRESET --run-dir DIR`.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import SET_TINY, SMOKE
from tui_trainer.runs.folder import RunFolder

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "scontrol", "scancel", "sinfo")
UP_SECONDS = 60.0
"""How long the cluster may take to show its node idle (about 3 s here, ~15 s on a slow machine)."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


SLURM_CONF = """\
ClusterName=tuitest
SlurmctldHost=localhost
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
AuthType=auth/munge
AuthInfo=socket={root}/munge/socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
KillWait=10
NodeName=localhost CPUs=2 State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


@dataclass
class Cluster:
    root: Path
    env: dict[str, str]

    def run(self, *args: str) -> str:
        done = subprocess.run(args, env=self.env, capture_output=True, text=True, timeout=30, check=False)
        assert done.returncode == 0, f"{' '.join(args)}: {done.stderr or done.stdout}"
        return done.stdout

    def job_field(self, job_id: str, name: str) -> str:
        found = re.search(rf"\b{name}=(\S+)", self.run("scontrol", "show", "job", "--oneliner", job_id))
        return found.group(1) if found else ""

    def wait(self, what: str, test, seconds: float = 90.0) -> None:
        deadline = time.monotonic() + seconds
        while not test():
            if time.monotonic() > deadline:
                logs = "\n".join(p.read_text()[-2000:] for p in self.root.glob("*.log"))
                pytest.fail(f"SLURM: {what} did not happen within {seconds:.0f} s\n{logs}")
            time.sleep(0.5)


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    missing = [name for name in DAEMONS if shutil.which(name) is None]
    if missing:
        pytest.skip(f"SLURM is not installed ({', '.join(missing)} missing): apt-get install slurm-wlm munge")
    if os.geteuid() != 0:
        pytest.skip("the one-node SLURM of these tests runs its daemons as root")
    root = tmp_path_factory.mktemp("slurm")
    for sub in ("munge", "state", "spool"):
        (root / sub).mkdir(mode=0o700)
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    conf = root / "slurm.conf"
    conf.write_text(SLURM_CONF.format(root=root, ctld_port=_free_port(), d_port=_free_port()))
    env = {**os.environ, "SLURM_CONF": str(conf)}
    for name in [k for k in env if k.startswith("SLURM_") and k != "SLURM_CONF"]:
        env.pop(name)  # the tests may themselves run inside a SLURM job
    munge = root / "munge"
    daemons = [
        [
            "munged", "--foreground", "--force", f"--socket={munge}/socket", f"--key-file={key}",
            f"--log-file={root}/munged.log", f"--pid-file={munge}/munged.pid", f"--seed-file={munge}/seed",
        ],
        ["slurmctld", "-D", "-i", "-f", str(conf)],
        ["slurmd", "-D", "-N", "localhost", "-f", str(conf)],
    ]  # fmt: skip
    started: list[subprocess.Popen] = []
    cluster = Cluster(root, env)
    try:
        for command in daemons:
            started.append(subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            if command[0] == "munged":
                cluster.wait("munged's socket", (munge / "socket").exists, UP_SECONDS)
        cluster.wait("the node idle", lambda: "idle" in cluster.run("sinfo", "--noheader", "--format=%t"), UP_SECONDS)
        yield cluster
    finally:
        subprocess.run(["scancel", "--full", "--user=root"], env=env, capture_output=True, check=False, timeout=30)
        for process in reversed(started):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


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

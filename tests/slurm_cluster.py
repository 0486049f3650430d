"""A one-node SLURM for the tests (munged, slurmctld, slurmd on localhost), started by the `slurm` fixture.

Debian's `slurm-wlm` and `munge` provide it; the daemons run as root (`.ci/run` installs both, and
the fixture skips with a reason where they are missing). Test modules that need it import the
cluster from here (a module-scoped fixture: one cluster per module) rather than from each other:

    @pytest.fixture(scope="module")
    def slurm(tmp_path_factory):
        with one_node_cluster(tmp_path_factory) as cluster:
            yield cluster
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import free_port, terminate

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "scontrol", "scancel", "sinfo")
UP_SECONDS = 60.0
"""How long the cluster may take to show its node idle (about 3 s here, ~15 s on a slow machine)."""


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


@contextlib.contextmanager
def one_node_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The cluster, up with its node idle, for a module-scoped `slurm` fixture; skips where it cannot start."""
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
    conf.write_text(SLURM_CONF.format(root=root, ctld_port=free_port(), d_port=free_port()))
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
            terminate(process, timeout=20)

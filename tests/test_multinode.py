"""Multi-node torchrun on one machine: two launches that meet through a c10d rendezvous (gloo, CPU).

Each launch stands for a machine (`--nnodes 2 --nproc-per-node 1`). The slow tests start real jobs:
two nodes against one process on the same global batch, a node killed mid-run, and a rank whose
data takes longer than the collective timeout. The fast ones prove the two guards the jobs rely on:
one decode per cache entry among processes, and no resume on another number of processes.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.helpers import REPO, SMOKE, TINY, free_port
from tests.torchrun_jobs import job_env, stop_job, worker_pids
from tui_trainer.engine import distributed
from tui_trainer.runs.folder import RunFolder, RunFolderError

VOLATILE = {"epoch_seconds", "train_images_per_second"}

NO_BATCHNORM_MODEL = textwrap.dedent(
    """
    from torch import nn


    def make(num_classes):
        # No BatchNorm: its statistics are per process, so it alone would tell 2 x 32 images from 64.
        return nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, num_classes),
        )
    """
)

PARITY_EPOCHS = 20
PARITY = (
    *(s for s in TINY if not s.startswith(("train.epochs=", "scheduler.t_max=", "data.batch_size=", "model."))),
    "data.synthetic_train_size=128",  # one step an epoch: each node's whole share, or one batch of all 128
    f"train.epochs={PARITY_EPOCHS}",
    f"scheduler.t_max={PARITY_EPOCHS}",
    "train.precision=fp32",
    "optimizer.lr=0.02",
    "augment.crop=false",  # augmentation draws per rank: off, so both runs see the same pixels
    "augment.hflip=0",
    "augment.rotation=0",
    "model.target=no_batchnorm:make",
)


def _sets(overrides: tuple[str, ...]) -> list[str]:
    return [arg for s in overrides for arg in ("--set", s)]


def _node(port: int, *args: str) -> list[str]:
    """One machine's launch of a two-machine job."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes=2",
        "--nproc-per-node=1",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint=127.0.0.1:{port}",
        "--rdzv-id=job",
        "--rdzv-conf=join_timeout=90",  # a launch whose partner never comes gives up
        "--max-restarts=0",
        *args,
    ]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _start_nodes(port: int, args: list[str], env: dict[str, str], cwd: Path) -> list[subprocess.Popen]:
    """Two launches; the first hosts the rendezvous store (it is up before the second starts)."""
    first = subprocess.Popen(_node(port, *args), env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not _listening(port) and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.05)
    second = subprocess.Popen(_node(port, *args), env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return [first, second]


def _metrics(runs_dir: Path) -> list[dict]:
    [run_dir] = list(runs_dir.iterdir())
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in RunFolder(run_dir).read_metrics()]


# --------------------------------------------------------------------------------------------- fast


DECODE_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    import torch
    from tui_trainer.data.cache import cached_decode

    log, ready, me = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    (ready / me).touch()
    while len(list(ready.iterdir())) < 2:  # both processes ask for the entry at the same moment
        time.sleep(0.01)

    def fill(out, disk):
        with log.open("a") as handle:
            handle.write(me + "\\n")
        time.sleep(1.0)  # decoding takes a while: the other process asks meanwhile
        out.copy_(torch.arange(out.numel(), dtype=torch.int64).remainder(251).to(torch.uint8).reshape(out.shape))

    data = cached_decode(["two processes"], "fp", (4, 3, 8, 8), torch.tensor([0, 1, 0, 1]), ("a", "b"), fill)
    print(int(data.images.long().sum()), data.disk is not None)
    """
)


@pytest.mark.slow
def test_processes_that_miss_the_same_cache_entry_decode_it_once(tmp_path: Path) -> None:
    script, log, ready = tmp_path / "decode.py", tmp_path / "decoded.log", tmp_path / "ready"
    script.write_text(DECODE_SCRIPT)
    ready.mkdir()
    env = job_env(tmp_path)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(log), str(ready), name], env=env, stdout=subprocess.PIPE, text=True
        )
        for name in ("first", "second")
    ]
    outputs = [proc.communicate(timeout=120)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0]
    assert len(log.read_text().splitlines()) == 1  # one decoded, the other waited and read its entry
    assert outputs[0] == outputs[1] and outputs[0].split()[1] == "True"  # the same images, from the cache file


def test_resume_on_another_number_of_processes_is_refused_with_the_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.helpers import tiny_preset
    from tui_trainer.runs.launch import load_run_preset, run_training

    outcome = run_training(tiny_preset("train.epochs=1"), runs_dir=tmp_path / "runs", into=tmp_path / "run")
    assert outcome.exit_code == 0
    RunFolder(tmp_path / "run").write_status(state="interrupted")  # as if stopped, so it may be resumed
    monkeypatch.setenv("WORLD_SIZE", "2")  # a torchrun start of two processes, over one or two machines
    with pytest.raises(RunFolderError, match=r"trained on 1 process and this start has 2.*without torchrun"):
        load_run_preset(tmp_path / "run")
    monkeypatch.setenv("WORLD_SIZE", "1")
    load_run_preset(tmp_path / "run")  # the same count is accepted


# --------------------------------------------------------------------------------------------- slow: two nodes


@pytest.mark.slow
def test_two_nodes_end_with_the_metrics_of_one_process_on_the_same_global_batch(tmp_path: Path) -> None:
    (tmp_path / "no_batchnorm.py").write_text(NO_BATCHNORM_MODEL)
    env = job_env(tmp_path)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env["PYTHONPATH"]])
    headless = ["-m", "tui_trainer", "--headless", str(SMOKE)]
    one = subprocess.run(
        [sys.executable, *headless, "--runs-dir", str(tmp_path / "one"), *_sets((*PARITY, "data.batch_size=128"))],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert one.returncode == 0, one.stdout + one.stderr
    nodes = _start_nodes(
        free_port(),
        [*headless, "--runs-dir", str(tmp_path / "two"), *_sets((*PARITY, "data.batch_size=64"))],
        env,
        tmp_path,
    )
    try:
        outputs = [node.communicate(timeout=240)[0].decode() for node in nodes]
    finally:
        for node in nodes:
            stop_job(node)
    assert [node.returncode for node in nodes] == [0, 0], "\n".join(outputs)
    alone, together = _metrics(tmp_path / "one"), _metrics(tmp_path / "two")
    assert [r["epoch"] for r in together] == list(range(1, PARITY_EPOCHS + 1))
    # The same images make each step; only the order of float32 sums differs (one mean over 128
    # against two means of 64 averaged by the all-reduce): 1e-7 relative at most was measured over
    # 20 epochs; 1e-5 leaves room and still tells a real difference (per-rank augmentation: 2e-4
    # in epoch 1). Accuracies are whole counts of 128 and 64 images: equal.
    for mine, theirs in zip(alone, together, strict=True):
        for key in ("train_loss", "val_loss"):
            assert theirs[key] == pytest.approx(mine[key], rel=1e-5), (mine["epoch"], key)
        for key in ("train_acc", "val_acc", "per_class_acc"):
            assert theirs[key] == mine[key], (mine["epoch"], key)


KILL_EPOCHS = 30


@pytest.mark.slow
def test_a_killed_node_ends_the_job_with_a_message_and_a_run_that_resumes_on_as_many_processes(
    tmp_path: Path,
) -> None:
    overrides = (
        *(s for s in TINY if not s.startswith(("train.epochs=", "scheduler.t_max="))),
        f"train.epochs={KILL_EPOCHS}",
        f"scheduler.t_max={KILL_EPOCHS}",
    )
    run_dir = tmp_path / "run"
    env = job_env(tmp_path, **{distributed.TIMEOUT_ENV: "20"})
    headless = ["-m", "tui_trainer", "--headless", str(SMOKE), "--run-dir", str(run_dir), *_sets(overrides)]
    host, other = _start_nodes(free_port(), headless, env, tmp_path)
    try:
        deadline = time.monotonic() + 120
        while not (run_dir / "metrics.jsonl").exists() or not RunFolder(run_dir).read_metrics():
            assert time.monotonic() < deadline and host.poll() is None and other.poll() is None, "no epoch finished"
            time.sleep(0.02)
        # The machine goes down: its torchrun and its worker die at once.
        doomed = worker_pids(other.pid)
        for pid in (other.pid, *doomed.values()):
            os.kill(pid, signal.SIGKILL)
        output = host.communicate(timeout=90)[0].decode()
    finally:
        for node in (host, other):
            stop_job(node)
    assert host.returncode != 0
    survivor = "error: lost contact" if 0 not in doomed else "error (rank 1): lost contact"
    assert survivor in output, output
    folder = RunFolder(run_dir)
    done = len(folder.read_metrics())
    assert 1 <= done < KILL_EPOCHS, "the kill came too late to test resuming; raise KILL_EPOCHS"

    single = subprocess.run(
        [sys.executable, "-m", "tui_trainer", "--headless", "--resume", str(run_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert single.returncode == 2
    assert "trained on 2 processes and this start has 1" in single.stderr, single.stderr

    one_machine = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    resumed = subprocess.run(
        [*one_machine, "--max-restarts=0", "-m", "tui_trainer", "--headless", "--resume", str(run_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert folder.read_status()["state"] == "finished"
    assert [r["epoch"] for r in folder.read_metrics()] == list(range(1, KILL_EPOCHS + 1))


SLOW_PEER_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import torch
    import torch.distributed as dist
    from tui_trainer.engine import distributed

    distributed.init_from_env(torch.device("cpu"))
    if distributed.rank() == 1:
        time.sleep(6)  # this machine decodes its data for longer than the collective timeout (2 s)
    distributed.wait_for_peers()
    box = torch.ones(1)
    dist.all_reduce(box)  # the next collective: DDP's first broadcast in a run
    print("sum", int(box.item()), flush=True)
    distributed.barrier_and_shutdown()
    """
)


@pytest.mark.slow
def test_a_node_that_decodes_longer_than_the_collective_timeout_is_waited_for(tmp_path: Path) -> None:
    script = tmp_path / "slow_peer.py"
    script.write_text(SLOW_PEER_SCRIPT)
    env = job_env(tmp_path, **{distributed.TIMEOUT_ENV: "2"})
    nodes = _start_nodes(free_port(), [str(script)], env, REPO)
    try:
        outputs = [node.communicate(timeout=120)[0].decode() for node in nodes]
    finally:
        for node in nodes:
            stop_job(node)
    assert [node.returncode for node in nodes] == [0, 0], "\n".join(outputs)
    assert sum(output.count("sum 2") for output in outputs) == 2

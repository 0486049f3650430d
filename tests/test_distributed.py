"""Data-parallel training under torchrun: two CPU processes over gloo on 127.0.0.1.

The slow tests start real `python -m torch.distributed.run --nproc_per_node=2` jobs (each start
imports torch three times, ~10 s on two cores): one full run that every later check compares with,
a run stopped by Ctrl+C and resumed, a run whose rank 1 is killed, and a small script that trains
with the Trainer directly and compares every rank's parameters.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import REPO, SMOKE, TINY
from tests.helpers import free_port as _free_port
from tests.torchrun_jobs import job_env as _env
from tests.torchrun_jobs import stop_job as _stop_job
from tests.torchrun_jobs import worker_pids as _worker_pids
from tui_trainer.engine import distributed
from tui_trainer.runs.folder import RunFolder

EPOCHS = 8
"""Tiny epochs (~0.1 s each): enough of them that a Ctrl+C after the first lands mid-run."""

DDP_OVERRIDES = (
    *(s for s in TINY if not s.startswith(("train.epochs=", "scheduler.t_max="))),
    f"train.epochs={EPOCHS}",
    f"scheduler.t_max={EPOCHS}",
)
VOLATILE = {"epoch_seconds", "train_images_per_second"}
RUN_FILES = {
    ".lock",  # rank 0 holds it while it trains (one writer per folder)
    "preset.toml",
    "status.json",
    "metrics.jsonl",
    "last.pt",
    "best.pt",
    "val_images.npy",
    "predictions-last.npz",
    "predictions-best.npz",
    "progress.json",
}


# --------------------------------------------------------------------------------------------- helpers


def _torchrun(*args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--max-restarts=0",
        "--master_addr=127.0.0.1",
        f"--master_port={_free_port()}",
        *args,
    ]


def _headless(runs_dir: Path, *overrides: str) -> list[str]:
    sets = [arg for s in overrides for arg in ("--set", s)]
    return _torchrun("-m", "tui_trainer", "--headless", str(SMOKE), "--runs-dir", str(runs_dir), *sets)


def _stable(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in records]


def _wait_for_metrics(folder_parent: Path, proc: subprocess.Popen, seconds: float = 90) -> Path:
    """The run folder, once its metrics.jsonl holds a finished epoch."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the job ended before its first epoch"
        for run_dir in folder_parent.glob("*"):
            if RunFolder(run_dir).read_metrics():
                return run_dir
        time.sleep(0.02)
    pytest.fail(f"no epoch finished within {seconds} s")


def _resume_to_the_reference_metrics(
    run_dir: Path, env: dict[str, str], reference_runs: Path
) -> subprocess.CompletedProcess:
    """`--resume` the run under torchrun; it must finish with the uninterrupted run's metrics."""
    resumed = subprocess.run(
        _torchrun("-m", "tui_trainer", "--headless", "--resume", str(run_dir)),
        env=env,
        cwd=run_dir.parent.parent,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    folder = RunFolder(run_dir)
    assert folder.read_status()["state"] == "finished"
    [reference_dir] = list(reference_runs.iterdir())
    assert _stable(folder.read_metrics()) == _stable(RunFolder(reference_dir).read_metrics())
    return resumed


# --------------------------------------------------------------------------------------------- fast: one process


def test_collective_timeout_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(distributed.TIMEOUT_ENV, raising=False)
    assert distributed.collective_timeout() == 300.0
    monkeypatch.setenv(distributed.TIMEOUT_ENV, "7.5")
    assert distributed.collective_timeout() == 7.5
    for bad in ("soon", "0", "-3", "inf", "nan"):
        monkeypatch.setenv(distributed.TIMEOUT_ENV, bad)
        with pytest.raises(distributed.DistributedSetupError, match=distributed.TIMEOUT_ENV):
            distributed.collective_timeout()


def test_init_from_env_passes_the_timeout_and_picks_gloo_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(distributed.dist, "init_process_group", lambda **kw: calls.append(kw))
    monkeypatch.setattr(distributed.dist, "new_group", lambda **kw: calls.append(kw))  # wait_for_peers' group
    monkeypatch.setenv(distributed.TIMEOUT_ENV, "12")
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    distributed.init_from_env(torch.device("cpu"))
    assert calls == []  # not under torchrun: nothing to join
    monkeypatch.setenv("WORLD_SIZE", "2")
    distributed.init_from_env(torch.device("cpu"))
    setup = datetime.timedelta(seconds=distributed.SETUP_TIMEOUT_S)
    assert calls == [
        {"backend": "gloo", "timeout": datetime.timedelta(seconds=12)},
        {"backend": "gloo", "timeout": setup},
    ]


def test_helpers_are_no_ops_in_one_process() -> None:
    from tui_trainer.engine.loops import EpochStats, ValidationResult

    assert not distributed.is_active() and distributed.world_size() == 1 and distributed.rank() == 0
    assert distributed.any_rank(True) and not distributed.any_rank(False)
    vote = distributed.StopVote()
    assert [vote(flag) for flag in (False, False, True, False)] == [False, False, True, False]
    stats = EpochStats(loss=1.0, accuracy=0.5, images=4, seconds=1.0, completed=True)
    assert distributed.reduce_epoch_stats(stats, torch.device("cpu")) is stats
    result = ValidationResult(0.0, 1.0, torch.eye(2, dtype=torch.int64), *(torch.zeros(2),) * 4)
    assert distributed.gather_validation(result, torch.device("cpu")) is result
    assert distributed.broadcast_str("x") == "x"
    distributed.barrier_and_shutdown()
    model = torch.nn.Linear(2, 2)
    assert distributed.wrap_model(model, torch.device("cpu")) is model


def test_a_torchrun_worker_ends_with_its_exit_code_and_its_output_flushed(tmp_path: Path) -> None:
    # The worker skips interpreter shutdown (where gloo can abort), so nothing may be lost with it.
    script = (
        "import sys\n"
        "from tui_trainer.engine import distributed\n"
        "print('last line', end='')\n"
        "sys.stderr.write('last error')\n"
        "distributed.end_worker(int(sys.argv[1]))\n"
        "print(' and after')\n"
    )
    for world, code in (("2", 130), ("1", 0)):
        proc = subprocess.run(
            [sys.executable, "-c", script, "130"],
            env={**_env(tmp_path), "WORLD_SIZE": world},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == code, proc.stderr
        assert proc.stdout == ("last line" if world == "2" else "last line and after\n")
        assert proc.stderr.endswith("last error")


def test_a_bad_timeout_under_torchrun_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.helpers import tiny_preset
    from tui_trainer.runs.launch import run_training

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv(distributed.TIMEOUT_ENV, "soon")
    outcome = run_training(tiny_preset(), runs_dir=tmp_path / "runs")
    assert outcome.exit_code == 2 and distributed.TIMEOUT_ENV in outcome.error
    assert not (tmp_path / "runs").exists() and not distributed.is_active()


def test_only_rank_0_prints_but_another_ranks_failure_is_still_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tui_trainer.cli.train import run_headless

    monkeypatch.setenv("RANK", "1")  # WORLD_SIZE stays unset: one process that believes it is rank 1
    code = run_headless(SMOKE, [*TINY, "model.target=nowhere.module:make"], tmp_path / "runs")
    assert code == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "error (rank 1):" in err and "nowhere.module" in err


def test_a_timed_checkpoint_in_one_process_follows_the_callers_own_flag() -> None:
    from tui_trainer.engine.loops import EpochPosition

    vote = distributed.StopVote()
    assert not vote.checkpoint_due
    assert vote(False, True) is False and vote.checkpoint_due
    assert vote(False) is False and not vote.checkpoint_due
    position = EpochPosition(batch=3, loss_sum=2.5, correct=7, seen=48)
    assert distributed.reduce_position(position, torch.device("cpu")) is position


# --------------------------------------------------------------------------------------------- slow: torchrun


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    """One uninterrupted 2-process run of the tiny smoke preset: (the torchrun result, its runs dir)."""
    root = tmp_path_factory.mktemp("ddp")
    runs_dir = root / "runs"
    result = subprocess.run(
        _headless(runs_dir, *DDP_OVERRIDES),
        env=_env(root),
        cwd=root,  # a rank that wrote a relative path by mistake would leave it here
        capture_output=True,
        text=True,
        timeout=180,
    )
    return result, runs_dir


@pytest.mark.slow
def test_torchrun_trains_one_run_folder_written_by_rank_0_only(
    ddp_run: tuple[subprocess.CompletedProcess, Path],
) -> None:
    result, runs_dir = ddp_run
    assert result.returncode == 0, result.stdout + result.stderr
    [run_dir] = list(runs_dir.iterdir())
    assert sorted(p.name for p in runs_dir.parent.iterdir()) == ["runs"]  # nothing else in the job's cwd
    assert {p.name for p in run_dir.iterdir()} == RUN_FILES  # no temporary files left by a second writer
    folder = RunFolder(run_dir)
    status = folder.read_status()
    assert status["state"] == "finished" and status["epochs_done"] == EPOCHS
    records = folder.read_metrics()
    assert [r["epoch"] for r in records] == list(range(1, EPOCHS + 1))
    # Only rank 0 printed: one header, one line per epoch, one summary.
    lines = result.stdout.splitlines()
    assert sum(line.startswith("run ") for line in lines) == 1
    assert sum(line.startswith("epoch ") for line in lines) == EPOCHS
    assert sum(line.startswith("finished after ") for line in lines) == 1
    # Train metrics are over all 192 images (96 per rank), so accuracy is a whole count of 192.
    for record in records:
        assert record["train_acc"] * 192 == pytest.approx(round(record["train_acc"] * 192), abs=1e-9)


@pytest.mark.slow
def test_torchrun_with_streamed_batches_trains_exactly_like_the_device_run(
    tmp_path: Path, ddp_run: tuple[subprocess.CompletedProcess, Path]
) -> None:
    reference, reference_runs = ddp_run
    assert reference.returncode == 0, reference.stdout + reference.stderr
    runs_dir = tmp_path / "runs"
    result = subprocess.run(
        _headless(runs_dir, *DDP_OVERRIDES, "data.storage=stream"),
        env=_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [run_dir] = list(runs_dir.iterdir())
    [reference_dir] = list(reference_runs.iterdir())
    assert RunFolder(run_dir).read_status()["storage"] == "stream"
    assert RunFolder(reference_dir).read_status()["storage"] == "device"
    assert _stable(RunFolder(run_dir).read_metrics()) == _stable(RunFolder(reference_dir).read_metrics())


@pytest.mark.slow
def test_validation_of_the_ddp_run_equals_one_process_on_its_checkpoint(
    ddp_run: tuple[subprocess.CompletedProcess, Path],
) -> None:
    from tui_trainer.config import load_preset
    from tui_trainer.data import load_data, val_batches
    from tui_trainer.engine.builders import build_loss, build_model
    from tui_trainer.engine.checkpoint import load_checkpoint
    from tui_trainer.engine.device import numerics_for
    from tui_trainer.engine.loops import validate

    result, runs_dir = ddp_run
    assert result.returncode == 0, result.stdout + result.stderr
    [run_dir] = list(runs_dir.iterdir())
    folder = RunFolder(run_dir)
    preset = load_preset(folder.preset_file)
    splits = load_data(preset.data, seed=preset.train.seed)
    checkpoint = load_checkpoint(folder.last_checkpoint)
    assert checkpoint["epoch"] == EPOCHS
    model = build_model(preset.model, num_classes=len(splits.classes), in_channels=splits.train.images.shape[1])
    model.load_state_dict(checkpoint["model"])
    one = validate(
        model,
        val_batches(splits.val, preset.data.batch_size, preset.augment.mean, preset.augment.std),
        build_loss(preset.loss, len(splits.classes), reduction="none"),
        numerics_for(torch.device("cpu"), "fp32", False),
        len(splits.classes),
    )
    last = folder.read_metrics()[-1]
    assert last["val_acc"] == one.accuracy
    assert last["val_loss"] == pytest.approx(one.loss, rel=1e-6)
    confusion = one.confusion.numpy()
    support = confusion.sum(axis=1)
    per_class = [float(confusion[i, i] / support[i]) if support[i] else 0.0 for i in range(len(splits.classes))]
    assert last["per_class_acc"] == pytest.approx(per_class)
    # The gathered predictions are in validation order and are the one-process predictions.
    saved = folder.read_predictions("last")
    assert np.array_equal(saved["labels"], splits.val.labels.numpy())
    assert np.array_equal(saved["predictions"], one.predictions.numpy())
    assert np.array_equal(saved["confusion"], confusion)
    np.testing.assert_allclose(saved["losses"], one.losses.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_ctrl_c_stops_every_rank_and_resume_under_torchrun_matches_the_uninterrupted_run(
    tmp_path: Path, ddp_run: tuple[subprocess.CompletedProcess, Path]
) -> None:
    reference, reference_runs = ddp_run
    assert reference.returncode == 0, reference.stdout + reference.stderr
    runs_dir = tmp_path / "runs"
    env = _env(tmp_path)
    proc = subprocess.Popen(
        _headless(runs_dir, *DDP_OVERRIDES),
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        run_dir = _wait_for_metrics(runs_dir, proc)
        proc.send_signal(signal.SIGINT)  # what Ctrl+C does: torchrun forwards it to every worker
        output, _ = proc.communicate(timeout=60)
    finally:
        _stop_job(proc)
    assert proc.returncode != 0
    folder = RunFolder(run_dir)
    status = folder.read_status()
    assert status["state"] == "interrupted", output
    done = len(folder.read_metrics())
    assert 1 <= done < EPOCHS, "the stop came too late to test resuming; raise EPOCHS"
    assert sum(line.startswith("interrupted after ") for line in output.splitlines()) == 1

    _resume_to_the_reference_metrics(run_dir, env, reference_runs)
    assert list(runs_dir.iterdir()) == [run_dir]


def _freeze_at_a_mid_epoch_checkpoint(proc: subprocess.Popen, last: Path) -> dict:
    """Stop the job's workers (SIGSTOP) at a moment its last.pt lies inside an epoch; that checkpoint's payload."""
    while proc.poll() is None:
        workers = list(_worker_pids(proc.pid).values())
        for pid in workers:
            os.kill(pid, signal.SIGSTOP)
        if workers and last.exists():
            payload = torch.load(last, weights_only=True)
            if "position" in payload:
                return payload
        for pid in workers:
            os.kill(pid, signal.SIGCONT)
        time.sleep(0.01)
    pytest.fail("the job ended without a checkpoint inside an epoch")


@pytest.mark.slow
def test_timed_checkpoints_under_torchrun_survive_kill_9_and_resume_matches_the_uninterrupted_run(
    tmp_path: Path, ddp_run: tuple[subprocess.CompletedProcess, Path]
) -> None:
    reference, reference_runs = ddp_run
    assert reference.returncode == 0, reference.stdout + reference.stderr
    runs_dir = tmp_path / "runs"
    env = _env(tmp_path)
    often = "train.checkpoint_minutes=0.0001"  # 6 ms: due at every vote of the ranks
    proc = subprocess.Popen(
        _headless(runs_dir, *DDP_OVERRIDES, often), env=env, cwd=tmp_path, stdout=subprocess.PIPE, text=True
    )
    try:
        run_dir = _wait_for_metrics(runs_dir, proc)
        payload = _freeze_at_a_mid_epoch_checkpoint(proc, run_dir / "last.pt")
        workers = _worker_pids(proc.pid).values()
        proc.kill()  # kill -9 of the whole job: torchrun first, so it cannot pass anything on
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        proc.communicate(timeout=60)
    finally:
        _stop_job(proc)
    position = payload["position"]
    assert 1 <= payload["epoch"] < EPOCHS and position["batch"] >= 1
    # Rank 0 saved every rank's sums: all the images of the batches done, a batch of 32 from each of the two ranks.
    assert position["seen"] == position["batch"] * 32 * 2
    assert 0 <= position["correct"] <= position["seen"] and position["loss_sum"] > 0

    resumed = _resume_to_the_reference_metrics(run_dir, env, reference_runs)
    assert f"epoch {payload['epoch'] + 1}" in resumed.stdout  # continued the epoch it was killed in


@pytest.mark.slow
def test_a_killed_rank_ends_the_whole_job_promptly(tmp_path: Path) -> None:
    timeout = 20
    proc = subprocess.Popen(
        _headless(tmp_path / "runs", *DDP_OVERRIDES, "train.epochs=500", "scheduler.t_max=500"),
        env=_env(tmp_path, **{distributed.TIMEOUT_ENV: str(timeout)}),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        run_dir = _wait_for_metrics(tmp_path / "runs", proc)
        workers = _worker_pids(proc.pid)
        assert sorted(workers) == [0, 1], workers
        os.kill(workers[1], signal.SIGKILL)
        killed = time.monotonic()
        output, _ = proc.communicate(timeout=timeout + 40)
        elapsed = time.monotonic() - killed
    finally:
        _stop_job(proc)
    assert proc.returncode != 0
    assert elapsed < timeout, f"the job took {elapsed:.1f} s to end after a rank was killed"
    assert "exitcode  : -9" in output  # torchrun's summary names the killed rank
    status = RunFolder(run_dir).read_status()
    assert status["state"] == "failed", output
    assert "lost contact" in status["error"] and distributed.TIMEOUT_ENV in status["hint"]


FLAKY_MODEL = textwrap.dedent(
    """
    import os

    from torch import nn

    from tui_trainer.models.small_cnn import small_cnn


    class Flaky(nn.Module):
        \"\"\"The smoke model, except that rank 1 raises in its fifth training batch (epoch 2).\"\"\"

        def __init__(self, num_classes):
            super().__init__()
            self.inner = small_cnn(num_classes, width=4)
            self.batches = 0

        def forward(self, x):
            if self.training:
                self.batches += 1
                if os.environ.get("RANK") == "1" and self.batches == 5:
                    raise RuntimeError("flaky model failed on purpose")
            return self.inner(x)


    def make(num_classes):
        return Flaky(num_classes)
    """
)


@pytest.mark.slow
def test_a_rank_that_raises_fails_the_job_with_its_own_error(tmp_path: Path) -> None:
    (tmp_path / "flaky_model.py").write_text(FLAKY_MODEL)
    env = _env(tmp_path, **{distributed.TIMEOUT_ENV: "20"})
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env["PYTHONPATH"]])
    started = time.monotonic()
    result = subprocess.run(
        _headless(tmp_path / "runs", *DDP_OVERRIDES, "model.target=flaky_model:make"),
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert elapsed < 60, f"the job took {elapsed:.1f} s"
    assert "error (rank 1): RuntimeError: flaky model failed on purpose" in output  # the failing rank says why
    [run_dir] = list((tmp_path / "runs").iterdir())
    folder = RunFolder(run_dir)
    status = folder.read_status()
    assert status["state"] == "failed" and "lost contact" in status["error"], output  # rank 0 says what it saw
    assert [r["epoch"] for r in folder.read_metrics()] == [1]


CHECK_SCRIPT = textwrap.dedent(
    """
    import hashlib, json, sys
    import torch
    import torch.distributed as dist
    from tests.helpers import tiny_preset
    from tui_trainer.data import load_data
    from tui_trainer.engine import distributed
    from tui_trainer.engine.device import numerics_for
    from tui_trainer.engine.loops import EpochStats, ValidationResult
    from tui_trainer.engine.trainer import Trainer

    device = torch.device("cpu")
    distributed.init_from_env(device)
    rank, world = distributed.rank(), distributed.world_size()

    # Sample-weighted reduction: rank 0 saw 10 images, rank 1 saw 30.
    mine = [EpochStats(1.0, 0.5, 10, 1.0, True), EpochStats(2.0, 0.3, 30, 1.0, True)][rank]
    total = distributed.reduce_epoch_stats(mine, device)
    reduced = [total.loss, total.accuracy, total.images]
    # Uneven validation shards (3 and 2 samples) come back in rank order.
    labels = [torch.tensor([0, 1, 1]), torch.tensor([2, 0])][rank]
    preds = [torch.tensor([0, 1, 2]), torch.tensor([2, 1])][rank]
    losses = [torch.tensor([0.5, 1.0, 1.5]), torch.tensor([2.0, 2.5])][rank]
    empty = torch.zeros(3, 3, dtype=torch.int64)
    probabilities = torch.nn.functional.one_hot(preds, 3).half()
    part = ValidationResult(0.0, 0.0, empty, labels, preds, torch.ones(len(labels)), losses, probabilities)
    whole = distributed.gather_validation(part, device)
    gathered = [whole.labels.tolist(), whole.predictions.tolist(), whole.confusion.tolist(), whole.loss, whole.accuracy,
                whole.probabilities.argmax(dim=1).tolist()]

    # Two epochs with gradient accumulation (groups of 2 and 1 batches: no_sync and a short group).
    preset = tiny_preset("train.accumulation_steps=2")
    splits = load_data(preset.data, seed=preset.train.seed)
    trainer = Trainer(preset, splits, numerics_for(device, "fp32", False))
    finished = trainer.fit()

    def digest(tensors):
        h = hashlib.sha256()
        for t in tensors:
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()

    state = trainer.optimizer.state
    report = {
        "rank": rank,
        "world": world,
        "state": finished.state,
        "params": digest(trainer.model.parameters()),
        "buffers": digest(trainer.model.buffers()),
        "optimizer": digest(v for p in trainer.model.parameters() for v in state[p].values() if torch.is_tensor(v)),
        "history": [{k: v for k, v in r.items() if k not in ("epoch_seconds", "train_images_per_second")}
                    for r in trainer.history],
        "reduced": reduced,
        "gathered": gathered,
    }
    reports = [None] * world
    dist.all_gather_object(reports, report)
    if rank == 0:
        with open(sys.argv[1], "w") as handle:
            json.dump(reports, handle)
    distributed.barrier_and_shutdown()
    """
)


@pytest.mark.slow
def test_every_rank_ends_with_the_same_weights(tmp_path: Path) -> None:
    script = tmp_path / "check_ddp.py"
    script.write_text(CHECK_SCRIPT)
    out = tmp_path / "reports.json"
    result = subprocess.run(
        _torchrun(str(script), str(out)), env=_env(tmp_path), cwd=REPO, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stdout + result.stderr
    first, second = json.loads(out.read_text())
    assert (first["rank"], second["rank"], first["world"]) == (0, 1, 2)
    assert first["state"] == second["state"] == "finished"
    for key in ("params", "buffers", "optimizer", "history"):
        assert first[key] == second[key], key
    assert len(first["history"]) == 2
    for report in (first, second):
        loss, accuracy, images = report["reduced"]
        assert images == 40
        assert loss == pytest.approx((1.0 * 10 + 2.0 * 30) / 40)
        assert accuracy == pytest.approx((5 + 9) / 40)
        labels, predictions, confusion, val_loss, val_acc, most_probable = report["gathered"]
        assert labels == [0, 1, 1, 2, 0] and predictions == [0, 1, 2, 2, 1]
        assert most_probable == predictions  # each rank's probability rows come back with its samples
        assert confusion == [[1, 1, 0], [0, 1, 1], [0, 0, 1]]
        assert val_loss == pytest.approx(7.5 / 5) and val_acc == pytest.approx(3 / 5)

"""benchmarks/gpu_check.py, rehearsed on CPU: every step records a status, failures and the time
budget are written down instead of stopping the check, and the device command is the documented one."""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers import REPO

SCRIPT = REPO / "benchmarks" / "gpu_check.py"


def _module():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gpu_check = _module()


def _image_folder(root: Path, per_class: dict[str, int]) -> int:
    """A CIFAR-like ImageFolder of 32 px JPEGs; returns the number of files written."""
    rng = np.random.default_rng(0)
    count = 0
    for split, n in per_class.items():
        for label in range(10):
            folder = root / split / f"class{label}"
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i:04d}.jpg", quality=90)
                count += 1
    return count


@pytest.fixture
def run_main(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Call the script's main() in this process; its SIGTERM handler and cache variable are undone after."""
    monkeypatch.setenv("TUI_TRAINER_CACHE", str(tmp_path / "cache"))
    previous = signal.getsignal(signal.SIGTERM)
    out = tmp_path / "gc.json"

    def run(*args: str) -> tuple[int, dict]:
        code = gpu_check.main(["--device", "cpu", "--quick", "--out", str(out), "--work", str(tmp_path / "w"), *args])
        return code, json.loads(out.read_text())

    yield run
    signal.signal(signal.SIGTERM, previous)


@pytest.mark.slow
def test_the_quick_rehearsal_runs_every_step_on_packed_data(tmp_path: Path) -> None:
    files = _image_folder(tmp_path / "cifar10-jpeg", {"train": 6, "val": 2})
    pack = tmp_path / "pack"
    packed = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--pack",
            str(tmp_path / "cifar10-jpeg"),
            "--pack-dest",
            str(pack),
            "--no-wheels",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert packed.returncode == 0, packed.stdout + packed.stderr
    out = tmp_path / "gc.json"
    command = [sys.executable, str(SCRIPT), "--device", "cpu", "--quick", "--data", str(pack / gpu_check.DATA_ARCHIVE)]
    command += ["--out", str(out), "--work", str(tmp_path / "work")]  # the real fast preset, as on the GPU
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    result = json.loads(out.read_text())

    steps = result["steps"]
    assert list(steps) == list(gpu_check.STEPS)
    assert steps["cuda_tests"]["status"] in ("ok", "skipped")  # skipped: no CUDA device here
    assert steps["cuda_tests"]["counts"]["tests"] >= 1  # the CUDA tests were collected, not lost
    for name in ("data_pipeline", "seed_epochs", "seed_full", "fast_preset", "ddp_two_processes"):
        assert steps[name]["status"] == "ok", (name, steps[name])
    assert result["data"]["files"] == files and result["data"]["train_images"] == 60
    rates = steps["data_pipeline"]["augmented_images_per_second"]
    assert rates == {"60": rates["60"]} and rates["60"] > 0  # batch 64, cut to the 60 training images
    variants = steps["seed_epochs"]["variants"]
    assert variants["fp32"]["steady_epoch_s"] > 0
    streamed = variants["bf16_channels_last_stream"]  # rehearses the streamed path that CUDA will take
    assert streamed["status"] == "ok" and streamed["storage"] == "stream" and streamed["steady_epoch_s"] > 0
    assert (
        variants["bf16_channels_last_compile"]["status"] == "skipped"
        and variants["bf16_channels_last_compile"]["reason"]
    )
    full = steps["seed_full"]
    assert full["epochs_done"] == 1 and 0.0 <= full["final_val_acc"] <= 1.0
    assert full["coursework_val_acc"] == 0.8966 and "final_minus_coursework" in full
    assert steps["fast_preset"]["epochs_done"] == 1 and steps["fast_preset"]["preset"].endswith("cifar10-fast.toml")
    ddp = steps["ddp_two_processes"]
    assert ddp["backend_used"] == "gloo" and ddp["attempts"]["gloo"]["same_weights_on_both_ranks"] is True
    assert "step " in done.stdout and "wrote " in done.stdout.splitlines()[-1]  # the summary table comes last


def test_a_failing_step_is_recorded_and_the_later_steps_still_run(
    run_main, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(check, rec) -> None:
        rec["figure_before_failing"] = 1
        raise RuntimeError("planted failure")

    monkeypatch.setitem(gpu_check.STEP_FUNCTIONS, "data_pipeline", broken)
    code, result = run_main("--steps", "2,5", "--fast-preset", str(tmp_path / "missing.toml"))
    assert code == 1
    failed = result["steps"]["data_pipeline"]
    assert failed["status"] == "failed" and failed["error"] == "RuntimeError: planted failure"
    assert "planted failure" in failed["traceback"] and failed["figure_before_failing"] == 1
    later = result["steps"]["fast_preset"]
    assert later["status"] == "skipped" and "missing.toml" in later["reason"]
    assert result["steps"]["seed_full"] == {"order": 4, "status": "skipped", "reason": "not selected (--steps)"}


def test_data_that_cannot_be_prepared_fails_the_steps_instead_of_a_silent_stand_in(run_main, tmp_path: Path) -> None:
    code, result = run_main("--steps", "2", "--data", str(tmp_path / "missing.tar.gz"))
    assert code == 1
    assert "missing.tar.gz" in result["data"]["error"]
    step = result["steps"]["data_pipeline"]
    assert step["status"] == "failed" and "could not be prepared" in step["error"]


def test_a_spent_time_budget_skips_the_steps_with_a_reason(run_main) -> None:
    code, result = run_main("--budget", "0")
    assert code == 0
    for rec in result["steps"].values():
        assert rec["status"] == "skipped" and rec["reason"].startswith("time budget"), rec


def test_the_device_command_fits_the_tool_and_is_the_documented_one() -> None:
    command = gpu_check.DEVICE_COMMAND
    assert len(command) <= 2000
    assert command in (REPO / "README.md").read_text()
    assert " ".join(command.split()) in " ".join(gpu_check.__doc__.split())
    # What it carries is ignored by git, so it travels only through `carry`.
    assert ".gpu-check/" in command
    assert "/.gpu-check/" in (REPO / ".gitignore").read_text().splitlines()

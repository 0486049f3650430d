"""Small presets and run helpers shared by the engine, runs and console tests."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from tui_trainer.config import load_preset

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "presets" / "smoke.toml"

TINY = (
    "data.synthetic_train_size=192",
    "data.synthetic_val_size=64",
    "data.image_size=16",
    "data.batch_size=32",
    "model.width=4",
    "train.epochs=2",
    "scheduler.t_max=2",
    "train.device=cpu",
    "train.threads=1",  # auto re-counts idle cores each epoch; float sums depend on the thread count
)
"""Overrides that make the smoke preset train in about a second."""

SET_TINY = [arg for override in TINY for arg in ("--set", override)]
"""TINY as command-line arguments."""


def tiny_preset(*extra: str):
    return load_preset(SMOKE, (*TINY, *extra))


def free_port() -> int:
    """A port nothing listens on now (for a server to start on, or for a client to find nobody at)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def terminate(process: subprocess.Popen, timeout: float = 30) -> None:
    """Ask `process` to end (SIGTERM), and kill it if it has not within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def colour_overrides(root: Path, *extra: str) -> tuple[str, ...]:
    """`--set`s that train the smoke preset on the noisy colour folder at `root` (conftest's `noisy_colours`)
    in a few seconds on one thread: 16 px, the smallest CNN, 4 epochs."""
    return (
        'data.dataset="imagefolder"',
        f'data.root="{root.as_posix()}"',
        "data.image_size=16",
        "data.batch_size=32",
        "model.width=8",
        "train.epochs=4",
        "scheduler.t_max=4",
        "train.device=cpu",
        "train.threads=1",
        *extra,
    )

"""Small presets and run helpers shared by the engine, runs and console tests."""

from __future__ import annotations

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

"""Shared fixtures: every test runs with its own cache and config folders, never the user's; a preset
to edit; a folder of images with flipped labels."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers import SMOKE


@pytest.fixture(autouse=True)
def _isolated_user_folders(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.delenv("TUI_TRAINER_CONFIG", raising=False)
    monkeypatch.delenv("TUI_TRAINER_IMAGES", raising=False)  # images in half blocks unless a test forces graphics
    monkeypatch.setenv("TUI_TRAINER_CACHE", str(home / "cache" / "tui-trainer"))


@pytest.fixture
def preset_file(tmp_path: Path) -> Path:
    """A copy of the smoke preset that a test may edit and save."""
    path = tmp_path / "smoke.toml"
    shutil.copyfile(SMOKE, path)
    return path


COLOURS = {"red": (200, 40, 40), "green": (40, 190, 60), "blue": (50, 60, 210), "yellow": (210, 200, 40)}
"""The classes of the noisy colour folder: a colour each, learnt in a few epochs by the smallest CNN."""


@pytest.fixture
def noisy_colours() -> Callable[..., list[str]]:
    """Makes a folder of four colour classes with pixel noise (16 px PNGs, `per_class` in train/ and val/
    each), `flipped` images of the `noisy` split saved under a wrong class's folder. Returns their paths
    relative to the folder (`val/<wrong>/<class>-<i>.png`): the label-noise tests' ground truth."""

    def make(root: Path, *, noisy: str = "val", per_class: int = 40, flipped: int = 8, seed: int = 0) -> list[str]:
        rng = np.random.default_rng(seed)
        names = list(COLOURS)
        chosen = set(rng.choice(per_class * len(names), flipped, replace=False).tolist())
        moved = []
        for c, name in enumerate(names):
            for split in ("train", "val"):
                for i in range(per_class):
                    pixels = np.clip(rng.normal(COLOURS[name], 45, (16, 16, 3)), 0, 255).astype(np.uint8)
                    folder = name
                    if split == noisy and c * per_class + i in chosen:
                        folder = names[(c + 1 + i % 3) % len(names)]
                        moved.append(f"{split}/{folder}/{name}-{i}.png")
                    path = root / split / folder / f"{name}-{i}.png"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(pixels).save(path)
        return moved

    return make


@pytest.fixture
def one_thread(monkeypatch: pytest.MonkeyPatch):
    """Runs in tests are tiny: one thread each trains them in a blink, while two threads fighting
    other processes for two cores can take 30 times longer (this process and its children)."""
    import torch

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

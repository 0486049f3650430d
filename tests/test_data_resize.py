"""`data.resize`: what of a photo that is not square becomes the square in the cache.

"crop" (the default) keeps proportions, as ImageNet's evaluation does; "squash" keeps everything in
view, as every run made before the choice existed did. Training, validation, --eval, --predict and
the export's sidecar must all agree on it, and an older run must keep meaning what it trained on.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers import tiny_preset
from tui_trainer.config.schema import DataConfig
from tui_trainer.data import load_data
from tui_trainer.data.decode import decode_file
from tui_trainer.data.views import decode_for_validation
from tui_trainer.runs.folder import RunFolder
from tui_trainer.runs.launch import run_training

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("TUI_TRAINER_CACHE", str(folder))
    return folder


def _three_bands(path: Path, side: int, wide: bool = True) -> Path:
    """A 3:1 image of three square bands, red | green | blue (stacked when not `wide`)."""
    bands = [np.full((side, side, 3), colour, dtype=np.uint8) for colour in (RED, GREEN, BLUE)]
    Image.fromarray(np.concatenate(bands, axis=1 if wide else 0)).save(path)
    return path


@pytest.mark.parametrize("wide", [True, False])
def test_crop_keeps_the_centre_square_and_squash_keeps_everything(tmp_path: Path, wide: bool) -> None:
    path = str(_three_bands(tmp_path / "bands.png", 20, wide))
    cropped = decode_file(path, 20, "crop")
    assert (cropped == GREEN).all()  # the middle band, untouched: no stretching
    squashed = decode_file(path, 20, "squash")
    along = squashed[10] if wide else squashed[:, 10]
    assert (along[1] == RED).all() and (along[10] == GREEN).all() and (along[-2] == BLUE).all()
    smaller = decode_file(path, 8, "crop")  # shorter side to 8, then the centre: green
    _mostly_green(smaller)


def _mostly_green(square: np.ndarray) -> None:
    """Green inside; at the edges the resize filter reaches into the neighbouring bands (as resizing
    the whole image and then cropping does), so there green only dominates."""
    assert (square[1:-1, 1:-1] == GREEN).all()
    assert (square[..., 1] > square[..., 0]).all() and (square[..., 1] > square[..., 2]).all()


def _folder(root: Path) -> Path:
    for split, count in (("train", 4), ("val", 2)):
        for cls in ("a", "b"):
            (root / split / cls).mkdir(parents=True)
            for i in range(count):
                _three_bands(root / split / cls / f"{i}.png", 16 + i)
    return root


def test_each_resize_has_its_own_cache_entry_and_validation_matches_prediction(tmp_path: Path) -> None:
    root = _folder(tmp_path / "ds")
    crop, squash = (
        DataConfig(dataset="imagefolder", root=str(root), image_size=16, resize=r) for r in ("crop", "squash")
    )
    cropped, squashed = load_data(crop), load_data(squash)
    for image in cropped.train.images:
        _mostly_green(image.permute(1, 2, 0).numpy())
    assert (squashed.train.images[:, 0] == 255).any()  # the red band is kept
    assert torch.equal(load_data(crop).train.images, cropped.train.images)  # the entries did not replace each other
    val_files = sorted((root / "val").rglob("*.png"))
    assert torch.equal(decode_for_validation(val_files, crop), cropped.val.images)  # what --predict sees


def test_a_run_records_its_resize_and_an_older_run_reads_as_squash(tmp_path: Path) -> None:
    root = _folder(tmp_path / "ds")
    outcome = run_training(
        tiny_preset("train.epochs=1", "scheduler.t_max=1", "data.dataset=imagefolder", f"data.root={root}"),
        runs_dir=tmp_path / "runs",
    )
    assert outcome.exit_code == 0
    folder = RunFolder(outcome.run_dir)
    assert 'resize = "crop"' in folder.preset_file.read_text() and folder.read_preset().data.resize == "crop"
    older = "\n".join(line for line in folder.preset_file.read_text().splitlines() if not line.startswith("resize"))
    folder.preset_file.write_text(older + "\n")  # as a run made before data.resize existed wrote it
    assert folder.read_preset().data.resize == "squash"


def test_the_export_sidecar_says_to_take_the_centre_square(tmp_path: Path) -> None:
    pytest.importorskip("safetensors")
    from tui_trainer.cli import main

    root = _folder(tmp_path / "ds")
    extra = ("train.epochs=1", "scheduler.t_max=1", "data.dataset=imagefolder", f"data.root={root}")
    outcome = run_training(tiny_preset(*extra), runs_dir=tmp_path / "runs")
    out = tmp_path / "model.safetensors"
    assert main(["--export", str(outcome.run_dir), "--format", "safetensors", "--out", str(out)]) == 0
    sidecar = json.loads(out.with_name(out.name + ".json").read_text())["input"]
    assert sidecar["resize_mode"] == "crop" and "centre square" in sidecar["resize"]

"""Validation thumbnails: the same pixels however the set is chunked, streamed to their file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tui_trainer.config.schema import DataConfig
from tui_trainer.data import load_data
from tui_trainer.data.imageset import ImageSet
from tui_trainer.data.thumbnails import (
    MIN_THUMBNAIL_SIDE,
    THUMBNAIL_BYTES,
    THUMBNAIL_SIDE,
    Thumbnails,
    thumbnail_side,
)
from tui_trainer.runs.thumbnails import open_thumbnails, write_thumbnails

from .test_data_stream import make_folder


def _expected(images: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """The whole set shrunk at once: what the confusion screen has always been shown."""
    small = F.interpolate(images.float(), size=size, mode="area").round().clamp(0, 255).to(torch.uint8)
    return small.permute(0, 2, 3, 1).numpy()


def test_thumbnails_of_a_mapped_set_are_the_same_in_chunks_of_any_size(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TUI_TRAINER_CACHE", str(tmp_path / "cache"))
    root = make_folder(tmp_path / "ds", per_class=2, val_per_class=5, side=100)
    val = load_data(DataConfig(dataset="imagefolder", root=str(root), image_size=80)).val
    assert val.disk is not None and tuple(val.images.shape) == (15, 3, 92, 92)  # stored at 1.15 × 80
    expected = _expected(val.images.clone(), (64, 64))

    row = 3 * 92 * 92
    for chunk_bytes in (1, 2 * row, 4 * row + 1, 1 << 30):  # one row a chunk, ragged last chunk, all at once
        thumbnails = Thumbnails(val, side=64, chunk_bytes=chunk_bytes)
        assert thumbnails.shape == (15, 64, 64, 3)
        chunks = list(thumbnails)
        assert max(len(c) for c in chunks) == max(1, min(15, chunk_bytes // row))
        assert np.array_equal(np.concatenate(chunks), expected)

        path = tmp_path / f"val_images_{chunk_bytes}.npy"
        write_thumbnails(path, thumbnails.shape, Thumbnails(val, side=64, chunk_bytes=chunk_bytes))
        assert np.array_equal(open_thumbnails(path), expected)


def test_small_images_are_kept_as_they_are() -> None:
    images = torch.randint(0, 256, (5, 3, 32, 24), dtype=torch.uint8)
    thumbnails = Thumbnails(ImageSet(images, torch.zeros(5, dtype=torch.int64), ("a",)), chunk_bytes=1)
    assert thumbnails.shape == (5, 32, 24, 3)
    assert np.array_equal(np.concatenate(list(thumbnails)), images.permute(0, 2, 3, 1).numpy())


def test_a_wide_image_keeps_its_aspect_at_the_128_px_a_terminal_picture_needs() -> None:
    images = torch.randint(0, 256, (2, 1, 50, 400), dtype=torch.uint8)
    thumbnails = Thumbnails(ImageSet(images, torch.zeros(2, dtype=torch.int64), ("a",)))
    assert thumbnails.shape == (2, 16, 128, 1)
    assert np.array_equal(np.concatenate(list(thumbnails)), _expected(images, (16, 128)))


def test_a_large_set_gets_smaller_thumbnails_within_the_byte_budget() -> None:
    assert thumbnail_side(10_000, 3) == THUMBNAIL_SIDE  # 10 000 RGB images of 224 px keep the full side
    for count, channels in ((20_000, 3), (60_000, 1), (40_000, 3)):
        side = thumbnail_side(count, channels)
        assert MIN_THUMBNAIL_SIDE < side < THUMBNAIL_SIDE
        assert (
            count * channels * side**2 <= THUMBNAIL_BYTES < count * channels * (side + 1) ** 2
        )  # the largest that fits
    assert thumbnail_side(50_000, 3) == MIN_THUMBNAIL_SIDE  # ImageNet's validation set: what half blocks need


def test_a_short_write_leaves_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "val_images.npy"
    good = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    write_thumbnails(path, good.shape, [good[:1], good[1:]])
    assert np.array_equal(open_thumbnails(path), good)
    with pytest.raises(ValueError, match="1 thumbnails written, the header says 3"):
        write_thumbnails(path, (3, 4, 4, 3), [good[:1]])
    with pytest.raises(ValueError, match="does not fit"):
        write_thumbnails(path, (2, 4, 4, 3), [good.astype(np.float32)])
    assert np.array_equal(open_thumbnails(path), good)
    assert [p.name for p in tmp_path.iterdir()] == ["val_images.npy"]  # no temporary left behind

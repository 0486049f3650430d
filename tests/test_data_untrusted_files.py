"""Image folders and the data cache when files are not what they claim: a FIFO among the images,
a save-only extension (`notes.pdf`) in a class folder, an empty `.npy` cache entry, a cache
file removed while a run streams from it."""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers import SMOKE, TINY
from tui_trainer.config import load_preset
from tui_trainer.data import load_data, store
from tui_trainer.data.bad_images import check_image
from tui_trainer.data.decode import decode_file
from tui_trainer.data.eval_images import collect_files
from tui_trainer.data.imageset import DiskRows, ImageSet
from tui_trainer.data.stream import stream_rows
from tui_trainer.runs.launch import describe_failure

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")


def _png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), colour).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("TUI_TRAINER_CACHE", str(folder))
    return folder


def _folder(root: Path) -> Path:
    for c, cls in enumerate(("cat", "dog")):
        for split, count in (("train", 6), ("val", 2)):
            (root / split / cls).mkdir(parents=True)
            for i in range(count):
                (root / split / cls / f"{i}.png").write_bytes(_png((c * 200, i * 30, 50)))
    return root


def _cfg(root: Path, *extra: str):
    return load_preset(SMOKE, (*TINY, 'data.dataset="imagefolder"', f'data.root="{root}"', *extra)).data


# ---------------------------------------------------------------------------------------- item 6


@needs_fifo
def test_a_fifo_among_images_to_predict_is_skipped_with_a_message(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.png").write_bytes(_png((1, 2, 3)))
    os.mkfifo(folder / "b.png")
    os.mkfifo(tmp_path / "given.png")
    files, problems = collect_files([folder, tmp_path / "given.png"])
    assert files == [folder / "a.png"]
    assert problems == [
        f"{folder / 'b.png'}: not a regular file (skipped)",
        f"{tmp_path / 'given.png'}: not a regular file (skipped)",
    ]


def test_predict_names_a_pdf_among_the_photos_as_not_an_image_rather_than_decoding_it(tmp_path: Path) -> None:
    """Pillow only writes PDFs: a `notes.pdf` beside the photos is a file that is not an image (reported,
    skipped), not an image that failed to decode."""
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.png").write_bytes(_png((1, 2, 3)))
    (folder / "sub" / "b.png").write_bytes(_png((4, 5, 6)))
    (folder / "notes.pdf").write_bytes(b"%PDF-1.4\n")
    files, problems = collect_files([folder])
    assert files == [folder / "a.png", folder / "sub" / "b.png"]
    assert problems == [f"{folder / 'notes.pdf'}: not an image file (skipped)"]


@needs_fifo
def test_decoding_or_checking_a_fifo_fails_at_once_instead_of_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "swapped.png"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="a FIFO, not a regular file"):
        decode_file(str(fifo), 16)
    assert check_image(str(fifo)) == "is a FIFO, not a regular file"


# ---------------------------------------------------------------------------------------- item 12a


def test_a_pdf_in_a_class_folder_is_not_an_image(tmp_path: Path, cache: Path) -> None:
    root = _folder(tmp_path / "ds")
    (root / "train" / "cat" / "notes.pdf").write_bytes(b"%PDF-1.4 not an image\n")
    (root / "train" / "dog" / "icon.palm").write_bytes(b"palm")
    splits = load_data(_cfg(root))  # bad_images = "error": a save-only extension would stop the run
    assert len(splits.train) + len(splits.val) == 16


# ---------------------------------------------------------------------------------------- item 9


def test_an_empty_cache_file_with_its_record_intact_is_rebuilt(tmp_path: Path, cache: Path) -> None:
    root = _folder(tmp_path / "ds")
    good = load_data(_cfg(root)).train.images.clone()
    [record] = [p for p in cache.glob("*.json") if json.loads(p.read_text())["shape"][0] == len(good)]
    images = record.with_suffix(".npy")
    images.write_bytes(b"")  # a full disk or a copy cut short: the record still names the file
    with pytest.warns(UserWarning, match="rebuilding damaged data cache"):
        assert torch.equal(load_data(_cfg(root)).train.images, good)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(load_data(_cfg(root)).train.images, good)  # rebuilt once, then used


def test_a_stream_cache_file_removed_mid_run_says_so_and_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "entry.npy"
    mapped = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(4, 3, 2, 2))
    data = ImageSet(
        torch.from_numpy(mapped), torch.zeros(4, dtype=torch.int64), ("a", "b"), DiskRows(path, mapped.offset)
    )
    path.unlink()  # a cache clean-up, while the run is between two epochs
    with pytest.raises(store.CacheFileGone, match=f"data cache file {path} was removed while the run read it") as info:
        list(stream_rows(data, [np.arange(2)], torch.device("cpu")))
    error, hint = describe_failure(info.value, load_preset(SMOKE), 2)
    assert str(path) in error and "start the run again" in hint and "data.dataset" not in hint

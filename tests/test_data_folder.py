"""Image folders, CIFAR-10 files, the tensor cache and the layout checks, on tiny data made here."""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tui_trainer.config.schema import DataConfig
from tui_trainer.data import DataError, check_data_layout, load_data
from tui_trainer.data import cache as cache_module
from tui_trainer.data import decode as decode_module
from tui_trainer.data.paths import cache_dir, default_data_root

CLASSES = ("cat", "dog", "emu")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("TUI_TRAINER_CACHE", str(folder))
    return folder


def _colour(cls: int, i: int) -> tuple[int, int, int]:
    return (40 + 80 * cls, 10 * i, 200 - 30 * cls)


def _write(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (16, 16), mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, colour)
    if mode != "RGB":
        image = image.convert(mode)
    image.save(path)


def make_folder(root: Path, per_class: int = 6, val_per_class: int = 2) -> Path:
    """train/<class>/ (PNG, JPEG, greyscale, RGBA, another size) and optionally val/<class>/."""
    for c, cls in enumerate(CLASSES):
        for i in range(per_class):
            ext = ".png" if i % 2 == 0 else ".jpg"
            mode = "L" if i == 1 else "RGBA" if i == 2 else "RGB"
            size = (24, 12) if i == 3 else (16, 16)
            _write(root / "train" / cls / f"{i:03d}{ext}", _colour(c, i), size, mode)
        for i in range(val_per_class):
            _write(root / "val" / cls / f"v{i}.png", _colour(c, i))
    (root / "train" / "cat" / ".DS_Store").write_bytes(b"\0junk")
    (root / "train" / "cat" / "._000.png").write_bytes(b"\0junk")
    (root / "train" / "cat" / "notes.txt").write_text("not an image")
    (root / "train" / ".hidden_class").mkdir()
    return root


def folder_cfg(root: Path, **kw) -> DataConfig:
    return DataConfig(dataset="imagefolder", root=str(root), image_size=16, **kw)


def test_loads_train_and_val_as_uint8_tensors(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "ds")
    data = load_data(folder_cfg(root))
    assert data.classes == CLASSES == data.train.classes == data.val.classes
    assert data.train.images.shape == (18, 3, 16, 16) and data.train.images.dtype == torch.uint8
    assert data.val.images.shape == (6, 3, 16, 16)
    assert data.train.labels.dtype == torch.int64
    assert data.train.labels.tolist() == [0] * 6 + [1] * 6 + [2] * 6
    # Pixels are those written (PNG exactly), channels first; greyscale and RGBA became RGB.
    assert data.train.images[0, :, 5, 5].tolist() == list(_colour(0, 0))
    assert data.train.images[1].float().std(dim=0).max() < 1  # greyscale: R == G == B
    assert data.train.images[2, :, 0, 0].tolist() == list(_colour(0, 2))


def test_missing_val_folder_gives_a_stratified_fixed_split(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "ds", per_class=10, val_per_class=0)
    first = load_data(folder_cfg(root, val_fraction=0.2))
    assert torch.bincount(first.val.labels).tolist() == [2, 2, 2]
    assert torch.bincount(first.train.labels).tolist() == [8, 8, 8]
    both = torch.cat([first.train.images, first.val.images]).flatten(1)
    assert len({tuple(row.tolist()) for row in both}) == 30  # disjoint and complete
    second = load_data(folder_cfg(root, val_fraction=0.2), seed=7)
    assert torch.equal(first.val.images, second.val.images)


def test_limits_take_a_deterministic_stratified_subset(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "ds")
    data = load_data(folder_cfg(root, train_limit=6, val_limit=3))
    assert torch.bincount(data.train.labels).tolist() == [2, 2, 2]
    assert torch.bincount(data.val.labels).tolist() == [1, 1, 1]
    again = load_data(folder_cfg(root, train_limit=6, val_limit=3))
    assert torch.equal(data.train.images, again.train.images)


def test_corrupt_image_is_named(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "ds")
    (root / "train" / "dog" / "broken.jpg").write_bytes(b"\xff\xd8 definitely not a jpeg")
    with pytest.raises(DataError, match=r"broken\.jpg"):
        load_data(folder_cfg(root))


def test_worker_pool_matches_inline_decoding_and_names_bad_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_folder(tmp_path / "ds")
    paths = sorted((root / "train").glob("*/[0-9]*.*"))
    inline = decode_module.decode_images(paths, 16, workers=1)
    monkeypatch.setattr(decode_module, "INLINE_BELOW", 0)
    pooled = decode_module.decode_images(paths, 16, workers=2)
    assert torch.equal(inline, pooled)
    bad = root / "train" / "emu" / "zz-bad.png"
    bad.write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"zz-bad\.png"):
        decode_module.decode_images([*paths, bad], 16, workers=2)


def test_progress_reports_decoding(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "ds")
    calls: list[tuple[str, int, int]] = []
    load_data(folder_cfg(root), progress=lambda stage, done, total: calls.append((stage, done, total)))
    assert ("decode train", 18, 18) in calls and ("decode val", 6, 6) in calls


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda root: None, "does not exist"),
        (lambda root: (root / "other").mkdir(parents=True), "no train/ folder"),
        (lambda root: (make_folder(root), (root / "train" / "fox").mkdir()), r"class folder .*fox has no images"),
        (
            lambda root: (make_folder(root), _write(root / "val" / "fox" / "a.png", (1, 2, 3))),
            "missing from train/: fox",
        ),
    ],
    ids=["missing-root", "no-train", "empty-class", "class-mismatch"],
)
def test_layout_problems_raise_one_clear_error_and_are_checked(tmp_path: Path, setup, message: str) -> None:
    root = tmp_path / "ds"
    setup(root)
    with pytest.raises(DataError, match=message):
        load_data(folder_cfg(root))
    problems = check_data_layout(folder_cfg(root))
    assert len(problems) == 1
    assert re.search(message, problems[0])


def test_check_data_layout_passes_good_data(tmp_path: Path) -> None:
    assert check_data_layout(folder_cfg(make_folder(tmp_path / "ds"))) == []
    assert check_data_layout(DataConfig(dataset="synthetic")) == []
    assert check_data_layout(DataConfig(dataset="imagefolder", root="")) != []


def test_cache_is_reused_and_invalidated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _private_cache: Path) -> None:
    root = make_folder(tmp_path / "ds")
    first = load_data(folder_cfg(root))
    assert len(list(_private_cache.glob("*.npy"))) == 2  # train and val

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded although the cache is valid")

    real_decode = cache_module.decode_images
    monkeypatch.setattr(cache_module, "decode_images", no_decoding)
    second = load_data(folder_cfg(root))
    assert torch.equal(first.train.images, second.train.images) and second.classes == CLASSES

    changed = root / "train" / "dog" / "000.png"
    _write(changed, (1, 2, 3))
    os.utime(changed, ns=(1, 1))  # a different mtime even on coarse clocks
    with pytest.raises(AssertionError, match="decoded although"):
        load_data(folder_cfg(root))

    monkeypatch.setattr(cache_module, "decode_images", real_decode)
    third = load_data(folder_cfg(root))
    assert third.train.images[6, :, 0, 0].tolist() == [1, 2, 3]
    assert len(list(_private_cache.glob("*.npy"))) == 2  # rebuilt in place, no stale copy

    _write(root / "train" / "dog" / "new.png", (9, 9, 9))  # one more file
    assert len(load_data(folder_cfg(root)).train) == 19


def test_cache_can_be_disabled_and_survives_garbage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _private_cache: Path
) -> None:
    root = make_folder(tmp_path / "ds")
    load_data(folder_cfg(root, cache=False))
    assert not _private_cache.exists() or not list(_private_cache.iterdir())
    load_data(folder_cfg(root))
    for entry in _private_cache.glob("*.json"):
        entry.write_bytes(b"truncated")
    with pytest.warns(UserWarning, match="unreadable data cache"):
        data = load_data(folder_cfg(root))
    assert len(data.train) == 18


def test_default_folders_follow_xdg_and_the_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_data_root() == tmp_path / "xdg" / "tui-trainer" / "data"
    assert cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("TUI_TRAINER_CACHE")
    assert cache_dir() == tmp_path / "xdg" / "tui-trainer" / "cache"


def test_missing_cifar10_explains_where_the_archive_goes(tmp_path: Path) -> None:
    cfg = DataConfig(dataset="cifar10", root=str(tmp_path / "c10"), download=False)
    with pytest.raises(DataError) as info:
        load_data(cfg)
    message = str(info.value)
    assert str(tmp_path / "c10" / "cifar-10-python.tar.gz") in message and 'dataset = "imagefolder"' in message
    assert check_data_layout(cfg) == [message]
    assert check_data_layout(cfg.model_copy(update={"download": True})) == []


def test_cifar10_arrays_become_channels_first_tensors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets

    folder = tmp_path / "c10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"]:
        (folder / name).write_bytes(pickle.dumps(name))
    rng = np.random.default_rng(0)
    built: list[bool] = []

    class FakeCIFAR10:
        classes = ("airplane", "automobile")

        def __init__(self, root: str, train: bool, download: bool) -> None:
            built.append(train)
            n = 8 if train else 4
            self.data = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
            self.targets = [i % 2 for i in range(n)]

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    cfg = DataConfig(dataset="cifar10", root=str(tmp_path / "c10"))
    data = load_data(cfg)
    assert data.train.images.shape == (8, 3, 32, 32) and data.val.images.shape == (4, 3, 32, 32)
    assert data.classes == ("airplane", "automobile")
    assert check_data_layout(cfg) == []
    cached = load_data(cfg)
    assert built == [True, False]  # second start read the cache
    assert torch.equal(cached.train.images, data.train.images)
    small = load_data(cfg.model_copy(update={"image_size": 16}))
    assert small.train.images.shape == (8, 3, 16, 16) and small.train.images.dtype == torch.uint8


def test_class_folders_are_read_recursively_and_hidden_entries_skipped(tmp_path: Path) -> None:
    from tui_trainer.data.eval_images import class_files

    root = make_folder(tmp_path / "ds")
    _write(root / "train" / "emu" / "wild" / "deep" / "w0.png", (1, 2, 3))  # only torchvision read these before
    _write(root / "train" / "emu" / ".thumbnails" / "t0.png", (9, 9, 9))  # a hidden folder at any depth
    _write(root / "train" / "emu" / "wild" / ".w1.png", (9, 9, 9))  # a hidden file in a sub-folder
    _write(root / "train" / "fox" / "sub" / "f0.png", (7, 7, 7))  # a class with images in sub-folders only
    _write(root / "val" / "fox" / "f1.png", (7, 7, 7))
    assert check_data_layout(folder_cfg(root)) == []
    data = load_data(folder_cfg(root))
    assert data.classes == (*CLASSES, "fox")
    assert torch.bincount(data.train.labels).tolist() == [6, 6, 7, 1]
    emu = data.train.images[data.train.labels == 2]
    assert [1, 2, 3] in [image[:, 0, 0].tolist() for image in emu] and [9, 9, 9] not in emu[:, :, 0, 0].tolist()
    assert "wild/deep/w0.png" in class_files(root / "train")["emu"]  # --eval reads a labelled folder alike

    _write(root / "train" / "emu" / "wild" / "w2.png", (4, 5, 6))  # one more file, deep down: a new cache entry
    again = load_data(folder_cfg(root))
    assert torch.bincount(again.train.labels).tolist() == [6, 6, 8, 1]

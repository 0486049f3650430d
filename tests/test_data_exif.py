"""Phone photos the right way up: the EXIF orientation tag is applied wherever an image is decoded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tui_trainer.config.schema import DataConfig
from tui_trainer.data import cache as cache_module
from tui_trainer.data import load_data
from tui_trainer.data import store as store_module
from tui_trainer.data.decode import decode_file
from tui_trainer.data.eval_images import decode_like_validation

TURNS = {  # orientation tag -> what a viewer does to the stored pixels [h, w, 3] to show them upright
    2: np.fliplr,
    3: lambda a: np.rot90(a, 2),
    4: np.flipud,
    5: lambda a: np.rot90(np.fliplr(a), 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(np.fliplr(a), -1),
    8: lambda a: np.rot90(a, 1),
}


def _pattern(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Blocks of 4 x 4 pixels in random colours: every turn and flip shows, and JPEG keeps them."""
    blocks = np.random.default_rng(seed).integers(0, 256, (h // 4, w // 4, 3), dtype=np.uint8)
    return np.kron(blocks, np.ones((4, 4, 1), dtype=np.uint8))


def _save(path: Path, pixels: np.ndarray, orientation: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(np.ascontiguousarray(pixels))
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    image.save(path, exif=exif, **({"quality": 95, "subsampling": 0} if path.suffix == ".jpg" else {}))
    return path


@pytest.mark.parametrize("orientation", sorted(TURNS))
@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_a_photo_with_an_exif_orientation_is_decoded_upright(tmp_path: Path, orientation: int, ext: str) -> None:
    stored = _pattern(16, 16)
    tagged = _save(tmp_path / f"tagged{ext}", stored, orientation)
    plain = _save(tmp_path / f"plain{ext}", TURNS[orientation](stored))  # what a viewer shows, without a tag
    got, expected = decode_file(str(tagged), 16), decode_file(str(plain), 16)
    if ext == ".png":
        assert np.array_equal(got, expected)
    else:  # JPEG is lossy: nearer the upright pixels than the stored ones by far
        right, wrong = (np.abs(got.astype(int) - other.astype(int)).mean() for other in (expected, stored))
        assert right * 4 < wrong


def test_a_portrait_photo_is_cropped_and_cached_upright(tmp_path: Path) -> None:
    """A 24 x 12 landscape file tagged 'turn 90 degrees': training, --eval and --predict see the
    portrait photo, whose centre square is another part of the pixels than the file's."""
    upright = _pattern(24, 12, seed=1)  # portrait: 24 rows, 12 columns
    root = tmp_path / "ds"
    _save(root / "train" / "a" / "turned.png", np.rot90(upright, 1), orientation=6)
    _save(root / "train" / "b" / "plain.png", upright)
    _save(root / "val" / "a" / "v.png", upright)
    _save(root / "val" / "b" / "v.png", upright)
    cfg = DataConfig(dataset="imagefolder", root=str(root), image_size=12, resize="crop")
    data = load_data(cfg)
    assert torch.equal(data.train.images[0], data.train.images[1])  # the cache holds it upright
    [turned, plain] = decode_like_validation(
        [root / "train" / "a" / "turned.png", root / "train" / "b" / "plain.png"], cfg
    )
    assert torch.equal(turned, plain)  # as --eval and --predict read it


def test_a_cache_of_the_previous_format_is_rebuilt_and_its_files_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Caches decoded before orientation was applied hold sideways photos: they must not be used."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("TUI_TRAINER_CACHE", str(cache))
    root = tmp_path / "ds"
    for cls in ("a", "b"):
        for i in range(3):
            _save(root / "train" / cls / f"{i}.png", _pattern(8, 8, seed=i + 10 * len(cls)))
    cfg = DataConfig(dataset="imagefolder", root=str(root), image_size=8, val_fraction=0.34)
    current = store_module.FORMAT_VERSION
    monkeypatch.setattr(store_module, "FORMAT_VERSION", current - 1)
    monkeypatch.setattr(cache_module, "FORMAT_VERSION", current - 1)
    load_data(cfg)
    old_files = sorted(cache.iterdir())
    assert sum(p.suffix != ".lock" for p in old_files) == 4  # train and val: images and record each
    monkeypatch.setattr(store_module, "FORMAT_VERSION", current)
    monkeypatch.setattr(cache_module, "FORMAT_VERSION", current)
    decoded: list[int] = []
    real = cache_module.decode_images
    monkeypatch.setattr(
        cache_module, "decode_images", lambda paths, *a, **k: decoded.append(len(paths)) or real(paths, *a, **k)
    )
    load_data(cfg)
    assert sum(decoded) == 6  # every image decoded again
    assert not set(old_files) & set(cache.iterdir())  # the old entries' files are gone, their locks too
    assert sum(p.suffix != ".lock" for p in cache.iterdir()) == 4
